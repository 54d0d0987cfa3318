package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/transport/tlsconf"
)

// TestMain lets the test binary run as offbox itself (for signal tests).
func TestMain(m *testing.M) {
	if os.Getenv("OFFBOX_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb lockedbuf.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "offbox dev go") {
		t.Errorf("version: exit %d, output %q; want 0 and \"offbox dev go...\"", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errs := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errs, "unknown command") {
		t.Errorf("exit %d, stderr %q; want 2 and unknown command", code, errs)
	}
}

// TestCheckConfig checks that good files pass with a summary and that each
// kind of mistake fails with exit 1 and a message naming the file and, for
// mistakes in the file, the line.
func TestCheckConfig(t *testing.T) {
	pki := t.TempDir()
	if err := tlsconf.DevCerts(pki, []string{"sw1"}); err != nil {
		t.Fatal(err)
	}
	tlsBlock := fmt.Sprintf("tls:\n  ca: %s\n  cert: %s\n  key: %s\n",
		filepath.Join(pki, "ca.pem"), filepath.Join(pki, "sw1.pem"), filepath.Join(pki, "sw1-key.pem"))
	good := "server: 127.0.0.1:4443\n" + tlsBlock + "tail:\n  - /var/log/*.log\nheartbeat: 10s\n" // 8 lines
	tests := []struct {
		name string
		yaml string // "" means no file at all
		code int
		want []string // substrings of the output (stdout on success, stderr on failure); FILE is the path
	}{
		{"good", good, 0, []string{"config OK: FILE", "device       sw1", "heartbeat    10s", "/var/log/*.log",
			"boot         on, firmware version from the built-in rules",
			"clock        on, every address of ntp.internal (default) port 123 (default); every 1m4s (default), 4 (default) samples",
			"watch        on, 11 default paths ", "shadow /etc/shadow (default), passwd /etc/passwd (default)"}},
		{"collector sections", good + "boot:\n  firmware_file: /etc/fw\nclock:\n  servers: [10.0.0.1, 10.0.0.2:1123]\n  interval: 16s\n" +
			"watch:\n  paths: [/etc/hosts]\n  diff_paths: [/etc/hosts]\n  shadow: \"-\"\n  rescan: 5s\n", 0,
			[]string{"boot         on, firmware version from file /etc/fw",
				"clock        on, servers 10.0.0.1, 10.0.0.2:1123; every 16s, 4 (default) samples, window 8 (default), timeout 2s (default)",
				"watch        on, 1 configured paths (", "diffs for /etc/hosts", "shadow off, passwd /etc/passwd (default), rescan every 5s,"}},
		{"collectors off", good + "boot: {enabled: false}\nclock: {enabled: false}\nwatch: {enabled: false}\n", 0,
			[]string{"boot         off", "clock        off", "watch        off"}},
		{"clock name", good + "clock:\n  name: ntp.example.net\n  port: 1123\n", 0,
			[]string{"clock        on, every address of ntp.example.net port 1123;"}},
		{"bad ntp server", good + "clock:\n  servers:\n    - \"[::1\"\n", 1, []string{"FILE:11: clock.servers.0: server \"[::1\""}},
		{"negative clock interval", good + "clock:\n  interval: -1s\n", 1, []string{"FILE:10: clock.interval: must not be negative"}},
		{"bad clock port", good + "clock:\n  port: 70000\n", 1, []string{"FILE:10: clock.port: 70000 is not a port"}},
		{"relative firmware file", good + "boot:\n  firmware_file: fw.txt\n", 1, []string{"FILE:10: boot.firmware_file: \"fw.txt\" is not an absolute path"}},
		{"firmware command not found", good + "boot:\n  firmware_command: [/nonexistent/fwver]\n", 1,
			[]string{"FILE:10: boot.firmware_command.0: exec: \"/nonexistent/fwver\""}},
		{"firmware command not looked up when off", good + "boot:\n  enabled: false\n  firmware_command: [/nonexistent/fwver]\n", 0,
			[]string{"boot         off"}},
		{"bad watch glob", good + "watch:\n  diff_paths: [\"/etc/[x\"]\n", 1, []string{"FILE:10: watch.diff_paths.0: diff path \"/etc/[x\""}},
		{"relative shadow", good + "watch:\n  shadow: etc/shadow\n", 1, []string{"FILE:10: watch.shadow: shadow \"etc/shadow\" is not an absolute file path"}},
		{"unknown collector key", good + "clock:\n  server: [10.0.0.1]\n", 1, []string{`FILE:10: unknown key "server" under "clock" (did you mean "servers"?)`}},
		{"unknown key", good + "batch:\n  max_bytes: 10\n  bogus: 1\n", 1, []string{`FILE:11: unknown key "bogus" under "batch"`}},
		{"bad duration", good + "batch:\n  max_delay: 2 seconds\n", 1, []string{`FILE:10: batch.max_delay: "2 seconds" is not a duration (e.g. 15s, 1m)`}},
		{"duration without unit", "heartbeat: 15\n", 1, []string{`FILE:1: heartbeat: "15" is not a duration (e.g. 15s, 1m)`}},
		{"window set", good + "window: 2\n", 0, []string{"window 2 batches"}},
		{"bad glob in list", strings.Replace(good, "/var/log/*.log", "/var/log/*.log\n  - /var/log/[abc.log", 1), 1,
			[]string{"FILE:8: tail.1: bad glob \"/var/log/[abc.log\""}},
		{"bad start_at", good + "start_at: middle\n", 1, []string{"FILE:9: start_at: \"middle\": want beginning or end"}},
		{"negative window", good + "window: -1\n", 1, []string{"FILE:9: window: must not be negative"}},
		{"bad server", strings.Replace(good, "127.0.0.1:4443", "ingest.example", 1), 1, []string{"FILE:1: server: \"ingest.example\" is not host:port"}},
		{"missing server", tlsBlock, 1, []string{"missing server"}},
		{"missing cert file", strings.Replace(good, "sw1.pem", "nope.pem", 1), 1, []string{"nope.pem", "no such file"}},
		{"missing config file", "", 1, []string{"FILE", "no such file"}},
		{"two documents", good + "---\nserver: x:1\n", 1, []string{"FILE: more than one YAML document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "offbox.yaml")
			if tc.yaml != "" {
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			code, out, errs := runCmd(t, "check-config", "-config", path)
			got := out
			if tc.code != 0 {
				got = errs
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out, errs)
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(got, w) {
					t.Errorf("output %q does not contain %q", got, w)
				}
			}
		})
	}
}

// TestExampleConfigDecodes keeps packaging/offbox.yaml in step with the config
// struct: every key in it is known and every value valid.
func TestExampleConfigDecodes(t *testing.T) {
	c, err := loadConfig("../../packaging/offbox.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server == "" || len(c.Paths) == 0 || c.Batch.MaxDelay != 200*time.Millisecond || c.Window != 4 || c.MaxProcs != 1 {
		t.Errorf("packaging/offbox.yaml decoded to %+v; want its documented values", c)
	}
	// The collector sections state the defaults: the same collectors as
	// with no section at all.
	if !enabled(c.Boot.Enabled) || !enabled(c.Clock.Enabled) || !enabled(c.Watch.Enabled) {
		t.Errorf("packaging/offbox.yaml disables a collector: boot %v clock %v watch %v", *c.Boot.Enabled, *c.Clock.Enabled, *c.Watch.Enabled)
	}
	if k := c.Clock; len(k.Servers) != 0 || k.Name != "" || k.NamePort != 123 || k.Interval != 64*time.Second || k.Samples != 4 ||
		k.Window != 8 || k.Timeout != 2*time.Second {
		t.Errorf("packaging/offbox.yaml clock section %+v; want the defaults", k)
	}
	if w := c.Watch; w.Paths != nil || len(w.DiffPaths) != 0 || w.MaxDiffBytes != 16384 || w.Shadow != "/etc/shadow" ||
		w.Passwd != "/etc/passwd" || w.RescanEvery != 30*time.Second || w.AgeEvery != 24*time.Hour {
		t.Errorf("packaging/offbox.yaml watch section %+v; want the defaults", w)
	}
	if j := c.Journal; j.Enabled || j.Command != "" || len(j.Args) != 0 || j.File != "" || j.Directory != "" || j.StartAt != "beginning" {
		t.Errorf("packaging/offbox.yaml journal section %+v; want the defaults", j)
	}
	if s := c.Syslog; len(s.Unix)+len(s.UDP)+len(s.TCP) != 0 || s.MaxMessageBytes != 65536 {
		t.Errorf("packaging/offbox.yaml syslog section %+v; want the defaults", s)
	}
	if l := c.Logread; l.Enabled || strings.Join(l.Command, " ") != "logread -f" {
		t.Errorf("packaging/offbox.yaml logread section %+v; want the defaults", l)
	}
}

// TestFlagsOverrideConfig checks that set flags replace the file's values
// (-tail replacing the whole list) and unset ones leave them.
func TestFlagsOverrideConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offbox.yaml")
	yaml := "server: a:1\ntail: [/x, /y]\nheartbeat: 5s\nstart_at: end\n" +
		"clock:\n  servers: [10.0.0.1]\n  name: ntp.example\n  samples: 2\nwatch:\n  enabled: true\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newRunFlags()
	if err := f.fs.Parse([]string{"-config", path, "-server", "b:2", "-tail", "/z", "-tail", "/w", "-memory-budget", "1000",
		"-ntp-server", "10.0.0.7", "-ntp-server", "10.0.0.8:1123", "-no-watch", "-no-boot=false",
		"-syslog-udp", "127.0.0.1:1514", "-syslog-tcp", "127.0.0.1:1601", "-syslog-unix", "/run/x.sock", "-journal", "-logread=false"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.effective()
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != "b:2" || !slices.Equal(c.Paths, []string{"/z", "/w"}) || c.Heartbeat != 5*time.Second ||
		c.StartAt != "end" || c.MemoryBudgetBytes != 1000 {
		t.Errorf("effective config %+v", c)
	}
	if s := c.Syslog; !slices.Equal(s.UDP, []string{"127.0.0.1:1514"}) || !slices.Equal(s.TCP, []string{"127.0.0.1:1601"}) ||
		!slices.Equal(s.Unix, []string{"/run/x.sock"}) || !c.Journal.Enabled || c.Logread.Enabled {
		t.Errorf("effective syslog %+v, journal %v, logread %v; want the flags'", s, c.Journal.Enabled, c.Logread.Enabled)
	}
	if k := c.Clock; !slices.Equal(k.Servers, []string{"10.0.0.7", "10.0.0.8:1123"}) || k.Name != "ntp.example" || k.Samples != 2 ||
		!enabled(k.Enabled) || enabled(c.Watch.Enabled) || !enabled(c.Boot.Enabled) {
		t.Errorf("effective clock %+v, boot on %v, watch on %v; want the flags' servers, the file's name and samples, watch off",
			k, enabled(c.Boot.Enabled), enabled(c.Watch.Enabled))
	}

	f = newInspectFlags()
	if err := f.fs.Parse([]string{"-config", path, "-ntp-name", "time.example", "-host-root", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if c, err = f.effective(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Clock.Servers, []string{"10.0.0.1"}) || c.Clock.Name != "time.example" || c.HostRoot == "" {
		t.Errorf("inspect: effective clock %+v host root %q; want the file's servers and the flag's name and root", c.Clock, c.HostRoot)
	}
}

func TestRunNeedsServerUnlessDry(t *testing.T) {
	code, _, errs := runCmd(t, "run", "-tail", "/nonexistent/*.log")
	if code != 1 || !strings.Contains(errs, "missing server, tls.ca, tls.cert, tls.key") {
		t.Errorf("exit %d, stderr %q; want 1 and the missing settings", code, errs)
	}
}

// writeLog writes a log file with an invalid UTF-8 line and returns its
// path and lines.
func writeLog(t *testing.T) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.log")
	lines := []string{"first line", "second \xff\xfe line", "third line"}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, lines
}

// waitLogRecords waits up to 10s for n log records among the dry-run
// output's lines (the boot, clock and watch collectors print theirs too).
func waitLogRecords(t *testing.T, out *lockedbuf.Buffer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got := 0
		for _, r := range recordLines(t, out.String()) {
			if r.Kind == "log" {
				got++
			}
		}
		if got >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkDryRunOutput decodes the JSON lines and checks them against the file.
func checkDryRunOutput(t *testing.T, out, path string, lines []string) {
	t.Helper()
	var recs []agent.JSONRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r agent.JSONRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		if r.Kind == "log" {
			recs = append(recs, r)
		}
	}
	if len(recs) != len(lines) {
		t.Fatalf("%d log records, want %d; output:\n%s", len(recs), len(lines), out)
	}
	var off int64
	for i, r := range recs {
		body := r.BodyBase64
		if r.Body != nil {
			body = *r.Body
		} else if b, err := base64.StdEncoding.DecodeString(body); err == nil {
			body = string(b)
		}
		if body != lines[i] {
			t.Errorf("record %d body %q, want %q", i, body, lines[i])
		}
		if r.Source != "file:"+path {
			t.Errorf("record %d source %q, want file:%s", i, r.Source, path)
		}
		end := off + int64(len(lines[i])) + 1
		if r.File == nil || r.File.Start != off || r.File.End != end {
			t.Errorf("record %d file range %+v, want [%d, %d)", i, r.File, off, end)
		}
		off = end
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Errorf("record %d time %q: %v", i, r.Time, err)
		}
	}
	if recs[1].Body != nil || recs[1].BodyBase64 == "" {
		t.Errorf("invalid UTF-8 line: body %v, body_base64 %q; want body_base64 only", recs[1].Body, recs[1].BodyBase64)
	}
}

// TestDryRunPrintsRecords runs `offbox run -dry-run` in process on a temp
// file: no server, no certificates, one JSON object per line.
func TestDryRunPrintsRecords(t *testing.T) {
	path, lines := writeLog(t)
	var out, errb lockedbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, []string{"run", "-dry-run", "-tail", path}, &out, &errb) }()
	waitLogRecords(t, &out, len(lines))
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	checkDryRunOutput(t, out.String(), path, lines)
}

// TestDryRunStopsOnSIGTERM runs the binary (this test binary acting as
// offbox) and checks that SIGTERM ends it with exit 0.
func TestDryRunStopsOnSIGTERM(t *testing.T) {
	path, lines := writeLog(t)
	cmd := exec.Command(os.Args[0], "run", "-dry-run", "-tail", path, "-start-at", "beginning")
	cmd.Env = append(os.Environ(), "OFFBOX_TEST_RUN_MAIN=1")
	var out, errb lockedbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitLogRecords(t, &out, len(lines))
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v; stderr %s", err, errb.String())
	}
	checkDryRunOutput(t, out.String(), path, lines)
}

// max_procs sets GOMAXPROCS (default 1) unless the environment does.
func TestSetMaxProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // empty counts as unset
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	setMaxProcs(0, slog.New(slog.DiscardHandler))
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("default max_procs: GOMAXPROCS %d, want 1", n)
	}
	setMaxProcs(3, slog.New(slog.DiscardHandler))
	if n := runtime.GOMAXPROCS(0); n != 3 {
		t.Errorf("max_procs 3: GOMAXPROCS %d", n)
	}
	t.Setenv("GOMAXPROCS", "2")
	setMaxProcs(5, slog.New(slog.DiscardHandler))
	if n := runtime.GOMAXPROCS(0); n != 3 {
		t.Errorf("with GOMAXPROCS in the environment, max_procs changed it to %d", n)
	}
}
