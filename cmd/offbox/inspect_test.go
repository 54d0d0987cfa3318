package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/internal/lockedbuf"
)

const hostFixtures = "../../testdata/host"

// fixtureKinds lists the host trees in testdata/host.
func fixtureKinds(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(hostFixtures)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range ents {
		if e.IsDir() {
			kinds = append(kinds, e.Name())
		}
	}
	if len(kinds) < 6 {
		t.Fatalf("only %d fixtures in %s: %v", len(kinds), hostFixtures, kinds)
	}
	return kinds
}

// inspectReportJSON is inspect's output, each section left as JSON.
type inspectReportJSON struct {
	Boot  json.RawMessage `json:"boot"`
	Clock json.RawMessage `json:"clock"`
	Watch json.RawMessage `json:"watch"`
}

// decodeOne decodes out as exactly one JSON document into v.
func decodeOne(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("output is not the JSON document expected: %v\n%s", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("more than one JSON document on stdout:\n%s", out)
	}
}

// TestInspectFixtures runs `offbox inspect -host-root` on every host
// fixture: its boot section is the fixture's golden BOOT record, the clock
// section says why the one configured server gave nothing, the watch
// section reads under the fixture, and it all takes a few seconds at most.
func TestInspectFixtures(t *testing.T) {
	t.Parallel()
	for _, kind := range fixtureKinds(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(hostFixtures, kind)
			start := time.Now()
			code, out, errs := runCmd(t, "inspect", "-host-root", dir, "-ntp-server", "127.0.0.1:1")
			took := time.Since(start)
			if code != 0 {
				t.Fatalf("exit %d, stderr %s", code, errs)
			}
			if took > clock.DefaultTimeout+inspectClockSlack {
				t.Errorf("inspect took %v, want at most %v", took, clock.DefaultTimeout+inspectClockSlack)
			}
			var rep inspectReportJSON
			decodeOne(t, out, &rep)

			var gotBoot, wantBoot any
			if err := json.Unmarshal(rep.Boot, &gotBoot); err != nil {
				t.Fatal(err)
			}
			golden, err := os.ReadFile(filepath.Join(dir, "boot.golden.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(golden, &wantBoot); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotBoot, wantBoot) {
				t.Errorf("boot section differs from %s/boot.golden.json:\ngot  %s", kind, rep.Boot)
			}

			var k clock.Summary
			if err := json.Unmarshal(rep.Clock, &k); err != nil {
				t.Fatalf("clock section: %v\n%s", err, rep.Clock)
			}
			if k.OK || len(k.Servers) != 1 || k.Servers[0].Address != "127.0.0.1:1" ||
				!slices.Equal(k.Unreachable, []string{"127.0.0.1:1"}) || len(k.Reasons) == 0 {
				t.Errorf("clock section %s: want not ok, 127.0.0.1:1 unreachable, with a reason", rep.Clock)
			}

			var w struct {
				Root     string
				Files    []struct{ Path, Error string }
				Problems []struct{ Source, Reason string }
			}
			if err := json.Unmarshal(rep.Watch, &w); err != nil {
				t.Fatalf("watch section: %v\n%s", err, rep.Watch)
			}
			abs, _ := filepath.Abs(dir)
			if w.Root != abs || !slices.ContainsFunc(w.Files, func(f struct{ Path, Error string }) bool {
				return f.Path == "/etc/ssh/sshd_config" && f.Error == "missing"
			}) {
				t.Errorf("watch section %s: want root %s and /etc/ssh/sshd_config missing", rep.Watch, abs)
			}
		})
	}
}

// TestInspectNameNotFound checks the default way of finding NTP servers, a
// DNS name, when the name does not exist: the clock section gives the
// reason, inspect exits 0 within the clock timeout and its slack.
func TestInspectNameNotFound(t *testing.T) {
	t.Parallel()
	start := time.Now()
	code, out, errs := runCmd(t, "inspect", "-host-root", filepath.Join(hostFixtures, "degraded"), "-ntp-name", "ntp.offbox-test.invalid")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	if limit := clock.DefaultTimeout + inspectClockSlack + time.Second; took > limit {
		t.Errorf("inspect took %v, want at most %v", took, limit)
	}
	var rep inspectReportJSON
	decodeOne(t, out, &rep)
	var k clock.Summary
	if err := json.Unmarshal(rep.Clock, &k); err != nil {
		t.Fatal(err)
	}
	if k.OK || !slices.ContainsFunc(k.Reasons, func(r string) bool { return strings.HasPrefix(r, "dns ntp.offbox-test.invalid: ") }) {
		t.Errorf("clock section %s: want not ok with a dns reason", rep.Clock)
	}
}

// TestInspectErrors checks that usage and config mistakes exit non-zero
// (config ones with file:line), and that a section that cannot be set up
// is an error in that section only.
func TestInspectErrors(t *testing.T) {
	t.Parallel()
	write := func(yaml string) string {
		p := filepath.Join(t.TempDir(), "offbox.yaml")
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr; FILE is the config path
	}{
		{"bad server", []string{"-config", write("clock:\n  servers:\n    - 10.0.0.1:123\n    - 10.0.0.2:99999\n")}, 1,
			`FILE:4: clock.servers.1: server "10.0.0.2:99999": bad port`},
		{"unknown key", []string{"-config", write("watch:\n  enabled: true\n  pathz: [/etc/x]\n")}, 1, `FILE:3: unknown key "pathz" under "watch" (did you mean "paths"?)`},
		{"relative watch path", []string{"-config", write("watch:\n  paths:\n    - etc/hosts\n")}, 1, `FILE:3: watch.paths.0: path "etc/hosts" is not absolute`},
		{"shadow as config file", []string{"-config", write("watch:\n  paths: [/etc/hosts, /etc/shadow]\n")}, 1, "FILE:2: watch.paths.1: path /etc/shadow holds password hashes"},
		{"two firmware overrides", []string{"-config", write("boot:\n  firmware_file: /etc/v\n  firmware_command: [true]\n")}, 1,
			"FILE:3: boot.firmware_command: set firmware_file or firmware_command, not both"},
		{"missing config", []string{"-config", "/nonexistent/offbox.yaml"}, 1, "no such file"},
		{"bad host root", []string{"-host-root", "/nonexistent/root"}, 1, `host_root: "/nonexistent/root" is not a directory`},
		{"bad flag server", []string{"-ntp-server", "a:b:c"}, 1, "clock.servers.0"},
		{"unknown flag", []string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
		{"extra argument", []string{"now"}, 2, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, out, errs := runCmd(t, append([]string{"inspect"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out, errs)
			}
			want := tc.want
			if i := slices.Index(tc.args, "-config"); i >= 0 {
				want = strings.ReplaceAll(want, "FILE", tc.args[i+1])
			}
			if !strings.Contains(errs, want) || out != "" {
				t.Errorf("stdout %q, stderr %q; want nothing on stdout and %q", out, errs, want)
			}
		})
	}
}

// copyFixture copies a host fixture into a new directory and adds files.
func copyFixture(t *testing.T, kind string, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join(hostFixtures, kind))); err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// recordLines decodes the complete lines of dry-run output.
func recordLines(t *testing.T, out string) []agent.JSONRecord {
	t.Helper()
	var recs []agent.JSONRecord
	sc := bufio.NewScanner(strings.NewReader(out[:strings.LastIndexByte(out, '\n')+1]))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r agent.JSONRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// waitRecord waits up to d for a record that match accepts.
func waitRecord(t *testing.T, out *lockedbuf.Buffer, d time.Duration, what string, match func(agent.JSONRecord) bool) agent.JSONRecord {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, r := range recordLines(t, out.String()) {
			if match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; output:\n%s", what, d, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// TestDryRunBootAndWatch runs `offbox run -dry-run` with the boot and watch
// collectors on a copy of a host fixture: the BOOT record is the fixture's
// golden one, and editing the watched sshd_config gives one CONFIG_CHANGE
// with the old and new SHA-256 within 2 s.
func TestDryRunBootAndWatch(t *testing.T) {
	t.Parallel()
	const v1, v2 = "PermitRootLogin no\n", "PermitRootLogin yes\n"
	root := copyFixture(t, "ec2-nitro", map[string]string{
		"etc/ssh/sshd_config": v1,
		"etc/passwd":          "root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\n",
		"etc/shadow":          "root:*:19800:0:99999:7:::\nadmin:!:19800:0:99999:7:::\n",
	})
	var out, errb lockedbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- run(ctx, []string{"run", "-dry-run", "-host-root", root, "-no-clock"}, &out, &errb) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("exit %d, stderr %s", code, errb.String())
		}
	}()

	bootRec := waitRecord(t, &out, 10*time.Second, "boot record", func(r agent.JSONRecord) bool { return r.Kind == "boot" })
	var got, want any
	if bootRec.Body == nil || json.Unmarshal([]byte(*bootRec.Body), &got) != nil {
		t.Fatalf("boot record body is not JSON: %+v", bootRec)
	}
	golden, err := os.ReadFile(filepath.Join(hostFixtures, "ec2-nitro", "boot.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(golden, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || bootRec.Attrs["model"] != "Amazon EC2 m7g.large" {
		t.Errorf("boot record %+v; want the body of ec2-nitro/boot.golden.json", bootRec)
	}

	// The password_age record ends the watch collector's baseline.
	waitRecord(t, &out, 10*time.Second, "password_age record", func(r agent.JSONRecord) bool { return r.Kind == "password_age" })
	if err := os.WriteFile(filepath.Join(root, "etc/ssh/sshd_config"), []byte(v2), 0o600); err != nil {
		t.Fatal(err)
	}
	edited := time.Now()
	isChange := func(r agent.JSONRecord) bool { return r.Kind == "config_change" }
	change := waitRecord(t, &out, 10*time.Second, "config_change record", isChange)
	if d := time.Since(edited); d > 2*time.Second {
		t.Errorf("config_change after %v, want within 2s", d)
	}
	wantAttrs := map[string]string{"path": "/etc/ssh/sshd_config", "change": "modified", "old_sha256": sha(v1), "new_sha256": sha(v2)}
	if change.Source != "watch:/etc/ssh/sshd_config" || !reflect.DeepEqual(change.Attrs, wantAttrs) {
		t.Errorf("config_change source %q attrs %v; want watch:/etc/ssh/sshd_config and %v", change.Source, change.Attrs, wantAttrs)
	}
	time.Sleep(500 * time.Millisecond) // a second record for the same save would come within the debounce
	n := 0
	for _, r := range recordLines(t, out.String()) {
		if isChange(r) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d config_change records for one edit, want 1:\n%s", n, out.String())
	}
	boots := 0
	for _, r := range recordLines(t, out.String()) {
		switch r.Kind {
		case "clock":
			t.Errorf("clock record with -no-clock: %+v", r)
		case "boot":
			boots++
		}
	}
	if boots != 1 {
		t.Errorf("%d boot records, want 1: the boot collector is done after its record, not restarted", boots)
	}
}

// kv makes attributes of key, value pairs.
func kv(pairs ...string) []collectors.Attr {
	var out []collectors.Attr
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, collectors.Attr{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

// TestClockAttrs checks the heartbeat attributes of a clock summary.
func TestClockAttrs(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ok := clock.Summary{Time: at, OK: true, OffsetNS: -1500, ErrorBoundNS: 800, Reachable: 3,
		Servers: make([]clock.ServerStatus, 4), Falsetickers: []string{"10.0.0.3:123", "10.0.0.4:123"}}
	bad := clock.Summary{Time: at, Servers: make([]clock.ServerStatus, 1), NoMajority: true}
	tests := []struct {
		name string
		s    clock.Summary
		have bool
		want []collectors.Attr
	}{
		{"ok", ok, true, kv("clock_time", "2026-05-01T12:00:00Z", "clock_ok", "true",
			"clock_offset_ns", "-1500", "clock_error_bound_ns", "800", "clock_reachable", "3", "clock_servers", "4",
			"clock_falsetickers", "10.0.0.3:123,10.0.0.4:123", "clock_no_majority", "false")},
		{"no offset", bad, true, kv("clock_time", "2026-05-01T12:00:00Z", "clock_ok", "false",
			"clock_reachable", "0", "clock_servers", "1", "clock_falsetickers", "", "clock_no_majority", "true")},
		{"no round yet", clock.Summary{}, false, nil},
	}
	for _, tc := range tests {
		if got := clockAttrs(tc.s, tc.have); !slices.Equal(got, tc.want) {
			t.Errorf("%s: clockAttrs = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestHeartbeatClockSummary checks what cmd/offbox hands the agent as
// Config.HeartbeatAttrs: nothing before the clock collector's first round,
// its latest summary after, and nothing when the clock is disabled. (The
// agent's tests check that these attributes reach the heartbeat record.)
func TestHeartbeatClockSummary(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	c := &config{Clock: clockSection{Config: clock.Config{Servers: []string{"127.0.0.1:1"}, Samples: 1}}}
	off := false
	c.Boot.Enabled, c.Watch.Enabled = &off, &off
	s, err := buildCollectors(c, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.all) != 1 || s.clock == nil {
		t.Fatalf("collectors %v, want the clock only", s.all)
	}
	hb := agentConfig(c, s, log).HeartbeatAttrs
	if hb == nil {
		t.Fatal("agent config without HeartbeatAttrs")
	}
	if got := hb(); got != nil {
		t.Errorf("before the first round: %v, want none", got)
	}
	s.clock.Measure(context.Background())
	got := map[string]string{}
	for _, a := range hb() {
		got[a.Key] = a.Value
	}
	want := map[string]string{"clock_ok": "false", "clock_reachable": "0", "clock_servers": "1", "clock_falsetickers": "", "clock_no_majority": "false"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if ts, err := time.Parse(time.RFC3339, got["clock_time"]); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("clock_time %q: want the time of the round just run (%v)", got["clock_time"], err)
	}

	c.Clock.Enabled = &off
	if s, err = buildCollectors(c, log); err != nil {
		t.Fatal(err)
	}
	if hb := agentConfig(c, s, log).HeartbeatAttrs; len(s.all) != 0 || hb() != nil {
		t.Errorf("clock disabled: collectors %v, heartbeat attrs %v; want none", s.all, hb())
	}
}
