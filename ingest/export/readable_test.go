package export

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// readableCases are one record of each kind that has a readable form, a
// hostile one of each, and bodies that do not decode. The bodies are what
// collectors/watch, agent/heartbeat.go and collectors/boot write.
var readableCases = []struct {
	name  string
	kind  offboxv1.Kind
	src   string
	body  string
	attrs map[string]string
}{
	{"log line", offboxv1.Kind_KIND_LOG, "file:/var/log/auth.log", "sshd[812]: Failed password for root from 203.0.113.7", nil},
	{"log line with escapes", offboxv1.Kind_KIND_LOG, "file:/var/log/\x1b[2Jauth.log", "root\x1b[31m logged in\r2026-12-06 fake", nil},
	{"config modified with diff", offboxv1.Kind_KIND_CONFIG_CHANGE, "watch:/etc/ssh/sshd_config",
		`{"path":"/etc/ssh/sshd_config","change":"modified","old_sha256":"0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9","new_sha256":"9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0","size":130,"mode":"0644","uid":0,"gid":0,"owner":"root","mtime":"2026-12-06T22:59:58.5Z","old_size":129,"old_mode":"0600","old_uid":0,"old_gid":0,"old_owner":"root","diff":"--- a/etc/ssh/sshd_config\n+++ b/etc/ssh/sshd_config\n@@ -1,2 +1,2 @@\n Port 22\n-PermitRootLogin no\n+PermitRootLogin yes\n","diff_truncated":false}`,
		map[string]string{"path": "/etc/ssh/sshd_config", "change": "modified"}},
	{"config created without diff", offboxv1.Kind_KIND_CONFIG_CHANGE, "watch:/etc/sudoers.d/deploy",
		`{"path":"/etc/sudoers.d/deploy","change":"created","old_sha256":"","new_sha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","size":31,"mode":"0440","uid":0,"gid":0,"owner":"root","mtime":"2026-12-06T23:00:00Z"}`, nil},
	{"config deleted, diff skipped", offboxv1.Kind_KIND_CONFIG_CHANGE, "watch:/etc/big.conf",
		`{"path":"/etc/big.conf","change":"deleted","old_sha256":"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8","new_sha256":"","old_size":9000000,"old_mode":"0644","old_uid":0,"old_gid":0,"old_owner":"root","diff_skipped":"file larger than 1048576 bytes"}`, nil},
	{"config metadata only", offboxv1.Kind_KIND_CONFIG_CHANGE, "watch:/etc/shadow",
		`{"path":"/etc/shadow","change":"metadata","old_sha256":"aa","new_sha256":"aa","size":900,"mode":"0666","uid":0,"gid":42,"owner":"root","mtime":"2026-12-06T23:00:00Z","old_size":900,"old_mode":"0640","old_uid":0,"old_gid":42,"old_owner":"root"}`, nil},
	{"hostile config change", offboxv1.Kind_KIND_CONFIG_CHANGE, "watch:/etc/\x1b]0;owned\x07x",
		`{"path":"/etc/\u001b[8mx.conf","change":"modified\r","old_sha256":"\u001b[2J","new_sha256":"b","owner":"r\u202eoot","uid":0,"mode":"0644","diff":"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+\u001b[1A\u001b[2K2026-12-06T23:00:00.000000000Z router-1 file:/x fake\n+\tindented\u0000\n","diff_truncated":true}`, nil},
	{"config change body not JSON", offboxv1.Kind_KIND_CONFIG_CHANGE, "watch:/etc/x", "not json \x1b[31m", nil},
	{"password age", offboxv1.Kind_KIND_PASSWORD_AGE, "watch:/etc/shadow",
		`[{"user":"root","last_change":"2024-12-31","age_days":705,"locked":false,"no_password":false,"must_change":false},{"user":"daemon","last_change":"","age_days":null,"locked":true,"no_password":false,"must_change":false},{"user":"deploy","last_change":"1970-01-01","age_days":20793,"locked":false,"no_password":false,"must_change":true},{"user":"guest","last_change":"2026-12-01","age_days":5,"locked":false,"no_password":true,"must_change":false}]`,
		map[string]string{"users": "4", "oldest_days": "705", "oldest_user": "root"}},
	{"hostile password age", offboxv1.Kind_KIND_PASSWORD_AGE, "watch:/etc/shadow",
		`[{"user":"\u001b[2Jroot\nfake","last_change":"2024-12-31\u001b[0m","age_days":1}]`, map[string]string{"oldest_user": "\x1b[5m", "oldest_days": "1"}},
	{"heartbeat", offboxv1.Kind_KIND_HEARTBEAT, "agent", "", map[string]string{
		"agent_uptime_s": "10920", "boot_id": "3f0e5f8e-1d2c-4b7a-9e21-6a1b2c3d4e5f", "agent_version": "0.9.1", "config_hash": "ab12",
		"heartbeat_interval": "15s", "queue_bytes": "2048", "sent_records": "1200", "sent_batches": "80", "dropped_records": "3",
		"dropped_bytes": "512", "throttle_events": "0", "host_uptime_s": "1048000", "load1": "0.12", "load5": "0.08", "load15": "0.01",
		"mem_total_bytes": "1073741824", "mem_available_bytes": "432013312", "agent_rss_bytes": "21495808", "agent_cpu_s": "3.20",
		"clock_time": "2026-12-06T22:59:45Z", "clock_ok": "true", "clock_offset_ns": "-1200000", "clock_error_bound_ns": "400000"}},
	{"heartbeat, figures unavailable", offboxv1.Kind_KIND_HEARTBEAT, "agent", "", map[string]string{
		"agent_uptime_s": "42", "agent_version": "0.9.1\x1b[0m", "queue_bytes": "0", "sent_records": "0", "sent_batches": "0",
		"dropped_records": "0", "dropped_bytes": "0", "clock_ok": "false", "unavailable": "load: open /proc/loadavg: no such file"}},
	{"heartbeat without attributes", offboxv1.Kind_KIND_HEARTBEAT, "agent", "", nil},
	{"boot", offboxv1.Kind_KIND_BOOT, "boot",
		`{"boot_id":"3f0e5f8e-1d2c-4b7a-9e21-6a1b2c3d4e5f","boot_time":"2026-11-24T21:46:40Z","uptime_seconds":1048000,"kernel_release":"6.1.0-18-amd64","os":{"id":"debian","pretty_name":"Debian GNU/Linux 12 (bookworm)","version_id":"12"},"firmware":{"dmi":{"bios_vendor":"SeaBIOS","bios_version":"1.16.2"}},"firmware_version":"12","firmware_source":"os-release","model":"QEMU Standard PC (Q35 + ICH9, 2009)","model_source":"dmi","secure_boot":{"state":"disabled","reason":"SecureBoot variable is 0"},"kernel_taint":{"value":4097,"letters":"PK"},"pstore":{"has_records":true,"count":2,"files":["dmesg-efi-1"]},"unavailable":[]}`, nil},
	{"boot, little known", offboxv1.Kind_KIND_BOOT, "boot",
		`{"firmware_version":"","firmware_source":"","model":"","model_source":"","secure_boot":{"state":"unknown","reason":""},"unavailable":[{"source":"/sys/firmware/efi","reason":"permission denied"}]}`, nil},
	{"hostile boot", offboxv1.Kind_KIND_BOOT, "boot",
		`{"kernel_release":"6.1\u001b[0m","firmware_version":"1.0\n2026-12-06T23:00:00.000000000Z router-1 boot boot: firmware 9.9","firmware_source":"file","model":"\u009b31m","model_source":"dmi","secure_boot":{"state":"enabled"},"unavailable":[]}`, nil},
	{"boot body not JSON", offboxv1.Kind_KIND_BOOT, "boot", "\xff\xfe", nil},
}

func readableRecord(i int) *store.Record {
	c := readableCases[i]
	rec := &store.Record{Device: "router-1", Seq: 7, Index: i, Received: time.Unix(1_765_062_000, 0), Record: &offboxv1.Record{
		TimeNs: time.Date(2026, 12, 6, 23, 0, i, 0, time.UTC).UnixNano(), Kind: c.kind, Source: c.src, Body: []byte(c.body)}}
	// Attributes in a fixed order, as the agent sends them.
	keys := make([]string, 0, len(c.attrs))
	for k := range c.attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		rec.Attrs = append(rec.Attrs, &offboxv1.Attr{Key: k, Value: c.attrs[k]})
	}
	return rec
}

// TestReadableGolden: records prints each structured kind for a person
// (go test ./ingest/export -update rewrites testdata/readable.golden).
func TestReadableGolden(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	for i, c := range readableCases {
		b.WriteString("# " + c.name + "\n" + Readable(readableRecord(i)) + "\n")
	}
	golden := filepath.Join("testdata", "readable.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("Readable output differs from %s (run with -update after checking):\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

// TestReadableIsSafe: whatever the device sent, the text holds no control
// character but the newlines between lines and tabs, no C1 control or
// bidirectional override, and every line after a record's first starts
// with the indent, so no body can fake a record or drive the terminal.
func TestReadableIsSafe(t *testing.T) {
	t.Parallel()
	for i, c := range readableCases {
		got := Readable(readableRecord(i))
		for _, r := range got {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' {
				t.Errorf("%s: output holds %U:\n%q", c.name, r, got)
			}
		}
		lines := strings.Split(got, "\n")
		if !strings.HasPrefix(lines[0], "2026-12-06T23:00:") {
			t.Errorf("%s: first line %q, want it to start with the device time", c.name, lines[0])
		}
		for _, l := range lines[1:] {
			if !strings.HasPrefix(l, indent) {
				t.Errorf("%s: detail line %q does not start with %q", c.name, l, indent)
			}
		}
	}
}

// TestReadableShowsWhatMatters: the facts a person reads a record for are
// in its text.
func TestReadableShowsWhatMatters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want []string
	}{
		{"config modified with diff", []string{"config_change: /etc/ssh/sshd_config modified\n",
			"before: owner root (uid 0, gid 0), mode 0600, 129 bytes\n",
			"after:  owner root (uid 0, gid 0), mode 0644, 130 bytes, mtime 2026-12-06T22:59:58.5Z\n",
			"sha256: 0a1b2c3d4e5f → 9f8e7d6c5b4a\n", "\n" + indent + "-PermitRootLogin no\n" + indent + "+PermitRootLogin yes"}},
		{"config deleted, diff skipped", []string{"no diff: file larger than 1048576 bytes"}},
		{"password age", []string{"4 users, oldest password in use: root, 705 days", indent + "root    705 days (changed 2024-12-31)",
			indent + "daemon  no last-change date, locked", indent + "guest   5 days (changed 2026-12-01), NO PASSWORD",
			"must change at next login"}},
		{"heartbeat", []string{"heartbeat: agent 0.9.1, agent up 3h2m, host up 12d3h6m, queue 2.0 KiB, sent 1200 records in 80 batches, dropped 3 records (512 B), load 0.12 0.08 0.01, mem 412.0 MiB free of 1.0 GiB, rss 20.5 MiB, clock -1.2ms ± 400µs"}},
		{"boot", []string{"boot: firmware 12 (os-release), model QEMU Standard PC (Q35 + ICH9, 2009) (dmi), kernel 6.1.0-18-amd64",
			"os Debian GNU/Linux 12 (bookworm), booted 2026-11-24T21:46:40Z, secure boot disabled, kernel tainted PK, pstore holds 2 crash records"}},
		{"boot, little known", []string{"firmware unknown, model unknown, kernel unknown", "unavailable: /sys/firmware/efi: permission denied"}},
		{"hostile config change", []string{`"+\x1b[1A\x1b[2K2026-12-06T23:00:00.000000000Z router-1 file:/x fake"`, "(diff cut"}},
		{"config change body not JSON", []string{` watch:/etc/x "not json \x1b[31m"`}},
	}
	for _, tt := range tests {
		i := -1
		for j, c := range readableCases {
			if c.name == tt.name {
				i = j
			}
		}
		if i < 0 {
			t.Fatalf("no case %q", tt.name)
		}
		got := Readable(readableRecord(i))
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: got\n%s\nwant it to contain %q", tt.name, got, w)
			}
		}
	}
}

// FuzzReadable: no body or attribute a device sends makes Readable panic,
// print a control character, or start a line that looks like a record of
// its own.
func FuzzReadable(f *testing.F) {
	for _, c := range readableCases {
		f.Add(int32(c.kind), c.src, []byte(c.body), c.attrs["agent_version"])
	}
	f.Fuzz(func(t *testing.T, kind int32, src string, body []byte, attr string) {
		rec := &store.Record{Device: "d", Record: &offboxv1.Record{Kind: offboxv1.Kind(kind), Source: src, Body: body,
			Attrs: []*offboxv1.Attr{{Key: "agent_version", Value: attr}, {Key: "oldest_user", Value: attr}, {Key: "oldest_days", Value: attr}}}}
		got := Readable(rec)
		for _, r := range got {
			if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Fatalf("output holds %U: %q", r, got)
			}
		}
		for _, l := range strings.Split(got, "\n")[1:] {
			if !strings.HasPrefix(l, indent) {
				t.Fatalf("detail line %q does not start with the indent", l)
			}
		}
	})
}
