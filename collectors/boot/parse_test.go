package boot

import (
	"bytes"
	"math"
	"math/bits"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The tables below seed both the unit tests and the fuzz targets.

var bootIDCases = []struct {
	name, in, want string
	wantErr        bool
}{
	{"kernel", "3f9c2a71-5b8e-4d0a-9e62-c1d4b7a08f35\n", "3f9c2a71-5b8e-4d0a-9e62-c1d4b7a08f35", false},
	{"upper case", "3F9C2A71-5B8E-4D0A-9E62-C1D4B7A08F35", "3f9c2a71-5b8e-4d0a-9e62-c1d4b7a08f35", false},
	{"empty", "", "", true},
	{"blank", " \n", "", true},
	{"truncated", "3f9c2a71-5b8e-4d0a", "", true},
	{"no dashes", "3f9c2a715b8e4d0a9e62c1d4b7a08f35abcd", "", true},
	{"not hex", "3f9c2a71-5b8e-4d0a-9e62-c1d4b7a08fzz", "", true},
	{"binary", "\x00\xff\xfe\x01", "", true},
}

func TestParseBootID(t *testing.T) {
	t.Parallel()
	for _, tc := range bootIDCases {
		got, err := parseBootID([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseBootID(%q) = %q, %v; want %q, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseBootID(f *testing.F) {
	for _, tc := range bootIDCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := parseBootID(data)
		if err != nil {
			return
		}
		if len(id) != 36 || id != strings.ToLower(id) {
			t.Fatalf("parseBootID(%q) = %q: not a lower-case UUID", data, id)
		}
		if again, err := parseBootID([]byte(id)); err != nil || again != id {
			t.Fatalf("parseBootID(%q) = %q, %v; not idempotent", id, again, err)
		}
	})
}

var btimeCases = []struct {
	name, in string
	want     int64 // unix seconds
	wantErr  bool
}{
	{"proc stat", "cpu  4705 150 1120 16250 520 0 23 0 0 0\nintr 114 0 0\nctxt 123456\nbtime 1717056761\nprocesses 412\n", 1717056761, false},
	{"last line without newline", "ctxt 1\nbtime 1700000000", 1700000000, false},
	{"tab", "btime\t42\n", 42, false},
	{"zero", "btime 0\n", 0, false},
	{"no btime", "cpu  1 2 3\nctxt 5\n", 0, true},
	{"prefix only", "btimex 5\nbtime\n", 0, true},
	{"not a number", "btime soon\n", 0, true},
	{"negative", "btime -5\n", 0, true},
	{"overflow", "btime 99999999999999999999\n", 0, true},
	{"past year 9999", "btime 253402300800\n", 0, true},
	{"empty", "", 0, true},
	{"binary", "\x00btime\x00\xff", 0, true},
}

func TestParseProcStatBtime(t *testing.T) {
	t.Parallel()
	for _, tc := range btimeCases {
		got, err := parseProcStatBtime([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: parseProcStatBtime(%q) error = %v, want error %v", tc.name, tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && (got.Unix() != tc.want || got.Location() != time.UTC) {
			t.Errorf("%s: parseProcStatBtime(%q) = %v, want unix %d UTC", tc.name, tc.in, got, tc.want)
		}
	}
}

func FuzzParseProcStatBtime(f *testing.F) {
	for _, tc := range btimeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bt, err := parseProcStatBtime(data)
		if err != nil {
			return
		}
		if !bytes.Contains(data, []byte("btime")) || bt.Unix() < 0 {
			t.Fatalf("parseProcStatBtime(%q) = %v", data, bt)
		}
		s := bt.Format(time.RFC3339)
		if back, err := time.Parse(time.RFC3339, s); err != nil || !back.Equal(bt) {
			t.Fatalf("boot time %v does not round-trip RFC 3339 (%q): %v", bt, s, err)
		}
	})
}

var uptimeCases = []struct {
	name, in string
	want     float64
	wantErr  bool
}{
	{"proc uptime", "823.21 1317.50\n", 823.21, false},
	{"zero", "0.00 0.00\n", 0, false},
	{"integer", "12 30", 12, false},
	{"empty", "", 0, true},
	{"blank", " \n", 0, true},
	{"negative", "-1.00 2.00", 0, true},
	{"NaN", "NaN 1", 0, true},
	{"Inf", "Inf 1", 0, true},
	{"exponent", "1e5 2", 0, true},
	{"two dots", "1.2.3 4", 0, true},
	{"trailing dot", "5. 4", 0, true},
	{"binary", "\x00\x01", 0, true},
}

func TestParseUptime(t *testing.T) {
	t.Parallel()
	for _, tc := range uptimeCases {
		got, err := parseUptime([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseUptime(%q) = %v, %v; want %v, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseUptime(f *testing.F) {
	for _, tc := range uptimeCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseUptime(data)
		if err == nil && (v < 0 || math.IsInf(v, 0) || math.IsNaN(v)) {
			t.Fatalf("parseUptime(%q) = %v", data, v)
		}
	})
}

var procVersionCases = []struct {
	name, in, release, version string
	wantErr                    bool
}{
	{"debian",
		"Linux version 6.1.0-21-cloud-arm64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP Debian 6.1.90-1 (2024-05-03)\n",
		"6.1.0-21-cloud-arm64", "#1 SMP Debian 6.1.90-1 (2024-05-03)", false},
	{"openwrt",
		"Linux version 5.15.150 (builder@buildhost) (arm-openwrt-linux-muslgnueabi-gcc (OpenWrt GCC 12.3.0 r23809-234f1a2efa) 12.3.0, GNU ld (GNU Binutils) 2.40.0) #0 SMP Mon Mar 18 19:53:17 2024\n",
		"5.15.150", "#0 SMP Mon Mar 18 19:53:17 2024", false},
	{"no version part", "Linux version 4.4.0 (x@y)", "4.4.0", "", false},
	{"empty", "", "", "", true},
	{"not linux", "FreeBSD 14.0-RELEASE", "", "", true},
	{"binary", "\x00\xffLinux version", "", "", true},
}

func TestParseProcVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range procVersionCases {
		rel, ver, err := parseProcVersion([]byte(tc.in))
		if (err != nil) != tc.wantErr || rel != tc.release || ver != tc.version {
			t.Errorf("%s: parseProcVersion(%q) = %q, %q, %v; want %q, %q, error %v",
				tc.name, tc.in, rel, ver, err, tc.release, tc.version, tc.wantErr)
		}
	}
}

func FuzzParseProcVersion(f *testing.F) {
	for _, tc := range procVersionCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, ver, err := parseProcVersion(data)
		if err != nil {
			return
		}
		if strings.ContainsAny(rel, " \n") || strings.Contains(ver, "\n") {
			t.Fatalf("parseProcVersion(%q) = %q, %q", data, rel, ver)
		}
		if ver != "" && ver[0] != '#' {
			t.Fatalf("parseProcVersion(%q): version %q does not start with '#'", data, ver)
		}
	})
}

var oneLineCases = []struct{ name, in, want string }{
	{"osrelease", "6.1.0-18-amd64\n", "6.1.0-18-amd64"},
	{"dmi with spaces", "  Amazon EC2  \n", "Amazon EC2"},
	{"empty dmi string", "\n", ""},
	{"empty", "", ""},
	{"two lines", "first\nsecond\n", "first"},
	{"crlf", "QEMU\r\n", "QEMU"},
}

func TestParseOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range oneLineCases {
		if got := parseOneLine([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: parseOneLine(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
		_, err := parseNonEmptyLine([]byte(tc.in))
		if (err != nil) != (tc.want == "") {
			t.Errorf("%s: parseNonEmptyLine(%q) error = %v, want error %v", tc.name, tc.in, err, tc.want == "")
		}
	}
}

func FuzzParseOneLine(f *testing.F) {
	for _, tc := range oneLineCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := parseOneLine(data)
		if strings.Contains(s, "\n") || strings.TrimSpace(s) != s {
			t.Fatalf("parseOneLine(%q) = %q", data, s)
		}
	})
}

const debianOSRelease = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
`

var osReleaseCases = []struct {
	name, in string
	want     OSRelease
	wantErr  bool
}{
	{"debian", debianOSRelease, OSRelease{ID: "debian", Name: "Debian GNU/Linux", VersionID: "12",
		Version: "12 (bookworm)", PrettyName: "Debian GNU/Linux 12 (bookworm)"}, false},
	{"escapes in double quotes", `NAME="Foo \"Bar\" \\ \$HOME \x"` + "\nID=foo\n",
		OSRelease{ID: "foo", Name: `Foo "Bar" \ $HOME \x`}, false},
	{"single quotes concatenated", `PRETTY_NAME='It'\''s Linux'` + "\nID='it'\n",
		OSRelease{ID: "it", PrettyName: "It's Linux"}, false},
	{"unquoted escape and trailing blanks", "NAME=My\\ OS   \nBUILD_ID=2024-06-01\nVARIANT=Server Edition\n",
		OSRelease{Name: "My OS", BuildID: "2024-06-01", Variant: "Server"}, false},
	{"comments, blanks, export, CRLF", "# os-release\n\n  export ID=alpine\r\nVERSION_ID=3.20.0\r\n",
		OSRelease{ID: "alpine", VersionID: "3.20.0"}, false},
	{"line without =", "ID debian\nNAME=Debian\n", OSRelease{Name: "Debian"}, false},
	{"bad name", "1ID=x\nI-D=y\nID=z\n", OSRelease{ID: "z"}, false},
	{"unterminated quote skipped", "NAME=\"Debian\nID=debian\n", OSRelease{ID: "debian"}, false},
	{"empty value", "ID=\nNAME=x\n", OSRelease{Name: "x"}, false},
	{"empty", "", OSRelease{}, true},
	{"only comments", "# nothing\n", OSRelease{}, true},
	{"no known keys", "HOME_URL=x\n", OSRelease{}, true},
	{"missing =", "just some text\n", OSRelease{}, true},
	{"binary", "\x00\x01\xff\xfe=\x00", OSRelease{}, true},
}

func TestParseOSRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range osReleaseCases {
		got, err := parseOSRelease([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseOSRelease(%q) = %+v, %v; want %+v, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	for _, tc := range osReleaseCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := parseOSRelease(data)
		if err == nil && o == (OSRelease{}) {
			t.Fatalf("parseOSRelease(%q): no error and no fields", data)
		}
		vars, _ := parseShellAssignments(data)
		for k, v := range vars {
			if !isShellName(k) || strings.Contains(v, "\n") {
				t.Fatalf("parseShellAssignments(%q): %q=%q", data, k, v)
			}
		}
	})
}

// shellQuote is how a shell script would write s as one word.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var shellWordCases = []string{"", "plain", "with space", `it's`, `"dq"`, `back\slash`, "$HOME", "tab\there", "\x00\xff"}

func TestParseShellWordRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range shellWordCases {
		got, err := parseShellWord(shellQuote(s))
		if err != nil || got != s {
			t.Errorf("parseShellWord(%s) = %q, %v; want %q", shellQuote(s), got, err, s)
		}
	}
}

func FuzzParseShellWord(f *testing.F) {
	for _, s := range shellWordCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseShellWord(s) // must not panic on anything
		if strings.Contains(s, "\n") {
			return
		}
		if got, err := parseShellWord(shellQuote(s)); err != nil || got != s {
			t.Fatalf("parseShellWord(%s) = %q, %v; want %q", shellQuote(s), got, err, s)
		}
	})
}

const openWrtRelease = `DISTRIB_ID='OpenWrt'
DISTRIB_RELEASE='23.05.3'
DISTRIB_REVISION='r23809-234f1a2efa'
DISTRIB_TARGET='mvebu/cortexa9'
DISTRIB_ARCH='arm_cortex-a9_vfpv3-d16'
DISTRIB_DESCRIPTION='OpenWrt 23.05.3 r23809-234f1a2efa'
DISTRIB_TAINTS=''
`

var openWrtCases = []struct {
	name, in string
	want     OpenWrt
	wantErr  bool
}{
	{"23.05", openWrtRelease, OpenWrt{Release: "23.05.3", Revision: "r23809-234f1a2efa", Target: "mvebu/cortexa9",
		Arch: "arm_cortex-a9_vfpv3-d16", Description: "OpenWrt 23.05.3 r23809-234f1a2efa"}, false},
	{"snapshot, double quotes", "DISTRIB_RELEASE=\"SNAPSHOT\"\nDISTRIB_REVISION=\"r26730-0dd9a9fa63\"\n",
		OpenWrt{Release: "SNAPSHOT", Revision: "r26730-0dd9a9fa63"}, false},
	{"no release", "DISTRIB_ID='OpenWrt'\nDISTRIB_TARGET='x86/64'\n", OpenWrt{Target: "x86/64"}, true},
	{"missing =", "DISTRIB_RELEASE '23.05.3'\n", OpenWrt{}, true},
	{"empty", "", OpenWrt{}, true},
	{"binary", "\xff\xfe\x00", OpenWrt{}, true},
}

func TestParseOpenWrtRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range openWrtCases {
		got, err := parseOpenWrtRelease([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseOpenWrtRelease(%q) = %+v, %v; want %+v, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseOpenWrtRelease(f *testing.F) {
	for _, tc := range openWrtCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := parseOpenWrtRelease(data)
		if err == nil && o.Release == "" && o.Revision == "" {
			t.Fatalf("parseOpenWrtRelease(%q) = %+v without error", data, o)
		}
	})
}

var lsbCases = []struct {
	name, in string
	want     lsbRelease
	wantErr  bool
}{
	{"cumulus", "DISTRIB_ID=\"Cumulus Linux\"\nDISTRIB_RELEASE=5.9.1\nDISTRIB_DESCRIPTION=\"Cumulus Linux 5.9.1\"\n",
		lsbRelease{ID: "Cumulus Linux", Release: "5.9.1", Description: "Cumulus Linux 5.9.1"}, false},
	{"ubuntu", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\n", lsbRelease{ID: "Ubuntu", Release: "22.04"}, false},
	{"no id", "DISTRIB_RELEASE=1\n", lsbRelease{Release: "1"}, true},
	{"empty", "", lsbRelease{}, true},
}

func TestParseLSBRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range lsbCases {
		got, err := parseLSBRelease([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseLSBRelease(%q) = %+v, %v; want %+v, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseLSBRelease(f *testing.F) {
	for _, tc := range lsbCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLSBRelease(data)
		if err == nil && l.ID == "" {
			t.Fatalf("parseLSBRelease(%q) = %+v without error", data, l)
		}
	})
}

var compatibleCases = []struct {
	name, in string
	want     []string
}{
	{"raspberry pi 4", "raspberrypi,4-model-b\x00brcm,bcm2711\x00", []string{"raspberrypi,4-model-b", "brcm,bcm2711"}},
	{"wrt3200acm", "linksys,rango\x00linksys,armada385\x00marvell,armada385\x00marvell,armada380\x00",
		[]string{"linksys,rango", "linksys,armada385", "marvell,armada385", "marvell,armada380"}},
	{"no trailing NUL", "brcm,bcm2711", []string{"brcm,bcm2711"}},
	{"empty entries", "a\x00\x00b\x00\x00", []string{"a", "b"}},
	{"only NULs", "\x00\x00", nil},
	{"empty", "", nil},
}

func TestParseCompatible(t *testing.T) {
	t.Parallel()
	for _, tc := range compatibleCases {
		if got := parseCompatible([]byte(tc.in)); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: parseCompatible(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func FuzzParseCompatible(f *testing.F) {
	for _, tc := range compatibleCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got := parseCompatible(data)
		n := 0
		for _, s := range got {
			if s == "" || strings.Contains(s, "\x00") {
				t.Fatalf("parseCompatible(%q) = %q: empty entry or NUL", data, got)
			}
			n += len(s)
		}
		if n != len(data)-bytes.Count(data, []byte{0}) {
			t.Fatalf("parseCompatible(%q) = %q: lost or invented bytes", data, got)
		}
	})
}

var dtStringCases = []struct{ name, in, want string }{
	{"model", "Raspberry Pi 4 Model B Rev 1.5\x00", "Raspberry Pi 4 Model B Rev 1.5"},
	{"two NULs", "Linksys WRT3200ACM\x00\x00", "Linksys WRT3200ACM"},
	{"no NUL", "GL.iNet GL-MT6000", "GL.iNet GL-MT6000"},
	{"string list", "first\x00second\x00", "first"},
	{"only NUL", "\x00", ""},
	{"empty", "", ""},
}

func TestParseDTString(t *testing.T) {
	t.Parallel()
	for _, tc := range dtStringCases {
		if got := parseDTString([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: parseDTString(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func FuzzParseDTString(f *testing.F) {
	for _, tc := range dtStringCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if s := parseDTString(data); strings.Contains(s, "\x00") || !bytes.Contains(data, []byte(s)) {
			t.Fatalf("parseDTString(%q) = %q", data, s)
		}
	})
}

var dtUint32Cases = []struct {
	name, in string
	want     uint32
	wantErr  bool
}{
	{"build timestamp", "\x66\x1d\x1f\x18", 0x661d1f18, false},
	{"zero", "\x00\x00\x00\x00", 0, false},
	{"short", "\x66\x1d\x1f", 0, true},
	{"long", "\x00\x00\x00\x00\x01", 0, true},
	{"empty", "", 0, true},
}

func TestParseDTUint32(t *testing.T) {
	t.Parallel()
	for _, tc := range dtUint32Cases {
		got, err := parseDTUint32([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseDTUint32(%q) = %#x, %v; want %#x, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseDTUint32(f *testing.F) {
	for _, tc := range dtUint32Cases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseDTUint32(data); (err == nil) != (len(data) == 4) {
			t.Fatalf("parseDTUint32(%q) error = %v for %d bytes", data, err, len(data))
		}
	})
}

var taintCases = []struct {
	name, in, letters string
	value             uint64
	nflags            int
	wantErr           bool
}{
	{"clean", "0\n", "", 0, 0, false},
	{"proprietary", "1\n", "P", 1, 1, false},
	{"out of tree", "4096\n", "O", 4096, 1, false},
	{"out of tree, unsigned", "12288\n", "OE", 12288, 2, false},
	{"staging", " 1024 \n", "C", 1024, 1, false},
	{"oops and warning", "640", "DW", 640, 2, false},
	{"fwctl", "524288", "J", 1 << 19, 1, false},
	{"unknown bit", "1048576", "", 1 << 20, 1, false},
	{"every bit", "18446744073709551615", "PFSRMBUDAWCIOELKXTNJ", math.MaxUint64, 64, false},
	{"overflow", "18446744073709551616", "", 0, 0, true},
	{"negative", "-1", "", 0, 0, true},
	{"hex", "0x1000", "", 0, 0, true},
	{"empty", "", "", 0, 0, true},
	{"garbage", "tainted?\n", "", 0, 0, true},
	{"binary", "\x00\x01", "", 0, 0, true},
}

func TestParseTainted(t *testing.T) {
	t.Parallel()
	for _, tc := range taintCases {
		got, err := parseTainted([]byte(tc.in))
		if (err != nil) != tc.wantErr || got.Value != tc.value || got.Letters != tc.letters || len(got.Flags) != tc.nflags {
			t.Errorf("%s: parseTainted(%q) = %+v, %v; want value %d letters %q with %d flags, error %v",
				tc.name, tc.in, got, err, tc.value, tc.letters, tc.nflags, tc.wantErr)
		}
	}
	got, _ := parseTainted([]byte("4096"))
	if want := (TaintFlag{Bit: 12, Letter: "O", Name: "externally-built (out-of-tree) module was loaded"}); got.Flags[0] != want {
		t.Errorf("parseTainted(4096) flag = %+v, want %+v", got.Flags[0], want)
	}
}

func FuzzParseTainted(f *testing.F) {
	for _, tc := range taintCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tt, err := parseTainted(data)
		if err != nil {
			return
		}
		var mask uint64
		for _, fl := range tt.Flags {
			mask |= 1 << fl.Bit
		}
		if mask != tt.Value || len(tt.Flags) != bits.OnesCount64(tt.Value) {
			t.Fatalf("parseTainted(%q) = %+v: flags do not add up to the value", data, tt)
		}
	})
}

var secureBootCases = []struct {
	name, in string
	want     bool
	wantErr  bool
}{
	{"enabled", "\x06\x00\x00\x00\x01", true, false},
	{"disabled", "\x06\x00\x00\x00\x00", false, false},
	{"non-volatile attributes", "\x07\x00\x00\x00\x01", true, false},
	{"truncated value", "\x06\x00\x00\x00", false, true},
	{"truncated attributes", "\x06\x00", false, true},
	{"empty", "", false, true},
	{"too long", "\x06\x00\x00\x00\x01\x00", false, true},
	{"value 2", "\x06\x00\x00\x00\x02", false, true},
	{"text", "1\n", false, true},
}

func TestParseSecureBoot(t *testing.T) {
	t.Parallel()
	for _, tc := range secureBootCases {
		got, err := parseSecureBoot([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseSecureBoot(%q) = %v, %v; want %v, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseSecureBoot(f *testing.F) {
	for _, tc := range secureBootCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		on, err := parseSecureBoot(data)
		valid := len(data) == 5 && data[4] <= 1
		if (err == nil) != valid || (valid && on != (data[4] == 1)) {
			t.Fatalf("parseSecureBoot(%q) = %v, %v", data, on, err)
		}
	})
}

const vyosVersionJSON = `{
    "version": "1.4.0",
    "built_by": "autobuild@vyos.net",
    "build_git": "c9e1e2a8b5f04d37a6e9b2d1f3c8a7e5d4b6c2f1",
    "release_train": "sagitta",
    "lts_build": true,
    "architecture": "amd64"
}`

var vyosCases = []struct {
	name, in, version, build string
	wantErr                  bool
}{
	{"1.4", vyosVersionJSON, "1.4.0", "c9e1e2a8b5f04d37a6e9b2d1f3c8a7e5d4b6c2f1", false},
	{"rolling", `{"version": "1.5-rolling-202406010020"}`, "1.5-rolling-202406010020", "", false},
	{"version not a string", `{"version": 1.4}`, "", "", true},
	{"no version", `{"built_by": "x"}`, "", "", true},
	{"not json", "version = 1.4.0", "", "", true},
	{"truncated", `{"version": "1.4`, "", "", true},
	{"empty", "", "", "", true},
}

func TestParseVyOSVersionJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range vyosCases {
		v, b, err := parseVyOSVersionJSON([]byte(tc.in))
		if (err != nil) != tc.wantErr || v != tc.version || b != tc.build {
			t.Errorf("%s: parseVyOSVersionJSON(%q) = %q, %q, %v; want %q, %q, error %v", tc.name, tc.in, v, b, err, tc.version, tc.build, tc.wantErr)
		}
	}
}

func FuzzParseVyOSVersionJSON(f *testing.F) {
	for _, tc := range vyosCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, _, err := parseVyOSVersionJSON(data); err == nil && v == "" {
			t.Fatalf("parseVyOSVersionJSON(%q): empty version without error", data)
		}
	})
}

var vyattaCases = []struct {
	name, in, want string
	wantErr        bool
}{
	{"1.1", "Version:      VyOS 1.1.8\nDescription:  VyOS 1.1.8 (helium)\nCopyright:    2017 VyOS maintainers and contributors\n", "1.1.8", false},
	{"lower case key", "version: 999.201806010000\n", "999.201806010000", false},
	{"no version line", "Description: VyOS\n", "", true},
	{"empty version", "Version:\n", "", true},
	{"empty", "", "", true},
}

func TestParseVyattaVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range vyattaCases {
		got, err := parseVyattaVersion([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseVyattaVersion(%q) = %q, %v; want %q, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseVyattaVersion(f *testing.F) {
	for _, tc := range vyattaCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := parseVyattaVersion(data); err == nil && (v == "" || strings.Contains(v, "\n")) {
			t.Fatalf("parseVyattaVersion(%q) = %q", data, v)
		}
	})
}

const sonicVersionYML = `---
build_version: 'SONiC.202311.540346-9d4d1b9b1'
debian_version: '12.5'
kernel_version: '6.1.0-11-2-amd64'
asic_type: mellanox
commit_id: '9d4d1b9b1'
build_date: Tue Apr 30 04:12:55 UTC 2024
build_number: 540346
`

var sonicCases = []struct {
	name, in, version, build string
	wantErr                  bool
}{
	{"202311", sonicVersionYML, "SONiC.202311.540346-9d4d1b9b1", "9d4d1b9b1", false},
	{"double quoted, comment", "build_version: \"SONiC.master.1-\\\"x\\\"\" \ncommit_id: abc # short\n", `SONiC.master.1-"x"`, "abc", false},
	{"single quote escape", "build_version: 'it''s'\n", "it's", "", false},
	{"nested keys ignored", "platform:\n  build_version: 'nested'\nbuild_version: top\n", "top", "", false},
	{"no build_version", "asic_type: broadcom\n", "", "", true},
	{"no space after colon", "build_version:'x'\n", "", "", true},
	{"empty", "", "", "", true},
	{"binary", "\x00:\xff", "", "", true},
}

func TestParseSonicVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range sonicCases {
		v, b, err := parseSonicVersion([]byte(tc.in))
		if (err != nil) != tc.wantErr || v != tc.version || b != tc.build {
			t.Errorf("%s: parseSonicVersion(%q) = %q, %q, %v; want %q, %q, error %v", tc.name, tc.in, v, b, err, tc.version, tc.build, tc.wantErr)
		}
	}
}

func FuzzParseSonicVersion(f *testing.F) {
	for _, tc := range sonicCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, _, err := parseSonicVersion(data)
		if err == nil && v == "" {
			t.Fatalf("parseSonicVersion(%q): empty version without error", data)
		}
		for k := range parseYAMLScalars(data) {
			if k == "" || strings.Contains(k, "\n") {
				t.Fatalf("parseYAMLScalars(%q): key %q", data, k)
			}
		}
	})
}

var overrideCases = []struct {
	name, in, want string
	wantErr        bool
}{
	{"file", "FW 2.4.1-build7\n", "FW 2.4.1-build7", false},
	{"blank around", "\n\t 10.2(3)E \n", "10.2(3)E", false},
	{"empty", "", "", true},
	{"blank", " \n\n", "", true},
}

func TestParseOverride(t *testing.T) {
	t.Parallel()
	for _, tc := range overrideCases {
		got, err := parseOverride([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: parseOverride(%q) = %q, %v; want %q, error %v", tc.name, tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseOverride(f *testing.F) {
	for _, tc := range overrideCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseOverride(data)
		if err == nil && (v == "" || strings.TrimSpace(v) != v) {
			t.Fatalf("parseOverride(%q) = %q", data, v)
		}
	})
}

func TestMeaningful(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"To be filled by O.E.M.": false, "Default string": false, " ": false,
		"System Product Name": false, "MSN3700": true, "1.0": true} {
		if got := meaningful(s); got != want {
			t.Errorf("meaningful(%q) = %v, want %v", s, got, want)
		}
	}
}
