package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/alerts"
	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

var (
	ctx = context.Background()
	now = time.Date(2026, time.November, 22, 19, 0, 0, 0, time.UTC) // the collector clock during requests
)

const aliceToken = "obo_alice-test-token"

func rec(at time.Time, kind uint32, source, body string, attrs ...string) batchtest.WireRecord {
	r := batchtest.WireRecord{TimeNs: at.UnixNano(), Kind: kind, Source: source, Body: []byte(body)}
	for i := 0; i+1 < len(attrs); i += 2 {
		r.Attrs = append(r.Attrs, batchtest.WireAttr{Key: attrs[i], Value: attrs[i+1]})
	}
	return r
}

// Record kinds (offbox.v1.Kind).
const (
	kLog, kBoot, kHeartbeat, kClock, kConfig, kPassword = 1, 2, 3, 4, 5, 6
)

const clockBodyJSON = `{"ok":true,"offset_ns":1500000,"servers":[{"address":"10.0.0.1:123","state":"truechimer","samples":4,"offset_ns":1400000},{"address":"10.0.0.2:123","state":"truechimer","samples":4,"offset_ns":1600000},{"address":"10.0.0.9:123","state":"unreachable","samples":0}]}`

// configBodyJSON is a config_change body as collectors/watch writes it for
// a path in diff_paths, with a line that holds markup and a terminal escape.
const configBodyJSON = `{"path":"/etc/ssh/sshd_config","change":"modified","old_sha256":"aa","new_sha256":"bb","diff":"--- a/etc/ssh/sshd_config\n+++ b/etc/ssh/sshd_config\n@@ -1,2 +1,2 @@\n Port 22\n-PermitRootLogin no\n+PermitRootLogin yes\n+Banner <script>x()</script>\u001b[2J\n","diff_truncated":false}`

// fixture is a real SQLite store holding:
//
//	router-1 (site=ams role=router): boots of firmware 7.14 then 7.12 (a
//	  downgrade), a heartbeat 10 s ago (healthy), two clock records,
//	  three log lines, a config and a password change; 2 open alerts.
//	switch-2 (site=fra role=switch): a heartbeat 60 s ago, every 15 s
//	  (late); a fork alert 30 h old (not open).
//	ap-3 (site=ams role=ap): one log line, no heartbeat (silent).
func fixture(t testing.TB) *sqlite.Store {
	t.Helper()
	db := filepath.Join(t.TempDir(), "w.db")
	st, err := sqlite.Open(db, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r1, s2, a3 := batchtest.NewDevice("router-1"), batchtest.NewDevice("switch-2"), batchtest.NewDevice("ap-3")
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, b := range []struct {
		dev      *batchtest.Device
		received time.Time
		recs     []batchtest.WireRecord
	}{
		{r1, ago(50 * time.Minute), []batchtest.WireRecord{rec(ago(50*time.Minute), kBoot, "boot", "", "boot_id", "b-one", "firmware_version", "7.14", "kernel_release", "6.1.0")}},
		{r1, ago(40 * time.Minute), []batchtest.WireRecord{rec(ago(40*time.Minute), kBoot, "boot", "", "boot_id", "b-two", "firmware_version", "7.12", "kernel_release", "6.1.0")}},
		{r1, ago(10 * time.Second), []batchtest.WireRecord{
			rec(ago(11*time.Second), kHeartbeat, "heartbeat", "", "agent_version", "1.2.3", "heartbeat_interval", "15s", "boot_id", "b-two"),
			rec(ago(20*time.Minute), kClock, "clock", clockBodyJSON, "offset_ns", "1400000", "error_bound_ns", "300000"),
			rec(ago(12*time.Second), kClock, "clock", clockBodyJSON, "offset_ns", "1500000", "error_bound_ns", "200000"),
			rec(ago(30*time.Second), kLog, "file:/var/log/auth.log", "sshd[1]: Failed password for ROOT from 203.0.113.7"),
			rec(ago(29*time.Second), kLog, "file:/var/log/auth.log", "<script>alert(1)</script>"),
			rec(ago(28*time.Second), kLog, "file:/var/log/messages", "kernel: eth0 link up"),
			rec(ago(27*time.Second), kConfig, "watch", configBodyJSON, "path", "/etc/ssh/sshd_config", "old_sha256", strings.Repeat("a", 64), "new_sha256", strings.Repeat("b", 64)),
			rec(ago(26*time.Second), kPassword, "watch", "", "user", "alice"),
		}},
		{s2, ago(60 * time.Second), []batchtest.WireRecord{rec(ago(61*time.Second), kHeartbeat, "heartbeat", "", "agent_version", "1.2.2", "heartbeat_interval", "15s")}},
		{a3, ago(2 * time.Hour), []batchtest.WireRecord{rec(ago(2*time.Hour), kLog, "file:/var/log/messages", "hello")}},
	} {
		s := b.dev.Next(b.recs...)
		c := batchtest.Commit(b.dev.Name, s, s.Seq-1)
		c.Received = b.received
		if err := st.CommitBatch(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	alerts := []store.Alert{
		{GroupID: "g1", Kind: "brute_force", Severity: store.SeverityWarning, Device: "router-1", Key: "203.0.113.7",
			Summary: "brute force from 203.0.113.7", Labels: labelsOf["router-1"], First: ago(6 * time.Minute), Last: ago(5 * time.Minute),
			Count: 5, Evidence: []store.AlertRef{{Device: "router-1", Seq: 3, Index: 3}}},
		{GroupID: "g2", Kind: "auth_failure", Severity: store.SeverityInfo, Device: "router-1", Key: "root",
			Summary: "failed password for root", Labels: labelsOf["router-1"], First: ago(30 * time.Minute), Last: ago(30 * time.Minute),
			Count: 1, Evidence: []store.AlertRef{{Device: "router-1", Seq: 3, Index: 3}}},
		{GroupID: "g3", Kind: "fork", Severity: store.SeverityCritical, Device: "switch-2", Key: "1",
			Summary: "chain fork", Labels: labelsOf["switch-2"], First: ago(30 * time.Hour), Last: ago(30 * time.Hour), Count: 2,
			Evidence: []store.AlertRef{{Device: "switch-2", Seq: 1, Index: -1}}},
	}
	save := store.AlertSave{Now: now}
	for _, a := range alerts {
		a.FirstReceived, a.LastReceived = a.First, a.Last // honest clocks
		save.Alerts = append(save.Alerts, store.AlertUpsert{Alert: a})
	}
	if err := st.SaveAlerts(ctx, save); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(aliceToken))
	if err := st.CreateOperatorToken(ctx, store.OperatorToken{Hash: sum[:], Name: "alice", Created: now}); err != nil {
		t.Fatal(err)
	}
	return st
}

var labelsOf = map[string]map[string]string{
	"router-1": {"site": "ams", "role": "router"},
	"switch-2": {"site": "fra", "role": "switch"},
	"ap-3":     {"site": "ams", "role": "ap"},
}

func newHandler(st api.Store) http.Handler {
	clock := func() time.Time { return now }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	labels := &alerts.LabelCache{Store: st, Now: clock, Configured: func(d string) map[string]string { return labelsOf[d] }}
	return New(Config{Store: st, Auth: &api.Auth{Store: st, Now: clock, Logger: quiet}, Now: clock, Logger: quiet, Labels: labels.Labels})
}

// do runs one request as a browser; token "" sends no credential.
func do(t *testing.T, h http.Handler, method, target, token string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.RemoteAddr = "192.0.2.9:5000"
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func accesses(t *testing.T, st store.AlertStore) []store.Access {
	t.Helper()
	as, err := st.AccessesAfter(ctx, 0, 1000)
	if err != nil || len(as) == 1000 {
		t.Fatalf("access trail: %d rows, %v", len(as), err)
	}
	return as
}

// rowRE finds a fleet row's device, status and open alert count.
var rowRE = regexp.MustCompile(`(?s)<tr data-device="([^"]+)" class="status-(\w+)">.*?<td class="num open-alerts"><a [^>]*>(\d+)</a>`)

func fleetRows(body string) map[string]string {
	out := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2] + " " + m[3]
	}
	return out
}

// TestFleet: every device with its status by heartbeat age and interval,
// its open alerts (last 24 h), agent, firmware and clock; the label
// filter keeps only matching devices; each read is audited by name.
func TestFleet(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	rec := do(t, h, "GET", "/", aliceToken)
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	want := map[string]string{"router-1": "healthy 2", "switch-2": "late 0", "ap-3": "silent 0"}
	got := fleetRows(body)
	if len(got) != len(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	for d, w := range want {
		if got[d] != w {
			t.Errorf("%s: status and open alerts %q, want %q", d, got[d], w)
		}
	}
	for _, s := range []string{`<span id="device-count">3</span> of 3 devices`, "1.2.3", "7.12", "1.5ms ± 200µs", "role=router"} {
		if !strings.Contains(body, s) {
			t.Errorf("fleet page lacks %q", s)
		}
	}

	rec = do(t, h, "GET", "/?label=site%3Dams&sort=-name", aliceToken)
	got = fleetRows(rec.Body.String())
	if len(got) != 2 || got["router-1"] == "" || got["ap-3"] == "" {
		t.Errorf("label site=ams: rows %v, want router-1 and ap-3", got)
	}
	if i, j := strings.Index(rec.Body.String(), `data-device="router-1"`), strings.Index(rec.Body.String(), `data-device="ap-3"`); i > j {
		t.Errorf("sort=-name: router-1 at %d after ap-3 at %d", i, j)
	}
	as := accesses(t, st)
	if len(as) != 2 || as[0].Who != "token:alice" || as[0].Via != Via || as[0].What != "GET /" ||
		as[1].What != "GET /?label=site%3Dams&sort=-name" || as[1].Remote != "192.0.2.9:5000" {
		t.Errorf("accesses %+v, want alice's two reads via dashboard", as)
	}
}

// TestAlertsView: filters by kind, label, device and range, grouping
// counts, and links to the evidence.
func TestAlertsView(t *testing.T) {
	t.Parallel()
	h := newHandler(fixture(t))
	tests := []struct {
		target string
		count  int
		has    []string
	}{
		{"/alerts", 2, []string{`<tr data-kind="brute_force"><td>brute_force</td><td class="num">1</td><td class="num">5</td>`,
			`href="/records/router-1/3/3"`}},
		{"/alerts?range=168h", 3, []string{`<tr data-severity="critical">`, `href="/devices/switch-2">batch 1</a>`, `<rect class="bar" data-count="2"`}},
		{"/alerts?range=1h&kind=auth_failure", 1, []string{"failed password for root"}},
		{"/alerts?range=168h&label=site%3Dfra", 1, []string{"chain fork"}},
		{"/alerts?range=168h&severity=warning", 2, nil},
		{"/alerts?device=switch-2", 0, []string{"No alert matches."}},
		{"/alerts?range=custom&since=2026-11-21T12:00&until=2026-11-21T14:00", 1, []string{"chain fork"}},
	}
	for _, tt := range tests {
		rec := do(t, h, "GET", tt.target, aliceToken)
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Errorf("%s: status %d", tt.target, rec.Code)
			continue
		}
		m := regexp.MustCompile(`<span id="alert-count">(\d+)</span>`).FindStringSubmatch(body)
		if m == nil || m[1] != itoa(tt.count) {
			t.Errorf("%s: alert count %v, want %d", tt.target, m, tt.count)
		}
		for _, s := range tt.has {
			if !strings.Contains(body, s) {
				t.Errorf("%s: page lacks %q", tt.target, s)
			}
		}
	}
	for _, bad := range []string{"/alerts?severity=loud", "/alerts?range=2y", "/alerts?range=custom&since=yesterday", "/alerts?label=nokey"} {
		if rec := do(t, h, "GET", bad, aliceToken); rec.Code != 400 || !strings.Contains(rec.Body.String(), "<h1>400") {
			t.Errorf("%s: %d, want a 400 page", bad, rec.Code)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestAlertsByReceivedTime: a device whose clock says 2076 neither stays
// in "last hour" nor tops the list above alerts received after its own;
// its device time is shown beside the receive time, and the fleet's
// open alerts count it by when it arrived.
func TestAlertsByReceivedTime(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	liar := store.Alert{GroupID: "liar", Kind: "auth_failure", Severity: store.SeverityInfo, Device: "ap-3", Key: "root",
		Summary: "failed password for root", First: now.AddDate(50, 0, 0), Last: now.AddDate(50, 0, 0), Count: 600,
		FirstReceived: now.Add(-3 * time.Hour), LastReceived: now.Add(-2 * time.Hour)}
	if err := st.SaveAlerts(ctx, store.AlertSave{Now: now, Alerts: []store.AlertUpsert{{Alert: liar}}}); err != nil {
		t.Fatal(err)
	}
	h := newHandler(st)
	count := func(body string) string {
		m := regexp.MustCompile(`<span id="alert-count">(\d+)</span>`).FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return m[1]
	}
	body := do(t, h, "GET", "/alerts?range=1h", aliceToken).Body.String()
	if got := count(body); got != "2" || strings.Contains(body, `data-device="ap-3"`) {
		t.Errorf("last hour: %s alerts (ap-3 listed: %v), want 2 without the device dated 2076", got, strings.Contains(body, `data-device="ap-3"`))
	}
	body = do(t, h, "GET", "/alerts", aliceToken).Body.String()
	if got := count(body); got != "3" {
		t.Errorf("last day: %s alerts, want 3", got)
	}
	rows := regexp.MustCompile(`<tr data-kind="[a-z_]+" data-device="([a-z0-9-]+)">`).FindAllStringSubmatch(body, -1)
	var order []string
	for _, r := range rows {
		order = append(order, r[1])
	}
	if want := []string{"router-1", "router-1", "ap-3"}; !slices.Equal(order, want) {
		t.Errorf("last day: rows by device %v, want %v (newest received first)", order, want)
	}
	liarRow := `<td class="received">` + now.Add(-2*time.Hour).UTC().Format("2006-01-02 15:04:05Z") + "</td>\n" +
		`<td class="device-time">` + now.AddDate(50, 0, 0).UTC().Format("2006-01-02 15:04:05Z") + "</td>"
	if !strings.Contains(body, liarRow) {
		t.Errorf("alerts page lacks the receive time with the device time beside it: %q", liarRow)
	}
	if got := fleetRows(do(t, h, "GET", "/", aliceToken).Body.String())["ap-3"]; got != "silent 1" {
		t.Errorf("fleet ap-3: %q, want \"silent 1\" (its alert was received 2 h ago)", got)
	}
}

// TestDeviceView: boots newest first with the downgrade marked, a clock
// chart with a line per answering NTP server and the combined offset,
// the changes, and log lines searched case-insensitively, escaped.
func TestDeviceView(t *testing.T) {
	t.Parallel()
	h := newHandler(fixture(t))
	rec := do(t, h, "GET", "/devices/router-1", aliceToken)
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	for _, s := range []string{
		`<tr class="downgrade">`, "7.12 <strong class=\"flag\">downgrade</strong>", "b-one",
		`data-series="combined"`, `data-series="10.0.0.1:123"`, `data-series="10.0.0.2:123"`,
		"/etc/ssh/sshd_config: aaaaaaaaaaaa → bbbbbbbbbbbb", "password of alice changed",
		"&lt;script&gt;alert(1)&lt;/script&gt;", "kernel: eth0 link up", `id="open-alerts" href="/alerts?device=router-1">2</a>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("device page lacks %q", s)
		}
	}
	if strings.Contains(body, "10.0.0.9") || strings.Contains(body, "<script>alert") {
		t.Errorf("device page draws an unreachable server or holds the raw script")
	}
	if i, j := strings.Index(body, "b-two"), strings.Index(body, "b-one"); i > j {
		t.Errorf("boots not newest first")
	}
	if i, j := strings.Index(body, "kernel: eth0 link up"), strings.Index(body, "Failed password for ROOT"); i < 0 || j < 0 || i > j {
		t.Errorf("recent log lines not newest first")
	}
	rec = do(t, h, "GET", "/devices/router-1?q=root", aliceToken)
	b := rec.Body.String()
	if !strings.Contains(b, "Failed password for ROOT") || strings.Contains(b, "eth0 link up") || !strings.Contains(b, "The last 1 lines") {
		t.Errorf("search root: want only the ROOT line")
	}
	if rec := do(t, h, "GET", "/devices/nobody", aliceToken); rec.Code != 404 {
		t.Errorf("unknown device: %d, want 404", rec.Code)
	}
}

// TestRecordView: an evidence link shows the stored record.
func TestRecordView(t *testing.T) {
	t.Parallel()
	h := newHandler(fixture(t))
	rec := do(t, h, "GET", "/records/router-1/3/3", aliceToken)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "Failed password for ROOT") {
		t.Errorf("record: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, "GET", "/records/router-1/3/99", aliceToken); rec.Code != 404 {
		t.Errorf("missing record: %d, want 404", rec.Code)
	}
	if rec := do(t, h, "GET", "/records/router-1/x/1", aliceToken); rec.Code != 400 {
		t.Errorf("bad record path: %d, want 400", rec.Code)
	}
}

// TestUnauthenticated: a browser gets a 401 page with the login form, an
// API client the JSON 401; both are audited as refused; static files
// need no operator and read nothing.
func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	rec := do(t, h, "GET", "/devices/router-1", "")
	body := rec.Body.String()
	if rec.Code != 401 || !strings.Contains(body, `<form method="post" action="/login">`) ||
		!strings.Contains(body, `name="next" value="/devices/router-1"`) || !strings.Contains(body, "operator-token create") {
		t.Errorf("browser: %d %s, want the 401 login page", rec.Code, body)
	}
	if strings.Contains(body, "router-1</h1>") {
		t.Errorf("the 401 page shows data")
	}
	rec = do(t, h, "GET", "/alerts", "obo_wrong", "Accept", "application/json")
	if rec.Code != 401 || rec.Body.String() != `{"error":"unknown operator token"}`+"\n" {
		t.Errorf("API client: %d %q, want the JSON 401", rec.Code, rec.Body.String())
	}
	as := accesses(t, st)
	if len(as) != 2 || as[0].Who != api.WhoUnauthenticated || as[0].What != "refused: GET /devices/router-1" || as[1].Via != Via {
		t.Errorf("accesses %+v, want two refused via dashboard", as)
	}
	rec = do(t, h, "GET", "/static/app.js", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "X-Offbox-Partial") {
		t.Errorf("static: %d", rec.Code)
	}
	if n := len(accesses(t, st)); n != 2 {
		t.Errorf("%d accesses after a static file, want 2", n)
	}
}

// TestLoginCookie: the login form sets an HttpOnly, SameSite=Strict
// cookie that then authenticates; a wrong token is refused and audited;
// logout clears the cookie.
func TestLoginCookie(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	post := func(path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		req.RemoteAddr = "192.0.2.9:5000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := post("/login", url.Values{"token": {"obo_guess"}, "next": {"/alerts"}})
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), "unknown operator token") || len(rec.Result().Cookies()) != 0 {
		t.Errorf("wrong token: %d, cookies %v", rec.Code, rec.Result().Cookies())
	}
	rec = post("/login", url.Values{"token": {aliceToken}, "next": {"//evil.example/"}})
	cs := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" || len(cs) != 1 {
		t.Fatalf("login: %d to %q, cookies %v; want 303 to / with a cookie", rec.Code, rec.Header().Get("Location"), cs)
	}
	c := cs[0]
	if c.Name != api.CookieName || c.Value != aliceToken || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("cookie %+v, want HttpOnly SameSite=Strict holding the token", c)
	}
	req := httptest.NewRequest("GET", "/alerts", nil)
	req.Header.Set("Accept", "text/html")
	req.AddCookie(c)
	got := httptest.NewRecorder()
	h.ServeHTTP(got, req)
	if got.Code != 200 || !strings.Contains(got.Body.String(), `<span id="operator">token:alice</span>`) {
		t.Errorf("with the cookie: %d", got.Code)
	}
	rec = post("/logout", nil)
	if cs := rec.Result().Cookies(); rec.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].MaxAge >= 0 || cs[0].Value != "" {
		t.Errorf("logout: %d cookies %v, want the cookie cleared", rec.Code, cs)
	}
	as := accesses(t, st)
	if len(as) != 2 || as[0].What != "refused: POST /login" || as[1].Who != "token:alice" {
		t.Errorf("accesses %+v, want the refused login then alice's read", as)
	}
}

// TestHeadersAndPartial: every answer forbids framing and other origins;
// the refresh header gets the main element only.
func TestHeadersAndPartial(t *testing.T) {
	t.Parallel()
	h := newHandler(fixture(t))
	for _, target := range []string{"/", "/login", "/static/style.css", "/nothing"} {
		rec := do(t, h, "GET", target, aliceToken)
		if rec.Header().Get("X-Frame-Options") != "DENY" || !strings.HasPrefix(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: headers %v", target, rec.Header())
		}
	}
	full := do(t, h, "GET", "/alerts", aliceToken).Body.String()
	part := do(t, h, "GET", "/alerts", aliceToken, PartialHeader, "1").Body.String()
	if !strings.HasPrefix(full, "<!doctype html>") || strings.Contains(part, "<html") || !strings.HasPrefix(part, "<h1>Alerts</h1>") {
		t.Errorf("partial %.80q, full %.80q", part, full)
	}
	if strings.Contains(full, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(full) {
		t.Errorf("an inline event handler in the page")
	}
}

// unaudited is a store whose access trail cannot be written.
type unaudited struct {
	*sqlite.Store
	reads int
}

func (u *unaudited) RecordAccess(context.Context, store.Access) error { return errors.New("disk full") }
func (u *unaudited) Devices(ctx context.Context) ([]store.Device, error) {
	u.reads++
	return u.Store.Devices(ctx)
}

// TestNoUnauditedRead: a page whose access cannot be recorded reads nothing.
func TestNoUnauditedRead(t *testing.T) {
	t.Parallel()
	st := &unaudited{Store: fixture(t)}
	h := newHandler(st)
	for _, target := range []string{"/", "/alerts", "/devices/router-1"} {
		if rec := do(t, h, "GET", target, aliceToken); rec.Code != 503 || !strings.Contains(rec.Body.String(), "could not be recorded") {
			t.Errorf("%s: %d, want 503", target, rec.Code)
		}
	}
	if st.reads != 0 {
		t.Errorf("%d reads without an audit, want 0", st.reads)
	}
}

// TestRefusedAddress: a Guard that does not admit the client closes its
// connection before any answer. Should a connection reach the server
// another way, Permitted (the second line) gives a browser a 403 page
// naming its address and allow_cidrs, an API client the JSON form; no
// handler runs.
func TestRefusedAddress(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := api.AllowListener(l, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := &http.Server{Handler: api.Permitted(newHandler(st), Fail), ConnContext: g.ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(g)
	t.Cleanup(func() { srv.Close() })
	if resp, err := http.Get("http://" + l.Addr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Errorf("through the Guard: %d, want the connection closed before any answer", resp.StatusCode)
	}
	if g.Refused() != 1 {
		t.Errorf("refused %d, want 1", g.Refused())
	}
	// The second line: the same server behind a listener without the Guard.
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv2 := &http.Server{Handler: api.Permitted(newHandler(st), Fail), ConnContext: g.ConnContext, ReadHeaderTimeout: 5 * time.Second}
	go srv2.Serve(l2)
	t.Cleanup(func() { srv2.Close() })
	l = l2
	for _, tt := range []struct{ accept, want string }{
		{"text/html", "your address 127.0.0.1 is not permitted by api.allow_cidrs</p>"},
		{"application/json", `{"error":"your address 127.0.0.1 is not permitted by api.allow_cidrs"}`},
	} {
		req, _ := http.NewRequest("GET", "http://"+l.Addr().String()+"/", nil)
		req.Header.Set("Accept", tt.accept)
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: %d %s, want 403 with %q", tt.accept, resp.StatusCode, b, tt.want)
		}
	}
	if n := len(accesses(t, st)); n != 0 {
		t.Errorf("%d accesses, want 0", n)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		age, interval time.Duration
		heard         bool
		want          string
	}{
		{0, 15 * time.Second, true, statusHealthy},
		{37500 * time.Millisecond, 15 * time.Second, true, statusHealthy}, // 2.5 intervals
		{37501 * time.Millisecond, 15 * time.Second, true, statusLate},
		{150 * time.Second, 15 * time.Second, true, statusLate}, // 10 intervals
		{151 * time.Second, 15 * time.Second, true, statusSilent},
		{0, time.Second, false, statusSilent},
	}
	for _, tt := range tests {
		if got := status(tt.age, tt.interval, tt.heard); got != tt.want {
			t.Errorf("status(%s, every %s, heard %v) = %s, want %s", tt.age, tt.interval, tt.heard, got, tt.want)
		}
	}
}

// TestDeviceConfigDiff: a config change shows the diff the agent recorded,
// line by line, escaped, with a terminal escape made visible rather than
// passed to the page.
func TestDeviceConfigDiff(t *testing.T) {
	t.Parallel()
	body := do(t, newHandler(fixture(t)), "GET", "/devices/router-1", aliceToken).Body.String()
	for _, s := range []string{
		`<pre class="diff"><span class="meta">--- a/etc/ssh/sshd_config</span>`,
		`<span class="hunk">@@ -1,2 &#43;1,2 @@</span>`, `<span class=""> Port 22</span>`,
		`<span class="del">-PermitRootLogin no</span>`, `<span class="add">&#43;PermitRootLogin yes</span>`,
		`&#34;&#43;Banner &lt;script&gt;x()&lt;/script&gt;\x1b[2J&#34;`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("device page lacks %q", s)
		}
	}
	if strings.Contains(body, "<script>x()") || strings.Contains(body, "\x1b") {
		t.Errorf("device page holds the diff's raw markup or escape")
	}
}

// TestDeviceOpenAlertsBySeverity: the device page counts its open alerts
// per severity and lists them most severe first; another device's alerts
// and alerts no longer open are not among them.
func TestDeviceOpenAlertsBySeverity(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	crit := store.Alert{GroupID: "g4", Kind: "firmware_downgrade", Severity: store.SeverityCritical, Device: "router-1", Key: "7.12",
		Summary: "firmware 7.14 → 7.12", First: now.Add(-40 * time.Minute), Last: now.Add(-40 * time.Minute), Count: 1,
		FirstReceived: now.Add(-40 * time.Minute), LastReceived: now.Add(-40 * time.Minute),
		Evidence: []store.AlertRef{{Device: "router-1", Seq: 2, Index: 0}}}
	old := store.Alert{GroupID: "g5", Kind: "config_change", Severity: store.SeverityWarning, Device: "router-1", Key: "x",
		Summary: "old change", First: now.Add(-30 * time.Hour), Last: now.Add(-30 * time.Hour), Count: 1,
		FirstReceived: now.Add(-30 * time.Hour), LastReceived: now.Add(-30 * time.Hour)}
	if err := st.SaveAlerts(ctx, store.AlertSave{Now: now, Alerts: []store.AlertUpsert{{Alert: crit}, {Alert: old}}}); err != nil {
		t.Fatal(err)
	}
	body := do(t, newHandler(st), "GET", "/devices/router-1", aliceToken).Body.String()
	want := `<a id="open-alerts" href="/alerts?device=router-1">3</a>: <span class="sev critical" id="open-critical">1 critical</span>, ` +
		`<span class="sev warning" id="open-warning">1 warning</span>, <span class="sev info" id="open-info">1 info</span>`
	if !strings.Contains(body, want) {
		t.Errorf("device page lacks the open alerts by severity %q", want)
	}
	var got []string
	for _, m := range regexp.MustCompile(`<tr data-severity="(\w+)" data-kind="(\w+)">`).FindAllStringSubmatch(body, -1) {
		got = append(got, m[1]+" "+m[2])
	}
	if want := []string{"critical firmware_downgrade", "warning brute_force", "info auth_failure"}; !slices.Equal(got, want) {
		t.Errorf("open alerts on the device page: %v, want %v", got, want)
	}
	// The critical alert's evidence is the boot record, named by source and time.
	if s := `href="/records/router-1/2/0">boot 2026-11-22 18:20:00Z</a>`; !strings.Contains(body, s) {
		t.Errorf("device page lacks the evidence %q", s)
	}
}

// TestEvidenceNamed: evidence is named by the record's source and device
// time, not device/seq/index, and still links to the record.
func TestEvidenceNamed(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	// Two lines of a burst in one second: the byte offset tells them apart.
	fw := batchtest.NewDevice("fw-9")
	f := batchtest.NewFile("file:/var/log/\x1b[2Jfw.log", 1, 1)
	f.Time = now.Add(-time.Minute).UnixNano()
	c := batchtest.Commit("fw-9", fw.Next(f.Lines(2, 20)...), 0)
	c.Received = now.Add(-time.Minute)
	if err := st.CommitBatch(ctx, c); err != nil {
		t.Fatal(err)
	}
	burst := store.Alert{GroupID: "g7", Kind: "brute_force", Severity: store.SeverityWarning, Device: "fw-9", Key: "x", Summary: "burst",
		First: now.Add(-time.Minute), Last: now.Add(-time.Minute), Count: 2, FirstReceived: now.Add(-time.Minute), LastReceived: now.Add(-time.Minute),
		Evidence: []store.AlertRef{{Device: "fw-9", Seq: 1, Index: 0}, {Device: "fw-9", Seq: 1, Index: 1}, {Device: "fw-9", Seq: 9, Index: 0}}}
	if err := st.SaveAlerts(ctx, store.AlertSave{Now: now, Alerts: []store.AlertUpsert{{Alert: burst}}}); err != nil {
		t.Fatal(err)
	}
	body := do(t, newHandler(st), "GET", "/alerts?device=fw-9", aliceToken).Body.String()
	for _, s := range []string{
		`href="/records/fw-9/1/0">&#34;file:/var/log/\x1b[2Jfw.log&#34; 2026-11-22 18:59:00Z (byte 0)</a>`,
		`href="/records/fw-9/1/1">&#34;file:/var/log/\x1b[2Jfw.log&#34; 2026-11-22 18:59:00Z (byte 21)</a>`,
		`href="/records/fw-9/9/0">record not stored</a>`,
	} {
		if !strings.Contains(body, s) {
			t.Errorf("/alerts?device=fw-9 lacks the evidence %q", s)
		}
	}
	h := newHandler(st)
	for _, target := range []string{"/alerts", "/devices/router-1"} {
		body := do(t, h, "GET", target, aliceToken).Body.String()
		if s := `href="/records/router-1/3/3">file:/var/log/auth.log 2026-11-22 18:59:30Z</a>`; !strings.Contains(body, s) {
			t.Errorf("%s lacks the evidence %q", target, s)
		}
		if strings.Contains(body, ">router-1/3/3<") {
			t.Errorf("%s still names evidence as router-1/3/3", target)
		}
	}
}

// TestTimelineBuckets: the 24 h timeline has a bar per hour of the day:
// alerts received at different hours land in different bars, alerts in
// the same hour in one, and an alert that recurred from early to late is
// drawn at both ends, not only at the right edge.
func TestTimelineBuckets(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	alert := func(sev string, first, last time.Time) store.Alert {
		return store.Alert{Severity: sev, FirstReceived: first, LastReceived: last}
	}
	as := []store.Alert{ // newest first, as the store lists them
		alert(store.SeverityWarning, at(2, 5), at(18, 45)),
		alert(store.SeverityCritical, at(15, 5), at(15, 5)),
		alert(store.SeverityInfo, at(9, 40), at(9, 50)),
		alert(store.SeverityInfo, at(9, 10), at(9, 10)),
		alert(store.SeverityInfo, at(3, 10), at(3, 10)),
	}
	svg := string(timeline(as, now.Add(-24*time.Hour), now)) // now is 19:00
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`data-count="(\d+)" data-start="([^"]+)" data-critical="(\d+)"`).FindAllStringSubmatch(svg, -1) {
		got[m[2]] = m[1] + "/" + m[3]
	}
	want := map[string]string{
		"2026-11-22T02:00:00Z": "1/0", "2026-11-22T03:00:00Z": "1/0", "2026-11-22T09:00:00Z": "2/0",
		"2026-11-22T15:00:00Z": "1/1", "2026-11-22T18:00:00Z": "1/0",
	}
	if !maps.Equal(got, want) {
		t.Errorf("timeline bars (count/critical by hour): %v, want %v", got, want)
	}
	for _, tick := range []string{">11-21 19:00<", ">11-22 00:00<", ">03:00<", ">12:00<", ">15:00<", ">19:00<"} {
		if !strings.Contains(svg, tick) {
			t.Errorf("timeline lacks the axis label %q:\n%s", tick, svg)
		}
	}
	for _, tt := range []struct {
		span time.Duration
		want time.Duration
	}{{time.Hour, 2 * time.Minute}, {24 * time.Hour, time.Hour}, {168 * time.Hour, 6 * time.Hour}, {400 * 24 * time.Hour, 384 * time.Hour}} {
		if got := bucketSize(tt.span); got != tt.want {
			t.Errorf("bucketSize(%v) = %v, want %v", tt.span, got, tt.want)
		}
	}
}
