package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/seal"
)

var (
	ctx  = context.Background()
	base = time.Date(2026, time.November, 22, 18, 0, 0, 0, time.UTC)
	now  = base.Add(time.Hour) // the collector clock during requests
)

const (
	failedLine   = "Nov 22 18:00:01 router-1 sshd[77]: Failed password for root from 203.0.113.7 port 4242 ssh2"
	acceptedLine = "Nov 22 18:00:03 router-1 sshd[78]: Accepted publickey for deploy from 2001:db8::5 port 4243 ssh2: ED25519 SHA256:x"
)

func logLine(sec int, body string) seal.WireRecord {
	return seal.WireRecord{TimeNs: base.Add(time.Duration(sec) * time.Second).UnixNano(), Kind: 1,
		Source: "file:/var/log/auth.log", Body: []byte(body)}
}

// fixture is a real SQLite store holding router-1's auth lines (seq 1),
// switch-2's (seq 1) and three alerts:
//
//	1 auth_failure warning  router-1 labels site=ams,env=prod  last base+1s  evidence router-1/1/0
//	2 auth_success info     router-1 labels site=ams           last base+3s  evidence router-1/1/2, router-1/9/0 (not stored)
//	3 fork         critical switch-2 labels site=fra           last base+20s evidence switch-2/1/-1
func fixture(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r1, s2 := batchtest.NewDevice("router-1"), batchtest.NewDevice("switch-2")
	for _, b := range []struct {
		dev  *batchtest.Device
		recs []seal.WireRecord
	}{
		{r1, []seal.WireRecord{logLine(1, failedLine), logLine(2, "Nov 22 18:00:02 router-1 kernel: eth0: link up"), logLine(3, acceptedLine)}},
		{s2, []seal.WireRecord{logLine(20, "Nov 22 18:00:20 switch-2 sshd[5]: Failed password for admin from 192.0.2.1 port 1 ssh2")}},
	} {
		s := b.dev.Next(b.recs...)
		if err := st.CommitBatch(ctx, batchtest.Commit(b.dev.Name, s, s.Seq-1)); err != nil {
			t.Fatal(err)
		}
	}
	alerts := []store.Alert{
		{GroupID: "g1", Kind: "auth_failure", Severity: store.SeverityWarning, Device: "router-1", Key: "root@203.0.113.7",
			Summary: "failed password for root", Fields: map[string]string{"user": "root"}, Labels: map[string]string{"site": "ams", "env": "prod"},
			First: base.Add(time.Second), Last: base.Add(time.Second), Count: 1, Evidence: []store.AlertRef{{Device: "router-1", Seq: 1, Index: 0}}},
		{GroupID: "g2", Kind: "auth_success", Severity: store.SeverityInfo, Device: "router-1", Key: "deploy",
			Summary: "deploy logged in", Labels: map[string]string{"site": "ams"},
			First: base.Add(3 * time.Second), Last: base.Add(3 * time.Second), Count: 1,
			Evidence: []store.AlertRef{{Device: "router-1", Seq: 1, Index: 2}, {Device: "router-1", Seq: 9, Index: 0}}},
		{GroupID: "g3", Kind: "fork", Severity: store.SeverityCritical, Device: "switch-2", Key: "1",
			Summary: "chain fork", Labels: map[string]string{"site": "fra"},
			First: base.Add(20 * time.Second), Last: base.Add(20 * time.Second), Count: 2,
			Evidence: []store.AlertRef{{Device: "switch-2", Seq: 1, Index: -1}}},
	}
	save := store.AlertSave{Now: base.Add(30 * time.Second)}
	for _, a := range alerts {
		a.FirstReceived, a.LastReceived = a.First, a.Last // honest clocks
		save.Alerts = append(save.Alerts, store.AlertUpsert{Alert: a})
	}
	if err := st.SaveAlerts(ctx, save); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []struct {
		text, name string
		expires    time.Time
	}{{aliceToken, "alice", time.Time{}}, {expiredToken, "bob", now}} {
		sum := sha256.Sum256([]byte(tok.text))
		if err := st.CreateOperatorToken(ctx, store.OperatorToken{Hash: sum[:], Name: tok.name, Created: base, Expires: tok.expires}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// Operator tokens of the fixture: alice's never expires, bob's expires at now.
const (
	aliceToken   = "obo_alice-test-token"
	expiredToken = "obo_bob-expired-token"
)

func newHandler(st Store) http.Handler {
	return New(Config{Store: st, Now: func() time.Time { return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// get runs one request and decodes the JSON answer into v (when not nil).
func get(t *testing.T, h http.Handler, method, target string, v any) int {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "192.0.2.50:40000"
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, target, ct)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %v in %q", method, target, err, rec.Body.String())
		}
	}
	return rec.Code
}

func accesses(t *testing.T, st store.AlertStore) []store.Access {
	t.Helper()
	as, err := st.AccessesAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestAlertsByReceivedTime: /api/v1/alerts orders and windows alerts by
// when the collector received them; a device dating its alerts 2076 is
// neither first nor "in the last 30 minutes" for 50 years, and the
// JSON carries both times.
func TestAlertsByReceivedTime(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	future := base.AddDate(50, 0, 0)
	liar := store.Alert{GroupID: "liar", Kind: "auth_failure", Severity: store.SeverityInfo, Device: "router-9", Key: "root",
		Summary: "failed password for root", First: future, Last: future, Count: 600,
		FirstReceived: base.Add(9 * time.Second), LastReceived: base.Add(10 * time.Second)}
	if err := st.SaveAlerts(ctx, store.AlertSave{Now: base.Add(time.Minute), Alerts: []store.AlertUpsert{{Alert: liar}}}); err != nil {
		t.Fatal(err)
	}
	h := newHandler(st)
	for _, tt := range []struct{ query, want string }{
		{"", "g3 liar g2 g1"},
		{"limit=1", "g3"},
		{"since=2026-11-22T18:00:15Z", "g3"},
		{"since=30m", ""},
	} {
		var resp struct {
			Alerts []AlertView `json:"alerts"`
		}
		if code := get(t, h, "GET", "/api/v1/alerts?"+tt.query, &resp); code != 200 {
			t.Fatalf("%q: status %d", tt.query, code)
		}
		var ids []string
		for _, a := range resp.Alerts {
			ids = append(ids, a.GroupID)
			if a.GroupID == "liar" && (a.Last != "2076-11-22T18:00:00.000000000Z" || a.LastReceived != "2026-11-22T18:00:10.000000000Z") {
				t.Errorf("liar: last %q last_received %q", a.Last, a.LastReceived)
			}
		}
		if got := strings.Join(ids, " "); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.query, got, tt.want)
		}
	}
}

func TestAlertsFilters(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	tests := []struct {
		query string
		want  string // group ids, newest Last first
	}{
		{"", "g3 g2 g1"},
		{"device=router-1", "g2 g1"},
		{"kind=fork", "g3"},
		{"severity=warning", "g3 g1"},
		{"severity=critical", "g3"},
		{"label=site=ams", "g2 g1"},
		{"label=site=ams&label=env=prod", "g1"},
		{"label=site=nowhere", ""},
		{"since=2026-11-22T18:00:03Z", "g3 g2"},
		{"until=2026-11-22T18:00:03Z", "g1"},
		{"since=90m", "g3 g2 g1"}, // relative to the injected clock
		{"since=30m", ""},
		{"limit=2", "g3 g2"},
	}
	for _, tt := range tests {
		var resp struct {
			Alerts    []AlertView `json:"alerts"`
			Truncated bool        `json:"truncated"`
		}
		if code := get(t, h, "GET", "/api/v1/alerts?"+tt.query, &resp); code != 200 {
			t.Errorf("%q: status %d", tt.query, code)
			continue
		}
		var ids []string
		for _, a := range resp.Alerts {
			ids = append(ids, a.GroupID)
		}
		if got := strings.Join(ids, " "); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.query, got, tt.want)
		}
		if wantTrunc := tt.query == "limit=2"; resp.Truncated != wantTrunc {
			t.Errorf("%q: truncated %v, want %v", tt.query, resp.Truncated, wantTrunc)
		}
	}
}

// TestAlertJSONShape: the field names clients rely on, and evidence
// records only on request.
func TestAlertJSONShape(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	var raw struct {
		Alerts []map[string]any `json:"alerts"`
	}
	if code := get(t, h, "GET", "/api/v1/alerts?device=router-1&kind=auth_failure", &raw); code != 200 || len(raw.Alerts) != 1 {
		t.Fatalf("status %d, %d alerts", code, len(raw.Alerts))
	}
	a := raw.Alerts[0]
	for _, k := range []string{"id", "group_id", "kind", "severity", "device", "key", "summary", "fields", "labels",
		"first", "last", "count", "created", "updated", "evidence"} {
		if _, ok := a[k]; !ok {
			t.Errorf("alert has no %q: %v", k, a)
		}
	}
	if a["last"] != "2026-11-22T18:00:01.000000000Z" || a["created"] != "2026-11-22T18:00:30.000000000Z" || a["count"] != 1.0 {
		t.Errorf("times/count: last %v created %v count %v", a["last"], a["created"], a["count"])
	}
	ev := a["evidence"].([]any)[0].(map[string]any)
	if ev["device"] != "router-1" || ev["seq"] != 1.0 || ev["index"] != 0.0 || ev["record"] != nil {
		t.Errorf("evidence without evidence=1: %v", ev)
	}

	var full struct {
		Alerts []AlertView `json:"alerts"`
	}
	if code := get(t, h, "GET", "/api/v1/alerts?evidence=1", &full); code != 200 || len(full.Alerts) != 3 {
		t.Fatalf("evidence=1: status %d, %d alerts", code, len(full.Alerts))
	}
	byGroup := map[string]AlertView{}
	for _, v := range full.Alerts {
		byGroup[v.GroupID] = v
	}
	g1, g2, g3 := byGroup["g1"].Evidence, byGroup["g2"].Evidence, byGroup["g3"].Evidence
	if len(g1) != 1 || g1[0].Record == nil || g1[0].Record.Body == nil || *g1[0].Record.Body != failedLine ||
		g1[0].Record.DeviceTime != "2026-11-22T18:00:01.000000000Z" {
		t.Errorf("g1 evidence = %+v, want the failed-password line", g1)
	}
	if len(g2) != 2 || g2[0].Record == nil || *g2[0].Record.Body != acceptedLine || g2[1].Record != nil || !g2[1].Missing {
		t.Errorf("g2 evidence = %+v, want the accepted line and a missing ref", g2)
	}
	if len(g3) != 1 || g3[0].Record != nil || g3[0].Missing || g3[0].Index != -1 {
		t.Errorf("g3 evidence = %+v, want the batch ref alone", g3)
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	tests := []struct {
		query string
		want  string // kind/device/user
	}{
		{"", "auth_failure/router-1/root auth_success/router-1/deploy auth_failure/switch-2/admin"},
		{"device=switch-2", "auth_failure/switch-2/admin"},
		{"kind=auth_success", "auth_success/router-1/deploy"},
		{"since=2026-11-22T18:00:02Z&until=2026-11-22T18:00:20Z", "auth_success/router-1/deploy"},
		{"limit=1", "auth_failure/router-1/root"},
	}
	for _, tt := range tests {
		var resp struct {
			Events    []map[string]any `json:"events"`
			Truncated bool             `json:"truncated"`
		}
		if code := get(t, h, "GET", "/api/v1/events?"+tt.query, &resp); code != 200 {
			t.Errorf("%q: status %d", tt.query, code)
			continue
		}
		var got []string
		for _, e := range resp.Events {
			got = append(got, e["kind"].(string)+"/"+e["device"].(string)+"/"+e["user"].(string))
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%q: got %q, want %q", tt.query, strings.Join(got, " "), tt.want)
		}
		if wantTrunc := tt.query == "limit=1"; resp.Truncated != wantTrunc {
			t.Errorf("%q: truncated %v, want %v", tt.query, resp.Truncated, wantTrunc)
		}
	}
	var resp struct {
		Events []map[string]any `json:"events"`
	}
	get(t, h, "GET", "/api/v1/events?limit=1", &resp)
	if e := resp.Events[0]; e["source_address"] != "203.0.113.7" || e["method"] != "password" || e["body"] != failedLine ||
		e["device_time"] != "2026-11-22T18:00:01.000000000Z" || e["seq"] != 1.0 || e["index"] != 0.0 {
		t.Errorf("event = %v", e)
	}
}

func TestDevices(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	var resp struct {
		Devices []DeviceView `json:"devices"`
	}
	if code := get(t, h, "GET", "/api/v1/devices", &resp); code != 200 || len(resp.Devices) != 2 {
		t.Fatalf("status %d, devices %+v", code, resp.Devices)
	}
	for _, d := range resp.Devices {
		if d.Head.Seq != 1 || len(d.Head.Hash) != 64 || d.LastSeen == "" || d.FirstSeen == "" {
			t.Errorf("device %+v, want head 1 with a hex hash and times", d)
		}
	}
	if resp.Devices[0].Name != "router-1" || resp.Devices[1].Name != "switch-2" {
		t.Errorf("devices %s, %s", resp.Devices[0].Name, resp.Devices[1].Name)
	}
}

// TestBadRequests: each mistake is a 400 naming the parameter, and reads
// (and records) nothing.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	tests := []struct{ target, want string }{
		{"/api/v1/alerts?limit=0", "limit"},
		{"/api/v1/alerts?limit=100001", "limit"},
		{"/api/v1/events?limit=x", "limit"},
		{"/api/v1/alerts?since=yesterday", "since"},
		{"/api/v1/events?until=soon", "until"},
		{"/api/v1/alerts?severity=high", "severity"},
		{"/api/v1/alerts?label=site", "label"},
		{"/api/v1/alerts?label==ams", "label"},
		{"/api/v1/alerts?evidence=maybe", "evidence"},
		{"/api/v1/events?kind=login", "kind"},
		{"/api/v1/alerts?devcie=router-1", "devcie"},
		{"/api/v1/events?device=a&device=b", "device"},
		{"/api/v1/devices?x=1", "x"},
		{"/api/v1/alerts?a=%zz", "query"},
		{"/api/v1/alerts?label=%00=x", "label"},
	}
	for _, tt := range tests {
		var resp struct{ Error string }
		if code := get(t, h, "GET", tt.target, &resp); code != 400 || !strings.Contains(resp.Error, tt.want) {
			t.Errorf("%s: status %d, error %q; want 400 naming %q", tt.target, code, resp.Error, tt.want)
		}
	}
	if n := len(accesses(t, st)); n != 0 {
		t.Errorf("%d accesses recorded for bad requests, want 0", n)
	}
}

func TestMethodsAndPaths(t *testing.T) {
	t.Parallel()
	h := newHandler(fixture(t))
	for _, m := range []string{"POST", "PUT", "DELETE", "HEAD"} {
		req := httptest.NewRequest(m, "/api/v1/alerts", nil)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 405 || rec.Header().Get("Allow") != "GET" {
			t.Errorf("%s: status %d, Allow %q; want 405 allowing GET", m, rec.Code, rec.Header().Get("Allow"))
		}
	}
	if code := get(t, h, "GET", "/api/v1/nothing", nil); code != 404 {
		t.Errorf("unknown path: status %d, want 404", code)
	}
}

// TestEveryReadIsRecorded: one access per request, recorded with who,
// from where and what, before the read.
func TestEveryReadIsRecorded(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	targets := []string{"/api/v1/alerts?device=router-1&label=site=ams", "/api/v1/events", "/api/v1/devices"}
	for _, target := range targets {
		if code := get(t, h, "GET", target, nil); code != 200 {
			t.Fatalf("%s: status %d", target, code)
		}
	}
	as := accesses(t, st)
	if len(as) != len(targets) {
		t.Fatalf("%d accesses, want %d: %+v", len(as), len(targets), as)
	}
	for i, a := range as {
		if a.Who != "token:alice" || a.Via != "api" || a.Remote != "192.0.2.50:40000" || a.What != "GET "+targets[i] || !a.Time.Equal(now) {
			t.Errorf("access %d = %+v, want token:alice via api from 192.0.2.50:40000 at %v doing GET %s", i, a, now, targets[i])
		}
	}
}

// unaudited is a store whose access trail fails; it counts reads.
type unaudited struct {
	Store
	reads int
}

func (u *unaudited) RecordAccess(context.Context, store.Access) error { return errors.New("disk full") }

func (u *unaudited) Alerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	u.reads++
	return u.Store.Alerts(ctx, q)
}

func (u *unaudited) Devices(ctx context.Context) ([]store.Device, error) {
	u.reads++
	return u.Store.Devices(ctx)
}

func (u *unaudited) Records(ctx context.Context, q store.RecordQuery) iter.Seq2[store.Record, error] {
	u.reads++
	return u.Store.Records(ctx, q)
}

// TestNoUnauditedRead: when the access cannot be recorded the request
// fails with 503 and the store is not read.
func TestNoUnauditedRead(t *testing.T) {
	t.Parallel()
	u := &unaudited{Store: fixture(t)}
	h := newHandler(u)
	for _, target := range []string{"/api/v1/alerts", "/api/v1/events", "/api/v1/devices"} {
		var resp struct{ Error string }
		if code := get(t, h, "GET", target, &resp); code != 503 || !strings.Contains(resp.Error, "could not be recorded") {
			t.Errorf("%s: status %d, error %q; want 503", target, code, resp.Error)
		}
	}
	if u.reads != 0 {
		t.Errorf("%d reads with the access trail down, want 0", u.reads)
	}
}
