package boot

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
)

// crashCases seed both TestParseCrashLine and FuzzParseCrashLine.
var crashCases = []struct {
	name, in string
	want     string
	panic    bool
}{
	{"specific panic beats the oops before it",
		"Panic#1 Part1\n<0>[    2.104551] Oops: 0000 [#1] SMP\n<0>[    2.104812] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n",
		"Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", true},
	{"fatal exception: the BUG line says why",
		"Panic#1 Part1\n<1>[  412.883012] BUG: unable to handle page fault for address: ffffa0c2e4d3b000\n<1>[  412.883020] #PF: supervisor write access in kernel mode\n<4>[  412.883040] Oops: 0002 [#1] PREEMPT SMP NOPTI\n<0>[  412.884100] Kernel panic - not syncing: Fatal exception\n<0>[  412.884300] ---[ end Kernel panic - not syncing: Fatal exception ]---\n",
		"BUG: unable to handle page fault for address: ffffa0c2e4d3b000", true},
	{"arm64 oops: unable to handle beats internal error",
		"<1>[ 8131.774903] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000010\n<0>[ 8131.831355] Internal error: Oops: 96000005 [#1] SMP\n<0>[ 8132.017542] Kernel panic - not syncing: Oops: Fatal exception\n",
		"Unable to handle kernel NULL pointer dereference at virtual address 0000000000000010", true},
	{"soft lockup",
		"<0>[150320.997310] watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [switchd:4411]\n<0>[150321.000000] Kernel panic - not syncing: softlockup: hung tasks\n",
		"watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [switchd:4411]", true},
	{"hard lockup",
		"<0>[ 9021.1] NMI watchdog: Watchdog detected hard LOCKUP on cpu 3\n<0>[ 9021.2] Kernel panic - not syncing: Hard LOCKUP\n",
		"NMI watchdog: Watchdog detected hard LOCKUP on cpu 3", true},
	{"general protection fault",
		"<4>[   77.000001] general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] SMP PTI\n<0>[   77.1] Kernel panic - not syncing: Fatal exception in interrupt\n",
		"general protection fault, probably for non-canonical address 0xdead000000000122: 0000 [#1] SMP PTI", true},
	{"hung task",
		"<3>[ 1230.1] INFO: task kworker/u8:2:731 blocked for more than 122 seconds.\n<0>[ 1230.2] Kernel panic - not syncing: hung_task: blocked tasks\n",
		"INFO: task kworker/u8:2:731 blocked for more than 122 seconds.", true},
	{"the first of two faults",
		"<4>[ 1.0] kernel BUG at mm/slub.c:4205!\n<4>[ 1.1] BUG: scheduling while atomic: swapper/0/0/0x00000002\n",
		"kernel BUG at mm/slub.c:4205!", false},
	{"only a generic panic line",
		"<0>[ 5.5] Kernel panic - not syncing: Fatal exception\n", "Kernel panic - not syncing: Fatal exception", true},
	{"attempted to kill init",
		"[    3.300000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b\n",
		"Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b", true},
	{"printk caller id", "<0>[   10.000000][    T1] Kernel panic - not syncing: sysrq triggered crash\n",
		"Kernel panic - not syncing: sysrq triggered crash", true},
	{"oops without a panic", "Oops#1 Part1\n<4>[ 9.9] Oops: 0000 [#1] SMP\n<4>[ 9.9] RIP: 0010:foo+0x1/0x2\n",
		"Oops: 0000 [#1] SMP", false},
	{"panic header, panic line in another part", "Panic#2 Part2\n<6>[ 1.0] eth0: link up\n", "", true},
	{"an end marker is no panic line", "<4>[ 1.0] ---[ end Kernel panic - not syncing: Fatal exception ]---\n", "", false},
	{"a user message naming a panic is not one", "<6>[ 1.0] myapp: Kernel panic - not syncing: ha\n", "", false},
	{"CRLF console log", "[ 4.2] Kernel panic - not syncing: No working init found.\r\n",
		"Kernel panic - not syncing: No working init found.", true},
	{"no crash at all", "<6>[ 0.000000] Booting Linux on physical CPU 0x0\n", "", false},
	{"empty", "", "", false},
	{"binary", "\x00\xff\xfe<0>[\x001]Kernel panic", "", false},
	{"long line is clipped", "Kernel panic - not syncing: " + strings.Repeat("é", 200) + "\n",
		"Kernel panic - not syncing: " + strings.Repeat("é", (maxCrashLine-28)/2) + "...", true},
}

func TestParseCrashLine(t *testing.T) {
	t.Parallel()
	for _, tc := range crashCases {
		got := parseCrashLine([]byte(tc.in))
		if got.line != tc.want || got.panic != tc.panic {
			t.Errorf("%s: parseCrashLine = %q, panic %v; want %q, panic %v", tc.name, got.line, got.panic, tc.want, tc.panic)
		}
		if (got.rank == rankNone) != (got.line == "") {
			t.Errorf("%s: rank %d with line %q", tc.name, got.rank, got.line)
		}
	}
}

func FuzzParseCrashLine(f *testing.F) {
	for _, tc := range crashCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := parseCrashLine(data)
		if len(got.line) > maxCrashLine+len("...") {
			t.Fatalf("line of %d bytes, more than %d", len(got.line), maxCrashLine)
		}
		if strings.ContainsAny(got.line, "\n") {
			t.Fatalf("line %q spans lines", got.line)
		}
		if got.line != "" && !bytes.Contains(data, []byte(strings.TrimSuffix(got.line, "..."))) {
			t.Fatalf("line %q is not in the input", got.line)
		}
		// The line found is the most telling of the input: alone, it is found again.
		if got.line != "" && !strings.HasSuffix(got.line, "...") {
			if again := parseCrashLine([]byte(got.line)); again.line != got.line || again.rank != got.rank {
				t.Fatalf("parseCrashLine(%q) = %q rank %d, want itself rank %d", got.line, again.line, again.rank, got.rank)
			}
		}
	})
}

var escapeCases = []struct{ name, in, want string }{
	{"kernel text", "<0>[ 1.0] Kernel panic\n\tCall Trace:\n", "<0>[ 1.0] Kernel panic\n\tCall Trace:\n"},
	{"UTF-8 stays", "ключ é ✓", "ключ é ✓"},
	{"invalid bytes", "a\xffb\xc3", `a\xffb\xc3`},
	{"controls", "\x00\x1b[31m\r\x7f", `\x00\x1b[31m\x0d\x7f`},
	{"C1 control", "a\u0085b", `a\u0085b`},
	{"backslash doubled", `C:\x41`, `C:\\x41`},
	{"empty", "", ""},
}

func TestEscapeText(t *testing.T) {
	t.Parallel()
	for _, tc := range escapeCases {
		if got := escapeText([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: escapeText(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func FuzzEscapeText(f *testing.F) {
	for _, tc := range escapeCases {
		f.Add([]byte(tc.in))
	}
	for _, tc := range crashCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := escapeText(data)
		if !utf8.ValidString(got) {
			t.Fatalf("escapeText(%q) = %q: not UTF-8", data, got)
		}
		for _, r := range got {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f {
				t.Fatalf("escapeText(%q) = %q holds control %U", data, got, r)
			}
		}
		if back := unescapeText(t, got); !bytes.Equal(back, data) {
			t.Fatalf("escapeText(%q) = %q, which unescapes to %q", data, got, back)
		}
	})
}

// unescapeText inverts escapeText, to show that nothing is lost or ambiguous.
func unescapeText(t *testing.T, s string) []byte {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], `\\`):
			out = append(out, '\\')
			i++
		case strings.HasPrefix(s[i:], `\x`) && i+4 <= len(s):
			out = append(out, unhex(t, s[i+2:i+4]))
			i += 3
		case strings.HasPrefix(s[i:], `\u00`) && i+6 <= len(s):
			out = utf8.AppendRune(out, rune(unhex(t, s[i+4:i+6])))
			i += 5
		default:
			t.Fatalf("stray backslash at %d of %q", i, s)
		}
	}
	return out
}

func unhex(t *testing.T, h string) byte {
	var b byte
	for _, c := range []byte(h) {
		switch {
		case '0' <= c && c <= '9':
			b = b<<4 | (c - '0')
		case 'a' <= c && c <= 'f':
			b = b<<4 | (c - 'a' + 10)
		default:
			t.Fatalf("bad hex %q", h)
		}
	}
	return b
}

// TestCrashRecordsFromFixture: the device that panicked says why, in its
// boot record, and the user-space pmsg record is not taken for kernel text.
func TestCrashRecordsFromFixture(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind, line string
		files      []string
	}{
		{"openwrt-mt6000", "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000010",
			[]string{"dmesg-ramoops-0", "console-ramoops-0"}},
		{"cumulus-switch", "watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [switchd:4411]",
			[]string{"dmesg-erst-7375012345678901249", "dmesg-erst-7375012345678901250"}},
	} {
		info, err := Read(Config{Root: fixture(tc.kind)})
		if err != nil {
			t.Fatal(err)
		}
		p := info.Pstore
		if p == nil || !p.Panic || p.CrashLine != tc.line {
			t.Fatalf("%s: pstore = %+v, want a panic with line %q", tc.kind, p, tc.line)
		}
		var files []string
		for _, r := range p.Records {
			files = append(files, r.File)
			b, err := os.ReadFile(under(fixture(tc.kind), pathPstore+"/"+r.File))
			if err != nil {
				t.Fatal(err)
			}
			if r.Text != string(b) || r.Bytes != int64(len(b)) || r.Truncated {
				t.Errorf("%s: record %s = %d bytes %q, truncated %v; want the whole file", tc.kind, r.File, r.Bytes, r.Text, r.Truncated)
			}
		}
		if strings.Join(files, ",") != strings.Join(tc.files, ",") {
			t.Errorf("%s: records %v, want %v", tc.kind, files, tc.files)
		}
	}
}

// TestCrashRecordsAreBounded: a huge record is read from its end only, at
// most maxCrashRecords records are opened, and a record that cannot be read
// is a reason, not a hang.
func TestCrashRecordsAreBounded(t *testing.T) {
	t.Parallel()
	root := copyTree(t, fixture("openwrt-mt6000"))
	pstore := under(root, pathPstore)
	// 1 GiB, sparse: reading it whole would take seconds and the memory.
	big, err := os.Create(filepath.Join(pstore, "dmesg-ramoops-1"))
	must(t, err)
	must(t, big.Truncate(1<<30))
	_, err = big.WriteAt([]byte("Panic#1 Part1\n"), 0)
	must(t, err)
	tail := "\n<4>[ 1.0] half a line\xff\n<0>[ 2.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\n"
	_, err = big.WriteAt([]byte(tail), 1<<30-int64(len(tail)))
	must(t, err)
	must(t, big.Close())
	must(t, syscall.Mkfifo(filepath.Join(pstore, "dmesg-ramoops-2"), 0o644))
	for _, n := range []string{"dmesg-ramoops-3", "dmesg-ramoops-4"} {
		must(t, os.WriteFile(filepath.Join(pstore, n), []byte("<0>[ 3.0] Kernel panic - not syncing: Fatal exception\n"), 0o644))
	}

	info, err := Read(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	p := info.Pstore
	var files []string
	for _, r := range p.Records {
		files = append(files, r.File)
	}
	// Four opened: -0, -1, the FIFO -2 and -3; -4 and console-ramoops-0 are left.
	if got, want := strings.Join(files, ","), "dmesg-ramoops-0,dmesg-ramoops-1,dmesg-ramoops-3"; got != want {
		t.Errorf("records %s, want %s", got, want)
	}
	if got, want := reasons(info)[pathPstore+"/dmesg-ramoops-2"], "not a regular file"; got != want {
		t.Errorf("FIFO reason %q, want %q", got, want)
	}
	r := p.Records[1]
	if !r.Truncated || r.Bytes != 1<<30 || len(r.Text) > maxCrashBytes {
		t.Errorf("big record: truncated %v, bytes %d, text of %d bytes; want truncated, 1 GiB, at most %d", r.Truncated, r.Bytes, len(r.Text), maxCrashBytes)
	}
	if want := "<4>[ 1.0] half a line\\xff\n<0>[ 2.0] Kernel panic"; !strings.HasPrefix(r.Text, want) {
		t.Errorf("big record text starts %q, want the first whole line, escaped: %q", r.Text[:min(len(r.Text), 60)], want)
	}
	// The specific panic of the big record beats the fixture's cause line.
	if want := "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009"; p.CrashLine != want || !p.Panic {
		t.Errorf("crash line %q panic %v, want %q", p.CrashLine, p.Panic, want)
	}
	if p.Count != 7 || len(p.Files) != 7 {
		t.Errorf("count %d, files %v; want all 7 listed", p.Count, p.Files)
	}
}

// TestCrashLineIsEscaped: a crash line with control characters and invalid
// UTF-8 reaches the record escaped, not raw and not replaced.
func TestCrashLineIsEscaped(t *testing.T) {
	t.Parallel()
	root := copyTree(t, fixture("openwrt-mt6000"))
	must(t, os.WriteFile(under(root, pathPstore+"/dmesg-ramoops-0"),
		[]byte("Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: bad \x1b[2J\xfe name\n"), 0o644))
	info, err := Read(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if want := `Kernel panic - not syncing: bad \x1b[2J\xfe name`; info.Pstore.CrashLine != want {
		t.Errorf("crash line %q, want %q", info.Pstore.CrashLine, want)
	}
	if want := "Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: bad \\x1b[2J\\xfe name\n"; info.Pstore.Records[0].Text != want {
		t.Errorf("text %q, want %q", info.Pstore.Records[0].Text, want)
	}
}

// TestBootRecordIsBounded: whatever the pstore records hold, the boot record
// stays far below a batch (1 MiB): 4 records of their last 8 KiB, each byte
// at most 6 bytes of JSON once escaped.
func TestBootRecordIsBounded(t *testing.T) {
	t.Parallel()
	root := copyTree(t, fixture("openwrt-mt6000"))
	for i, fill := range []byte{0x00, '<', 0xff, '\\', 0x1b} {
		name := under(root, pathPstore+"/dmesg-ramoops-"+strconv.Itoa(i))
		must(t, os.WriteFile(name, bytes.Repeat([]byte{fill}, 1<<20), 0o644))
	}
	info, err := Read(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	r, err := info.record(time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(info.Pstore.Records); n != maxCrashRecords {
		t.Errorf("%d records carried, want %d", n, maxCrashRecords)
	}
	if limit := maxCrashRecords*maxCrashBytes*6 + 16<<10; len(r.Body) > limit {
		t.Errorf("boot record body of %d bytes, want at most %d", len(r.Body), limit)
	}
}
