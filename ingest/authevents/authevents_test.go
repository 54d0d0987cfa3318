package authevents

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/seal"
)

var ctx = context.Background()

// base is the device time of the first line; the lines' own stamps agree.
var base = time.Date(2026, time.November, 22, 18, 0, 0, 0, time.UTC)

func logLine(sec int, body string) seal.WireRecord {
	return seal.WireRecord{TimeNs: base.Add(time.Duration(sec) * time.Second).UnixNano(), Kind: 1,
		Source: "file:/var/log/auth.log", Body: []byte(body)}
}

// fixture stores two devices' auth.log lines in a real SQLite store:
//
//	router-1 seq 1: failed password (sec 1), session opened (2), accepted publickey (3)
//	router-1 seq 2: repeated x3 failed password (10), a non-auth line (11), a heartbeat
//	switch-2 seq 1: failed password with an invalid UTF-8 user (20), a boot record whose body looks like one (21)
func fixture(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "e.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r1, s2 := batchtest.NewDevice("router-1"), batchtest.NewDevice("switch-2")
	batches := []struct {
		dev  *batchtest.Device
		recs []seal.WireRecord
	}{
		{r1, []seal.WireRecord{
			logLine(1, "Nov 22 18:00:01 router-1 sshd[77]: Failed password for root from 203.0.113.7 port 4242 ssh2"),
			logLine(2, "Nov 22 18:00:02 router-1 sshd[78]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"),
			logLine(3, "Nov 22 18:00:03 router-1 sshd[78]: Accepted publickey for deploy from 2001:db8::5 port 4243 ssh2: ED25519 SHA256:x"),
		}},
		{r1, []seal.WireRecord{
			logLine(10, "Nov 22 18:00:10 router-1 sshd[79]: message repeated 3 times: [ Failed password for admin from 198.51.100.9 port 5000 ssh2]"),
			logLine(11, "Nov 22 18:00:11 router-1 kernel: eth0: link up"),
			batchtest.Heartbeat(base.Add(12 * time.Second).UnixNano()),
		}},
		{s2, []seal.WireRecord{
			logLine(20, "Nov 22 18:00:20 switch-2 sshd[5]: Failed password for b\xffd from 192.0.2.1 port 1 ssh2"),
			{TimeNs: base.Add(21 * time.Second).UnixNano(), Kind: 2, Source: "boot",
				Body: []byte("Failed password for root from 203.0.113.7 port 4242 ssh2")},
		}},
	}
	for _, b := range batches {
		s := b.dev.Next(b.recs...)
		if err := st.CommitBatch(ctx, batchtest.Commit(b.dev.Name, s, s.Seq-1)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func scan(t *testing.T, r store.Reader, q Query) []Event {
	t.Helper()
	var out []Event
	for ev, err := range Scan(ctx, r, q) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// summary is an event as kind/device/user/count, for comparing lists.
func summary(evs []Event) string {
	var parts []string
	for _, e := range evs {
		parts = append(parts, e.Kind+"/"+e.Device+"/"+e.User+"/"+string(rune('0'+e.Count)))
	}
	return strings.Join(parts, " ")
}

// TestScanFilters: every log line that authlog recognises, and only those,
// comes back once per filter, in store order.
func TestScanFilters(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	tests := []struct {
		name string
		q    Query
		want string
	}{
		{"all", Query{}, "auth_failure/router-1/root/1 auth_success/router-1/deploy/1 auth_failure/router-1/admin/3 auth_failure/switch-2/b\uFFFDd/1"},
		{"device", Query{Device: "switch-2"}, "auth_failure/switch-2/b\uFFFDd/1"},
		{"unknown device", Query{Device: "nobody"}, ""},
		{"kind failure", Query{Kind: "auth_failure"}, "auth_failure/router-1/root/1 auth_failure/router-1/admin/3 auth_failure/switch-2/b\uFFFDd/1"},
		{"kind success", Query{Kind: "auth_success"}, "auth_success/router-1/deploy/1"},
		{"kind none stored", Query{Kind: "account_added"}, ""},
		{"since", Query{Since: base.Add(3 * time.Second)}, "auth_success/router-1/deploy/1 auth_failure/router-1/admin/3 auth_failure/switch-2/b\uFFFDd/1"},
		{"until", Query{Until: base.Add(3 * time.Second)}, "auth_failure/router-1/root/1"},
		{"since and until", Query{Since: base.Add(2 * time.Second), Until: base.Add(20 * time.Second)}, "auth_success/router-1/deploy/1 auth_failure/router-1/admin/3"},
		{"limit", Query{Limit: 2}, "auth_failure/router-1/root/1 auth_success/router-1/deploy/1"},
		{"limit after filter", Query{Kind: "auth_failure", Limit: 2}, "auth_failure/router-1/root/1 auth_failure/router-1/admin/3"},
	}
	for _, tt := range tests {
		if got := summary(scan(t, st, tt.q)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestScanFields: every field of an event, including where it is stored.
func TestScanFields(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	evs := scan(t, st, Query{Device: "router-1"})
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3", len(evs))
	}
	want := []Event{
		{Kind: "auth_failure", User: "root", Source: "203.0.113.7", Method: "password", Count: 1, Program: "sshd",
			Device: "router-1", DeviceTime: base.Add(time.Second), LineTime: base.Add(time.Second), Seq: 1, Index: 0,
			Body: []byte("Nov 22 18:00:01 router-1 sshd[77]: Failed password for root from 203.0.113.7 port 4242 ssh2")},
		{Kind: "auth_success", User: "deploy", Source: "2001:db8::5", Method: "publickey", Count: 1, Program: "sshd",
			Device: "router-1", DeviceTime: base.Add(3 * time.Second), LineTime: base.Add(3 * time.Second), Seq: 1, Index: 2},
		{Kind: "auth_failure", User: "admin", Source: "198.51.100.9", Method: "password", Count: 3, Program: "sshd",
			Device: "router-1", DeviceTime: base.Add(10 * time.Second), LineTime: base.Add(10 * time.Second), Seq: 2, Index: 0},
	}
	for i, w := range want {
		g := evs[i]
		if g.Kind != w.Kind || g.User != w.User || g.Source != w.Source || g.Method != w.Method || g.Count != w.Count ||
			g.Program != w.Program || g.Device != w.Device || !g.DeviceTime.Equal(w.DeviceTime) ||
			!g.LineTime.Equal(w.LineTime) || g.Seq != w.Seq || g.Index != w.Index || g.Received.IsZero() {
			t.Errorf("event %d = %+v\nwant %+v", i, g, w)
		}
		if w.Body != nil && !bytes.Equal(g.Body, w.Body) {
			t.Errorf("event %d body = %q, want %q", i, g.Body, w.Body)
		}
	}
}

func TestScanUnknownKind(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	for _, err := range Scan(ctx, st, Query{Kind: "login"}) {
		if err == nil || !strings.Contains(err.Error(), `"login"`) || !strings.Contains(err.Error(), "auth_failure, auth_success, password_change") {
			t.Errorf("unknown kind: err %v, want one naming the kind and listing the valid ones", err)
		}
		return
	}
	t.Error("unknown kind yielded nothing, want an error")
}

// TestWriteJSON: the JSON form has every field under its documented name,
// and an invalid UTF-8 body goes out as base64, as records -json does.
func TestWriteJSON(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	var buf bytes.Buffer
	n, err := Write(ctx, st, Query{}, export.FormatJSON, &buf)
	if err != nil || n != 4 {
		t.Fatalf("Write: %d, %v; want 4 events", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"kind": "auth_failure", "user": "root", "source_address": "203.0.113.7", "method": "password",
		"count": 1.0, "program": "sshd", "uid": "", "device": "router-1", "device_time": "2026-11-22T18:00:01.000000000Z",
		"line_time": "2026-11-22T18:00:01.000000000Z", "seq": 1.0, "index": 0.0,
		"body": "Nov 22 18:00:01 router-1 sshd[77]: Failed password for root from 203.0.113.7 port 4242 ssh2"}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %#v, want %#v", k, first[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, first["received_time"].(string)); err != nil {
		t.Errorf("received_time %v: %v", first["received_time"], err)
	}
	var last JSON
	if err := json.Unmarshal([]byte(lines[3]), &last); err != nil {
		t.Fatal(err)
	}
	if last.Body != nil || last.BodyEncoding != "base64" || last.BodyBase64 == "" {
		t.Errorf("invalid UTF-8 line: body %v, encoding %q, base64 %q; want base64 only", last.Body, last.BodyEncoding, last.BodyBase64)
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	var buf bytes.Buffer
	if _, err := Write(ctx, st, Query{Device: "router-1"}, export.FormatText, &buf); err != nil {
		t.Fatal(err)
	}
	want := "2026-11-22T18:00:01.000000000Z router-1 auth_failure user=root source=203.0.113.7 method=password count=1 program=sshd\n" +
		"2026-11-22T18:00:03.000000000Z router-1 auth_success user=deploy source=2001:db8::5 method=publickey count=1 program=sshd\n" +
		"2026-11-22T18:00:10.000000000Z router-1 auth_failure user=admin source=198.51.100.9 method=password count=3 program=sshd\n"
	if buf.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", buf.String(), want)
	}
	if got := Text(&Event{Kind: "auth_failure", User: "test user", Count: 1}); !strings.Contains(got, `user="test user"`) {
		t.Errorf("a user with a space: %q, want it quoted", got)
	}
}
