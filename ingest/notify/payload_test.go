package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// payloadAlert has everything a payload must carry, and the characters
// each format must escape or sanitise.
func payloadAlert() store.Alert {
	return store.Alert{
		ID:       42,
		GroupID:  "auth_brute_force/edge-1/10.0.0.9",
		Kind:     "auth_brute_force",
		Severity: store.SeverityCritical,
		Device:   "edge-1",
		Key:      "10.0.0.9",
		Summary:  "12 failed logins from 10.0.0.9 <admin> & root",
		Fields:   map[string]string{"user": "root", "source ip": "10.0.0.9", "window": "5m0s"},
		Labels:   map[string]string{"site": "ams-1", "rack.row": "r7", "9zone": "dmz", "bad\xffvalue": "x\xffy", "severity": "should not win"},
		First:    time.Date(2026, 3, 1, 12, 0, 0, 500, time.FixedZone("CET", 3600)),
		Last:     time.Date(2026, 3, 1, 11, 5, 0, 0, time.UTC),
		Count:    12,
		Evidence: []store.AlertRef{{Device: "edge-1", Seq: 7, Index: 3}, {Device: "edge-1", Seq: 8, Index: -1}},
	}
}

func TestWebhookBodyExact(t *testing.T) {
	t.Parallel()
	a := payloadAlert()
	a.Labels = map[string]string{"site": "ams-1"}
	got, err := WebhookBody(a, Origin{Collector: "ingest1"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":42,"group_id":"auth_brute_force/edge-1/10.0.0.9","kind":"auth_brute_force","severity":"critical",` +
		`"device":"edge-1","key":"10.0.0.9","summary":"12 failed logins from 10.0.0.9 \u003cadmin\u003e \u0026 root",` +
		`"fields":{"source ip":"10.0.0.9","user":"root","window":"5m0s"},"labels":{"site":"ams-1"},` +
		`"first":"2026-03-01T11:00:00.0000005Z","last":"2026-03-01T11:05:00Z","count":12,` +
		`"evidence":[{"device":"edge-1","seq":7,"index":3},{"device":"edge-1","seq":8,"index":-1}],"collector":"ingest1"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestDeviceClockInPayloads: an alert from a device whose clock says 2076
// starts, for Alertmanager, when the collector received it (Alertmanager
// refuses an alert starting after it ends), and the webhook carries both
// clocks.
func TestDeviceClockInPayloads(t *testing.T) {
	t.Parallel()
	a := payloadAlert()
	a.First, a.Last = time.Date(2076, 3, 1, 12, 0, 0, 0, time.UTC), time.Date(2076, 3, 1, 12, 5, 0, 0, time.UTC)
	a.FirstReceived, a.LastReceived = time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 2, 0, time.UTC)
	b, err := AlertmanagerBody(a, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	var am []map[string]any
	if err := json.Unmarshal(b, &am); err != nil {
		t.Fatal(err)
	}
	if got := am[0]["startsAt"]; got != "2026-03-01T12:00:01Z" {
		t.Errorf("startsAt %v, want the first receive time 2026-03-01T12:00:01Z", got)
	}
	w, err := WebhookBody(a, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	var hook map[string]any
	if err := json.Unmarshal(w, &hook); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"first": "2076-03-01T12:00:00Z", "last": "2076-03-01T12:05:00Z",
		"first_received": "2026-03-01T12:00:01Z", "last_received": "2026-03-01T12:00:02Z"} {
		if hook[k] != want {
			t.Errorf("webhook %s = %v, want %s", k, hook[k], want)
		}
	}
}

func TestWebhookBodyEmpty(t *testing.T) {
	t.Parallel()
	got, err := WebhookBody(store.Alert{ID: 1, GroupID: "g", Kind: "log_access", Severity: "info", Count: 1}, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"group_id":"g","kind":"log_access","severity":"info","device":"","key":"","summary":"",` +
		`"fields":{},"labels":{},"first":"0001-01-01T00:00:00Z","last":"0001-01-01T00:00:00Z","count":1,"evidence":[]}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot  %s\nwant %s", path, got, want)
	}
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return append(buf.Bytes(), '\n')
}

func TestSlackBody(t *testing.T) {
	t.Parallel()
	b, err := SlackBody(payloadAlert(), Origin{Collector: "ingest1"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "slack.json", indent(t, b))
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := "[critical] auth_brute_force on edge-1: 12 failed logins from 10.0.0.9 &lt;admin&gt; &amp; root (count 12)\n" +
		"• source ip: 10.0.0.9\n• user: root\n• window: 5m0s"
	if m["text"] != want || len(m) != 1 {
		t.Errorf("got %q\nwant text %q", m, want)
	}
}

func TestSlackBodyCollectorAlert(t *testing.T) {
	t.Parallel()
	a := store.Alert{Kind: "log_access", Severity: "info", Summary: "query by alice", Count: 1,
		Fields: map[string]string{"what": strings.Repeat("x", 1000)}}
	b, err := SlackBody(a, Origin{Collector: "ingest1"})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m["text"], "[info] log_access on collector ingest1: query by alice (count 1)\n• what: xxx") {
		t.Errorf("text %q", m["text"])
	}
	if len(m["text"]) > 500 {
		t.Errorf("text is %d bytes; a field value should be cut", len(m["text"]))
	}
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func TestAlertmanagerBody(t *testing.T) {
	t.Parallel()
	b, err := AlertmanagerBody(payloadAlert(), Origin{Collector: "ingest1"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "alertmanager.json", indent(t, b))

	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1", len(got))
	}
	if _, ok := got[0]["endsAt"]; ok {
		t.Error("endsAt set; Alertmanager should resolve by its resolve_timeout")
	}
	if s := got[0]["startsAt"]; s != "2026-03-01T11:00:00.0000005Z" {
		t.Errorf("startsAt %v, want First in UTC", s)
	}
	var am []amAlert
	if err := json.Unmarshal(b, &am); err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{
		"alertname": "auth_brute_force", "severity": "critical", "device": "edge-1", "key": "10.0.0.9",
		"offbox_group": "auth_brute_force/edge-1/10.0.0.9",
		"site":         "ams-1", "rack_row": "r7", "_9zone": "dmz", "bad_value": "x\uFFFDy",
	}
	if !equalMaps(am[0].Labels, wantLabels) {
		t.Errorf("labels %v\nwant   %v", am[0].Labels, wantLabels)
	}
	wantAnn := map[string]string{"summary": "12 failed logins from 10.0.0.9 <admin> & root", "collector": "ingest1",
		"user": "root", "source_ip": "10.0.0.9", "window": "5m0s"}
	if !equalMaps(am[0].Annotations, wantAnn) {
		t.Errorf("annotations %v\nwant        %v", am[0].Annotations, wantAnn)
	}
	for _, m := range []map[string]string{am[0].Labels, am[0].Annotations} {
		for k, v := range m {
			if !labelNameRE.MatchString(k) || !utf8.ValidString(v) {
				t.Errorf("invalid for Alertmanager: %q=%q", k, v)
			}
		}
	}
}

func TestAlertmanagerBodyOmitsEmpty(t *testing.T) {
	t.Parallel()
	b, err := AlertmanagerBody(store.Alert{GroupID: "g", Kind: "log_access", Severity: "info", Summary: "s"}, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"labels":{"alertname":"log_access","offbox_group":"g","severity":"info"},"annotations":{"summary":"s"}}]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestLabelName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"site", "site"},
		{"Site_2", "Site_2"},
		{"rack.row", "rack_row"},
		{"source ip", "source_ip"},
		{"9zone", "_9zone"},
		{"_x", "_x"},
		{"été", "_t_"},
		{"a-b/c", "a_b_c"},
		{"bad\xffname", "bad_name"},
		{"", ""},
	} {
		got := LabelName(tc.in)
		if got != tc.want {
			t.Errorf("LabelName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got != "" && !labelNameRE.MatchString(got) {
			t.Errorf("LabelName(%q) = %q is not a valid label name", tc.in, got)
		}
	}
}

func FuzzLabelName(f *testing.F) {
	for _, s := range []string{"site", "rack.row", "9zone", "été", "bad\xffname", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := LabelName(s); (s == "") != (got == "") || (got != "" && !labelNameRE.MatchString(got)) {
			t.Errorf("LabelName(%q) = %q", s, got)
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
