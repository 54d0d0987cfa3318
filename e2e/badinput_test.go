package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinaryAndLongLinesByteExact is acceptance 6: invalid UTF-8 and binary
// lines arrive byte-exact; over-long lines are split and flagged.
func TestBinaryAndLongLinesByteExact(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "bin")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	logf := filepath.Join(dir, "bin.log")
	const maxLine = 1000
	long := bytes.Repeat([]byte("0123456789"), 250) // 2,500 bytes: three pieces
	lines := [][]byte{
		[]byte("plain ascii"),
		{0xff, 0xfe, 0xfd, 'b', 'a', 'd'},                  // invalid UTF-8
		{0, 1, 2, 3, 0x7f, 0x80, 0x1b, '[', '3', '1', 'm'}, // binary, NUL, escape
		[]byte("crlf line\r"),                              // CR kept
		[]byte("héllo wörld ✓"),                            // valid multi-byte UTF-8
		long,
		[]byte("after the long line"),
	}
	var file []byte
	for _, l := range lines {
		file = append(append(file, l...), '\n')
	}
	if err := os.WriteFile(logf, file, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: %s
tls:
  ca: %s
  cert: %s
  key: %s
tail: [%q]
start_at: beginning
max_line_bytes: %d
`, in.addr, p.ca(), p.cert("bin"), p.key("bin"), logf, maxLine)), 0o644)
	if so, se, code := run(t, bin.agent, "check-config", "-config", cfg); code != 0 {
		t.Fatalf("check-config: exit %d: %s %s", code, so, se)
	}
	start(t, bin.agent, "run", "-config", cfg)
	source := "file:" + logf
	want := len(lines) - 1 + 3 // the long line is stored as three pieces
	waitFor(t, 30*time.Second, "all lines", func() bool { return count(t, in.db, "-source", source) >= want })
	recs := records(t, in.db, "-source", source)
	if len(recs) != want {
		t.Fatalf("got %d records, want %d", len(recs), want)
	}
	var got [][]byte
	var pieces [][]byte
	for _, r := range recs {
		b := r.bytes(t)
		if r.hasFlag("partial") {
			if len(b) > maxLine {
				t.Errorf("a partial piece of %d bytes exceeds max_line_bytes %d", len(b), maxLine)
			}
			pieces = append(pieces, b)
			continue
		}
		if len(pieces) > 0 {
			pieces = append(pieces, b)
			if len(pieces) != 3 {
				t.Errorf("long line stored in %d pieces, want 3", len(pieces))
			}
			b = bytes.Join(pieces, nil)
			pieces = nil
		}
		got = append(got, b)
	}
	if len(got) != len(lines) {
		t.Fatalf("reassembled %d lines, want %d", len(got), len(lines))
	}
	for i := range lines {
		if !bytes.Equal(got[i], lines[i]) {
			t.Errorf("line %d = %q, want %q", i, got[i], lines[i])
		}
	}
	// Text lines come back as text, invalid UTF-8 as base64 with a flag.
	if recs[0].BodyEncoding == "base64" || recs[0].Body != "plain ascii" {
		t.Errorf("ASCII line encoded as %q %q", recs[0].BodyEncoding, recs[0].Body)
	}
	if recs[1].BodyEncoding != "base64" {
		t.Errorf("invalid UTF-8 line not flagged base64: %+v", recs[1])
	}
}

// TestVanishedAndUnreadableFilesReported: a watched file that vanishes, and
// a path that cannot be read as a file, are reported as agent_status
// records; the agent keeps running and ships the file when it returns.
func TestVanishedAndUnreadableFilesReported(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "van")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	logf := filepath.Join(dir, "van.log")
	appendLines(t, logf, "van", 0, 10)
	// As root every mode bit is readable, so "unreadable" is a path that
	// is not a regular file: a directory where a log file was named.
	notFile := filepath.Join(dir, "dir.log")
	os.Mkdir(notFile, 0o755)
	ag := startAgent(t, p, "van", in.addr, "-tail", logf, "-tail", notFile)
	source := "file:" + logf
	waitFor(t, 30*time.Second, "the first lines", func() bool { return count(t, in.db, "-source", source) == 10 })
	if err := os.Remove(logf); err != nil {
		t.Fatal(err)
	}
	statusFor := func(src string) bool {
		for _, r := range records(t, in.db) {
			if r.Kind == "agent_status" && r.Source == src {
				return true
			}
		}
		return false
	}
	waitFor(t, 30*time.Second, "an agent_status record for the vanished file", func() bool { return statusFor(source) })
	waitFor(t, 30*time.Second, "an agent_status record for the directory", func() bool { return statusFor("file:" + notFile) })
	if ag.exited() {
		t.Fatal("agent exited after a file vanished")
	}
	appendLines(t, logf, "van", 10, 20)
	logs := func() (n int) {
		for _, r := range records(t, in.db, "-source", source) {
			if r.Kind == "log" {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "the recreated file shipped", func() bool { return logs() >= 20 })
	checkExactlyOnce(t, records(t, in.db, "-source", source), source, "van", 20)
}

// TestMalformedConfigNamesFileAndLine covers both programs' strict configs.
func TestMalformedConfigNamesFileAndLine(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("server: 127.0.0.1:7443\ntail: [/var/log/syslog]\nheartbaet: 5s\n"), 0o644)
	for _, args := range [][]string{
		{bin.agent, "check-config", "-config", bad},
		{bin.agent, "run", "-config", bad},
		{bin.ingest, "serve", "-config", bad},
	} {
		so, se, code := run(t, args[0], args[1:]...)
		if code == 0 {
			t.Errorf("%v: exit 0 with a malformed config", args[1:])
		}
		if msg := so + se; !strings.Contains(msg, bad+":3") {
			t.Errorf("%v: error does not name %s:3: %s", args[1:], bad, msg)
		}
	}
}

// TestCertificateFromAnotherCARefused is part of acceptance 5: an agent
// whose certificate comes from another CA stores nothing, and keeps
// retrying without crashing.
func TestCertificateFromAnotherCARefused(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	good, evil := newPKI(t, "dev"), newPKI(t, "dev")
	in := startIngest(t, good, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	logf := filepath.Join(dir, "a.log")
	appendLines(t, logf, "evil", 0, 100)
	// The evil agent trusts the real collector's CA, so only the client
	// certificate is wrong.
	ag := start(t, bin.agent, "run", "-server", in.addr, "-ca", good.ca(), "-cert", evil.cert("dev"), "-key", evil.key("dev"), "-tail", logf)
	time.Sleep(3 * time.Second)
	if ag.exited() {
		t.Fatalf("agent exited instead of retrying: %s", ag.out.String())
	}
	if n := count(t, in.db); n != 0 {
		t.Fatalf("%d records stored from a certificate of another CA", n)
	}
	// The same file from the rightful device arrives.
	start(t, bin.agent, "run", "-server", in.addr, "-ca", good.ca(), "-cert", good.cert("dev"), "-key", good.key("dev"), "-tail", logf)
	waitFor(t, 30*time.Second, "the rightful device's lines", func() bool { return count(t, in.db, "-source", "file:"+logf) == 100 })
}
