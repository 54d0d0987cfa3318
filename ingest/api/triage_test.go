package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/offbox/offbox/ingest/store"
)

// post runs one triage POST as alice (bearer) and decodes the answer.
func post(t *testing.T, h http.Handler, target, body string, v any, hdr ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", target, strings.NewReader(body))
	req.RemoteAddr = "192.0.2.50:40000"
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if v != nil && rec.Code == 200 {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("POST %s: %v in %q", target, err, rec.Body.String())
		}
	}
	return rec.Code, rec.Body.String()
}

func alertID(t *testing.T, st store.AlertStore, group string) int64 {
	t.Helper()
	as, err := st.Alerts(ctx, store.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.GroupID == group {
			return a.ID
		}
	}
	t.Fatalf("no alert %s", group)
	return 0
}

// TestTriageOne: acknowledging one alert with a note changes its state,
// is audited, and GET /api/v1/alerts/ID shows the transition with who,
// via and the comment as given.
func TestTriageOne(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	id := alertID(t, st, "g1")
	before := len(accesses(t, st))
	var res TriageResult
	code, body := post(t, h, "/api/v1/alerts/"+itoa(id)+"/ack", `{"comment":"on it <script>"}`, &res)
	if code != 200 || !res.Done || !slices.Equal(res.Changed, []int64{id}) || res.Matched != 1 {
		t.Fatalf("ack: %d %s", code, body)
	}
	if code, _ := post(t, h, "/api/v1/alerts/"+itoa(id)+"/assign", `{"to":"carol"}`, nil); code != 200 {
		t.Fatalf("assign: %d", code)
	}
	// Again: nothing changes, and it says so.
	res = TriageResult{}
	if code, _ := post(t, h, "/api/v1/alerts/"+itoa(id)+"/ack", ``, &res); code != 200 || len(res.Changed) != 0 || !res.Done {
		t.Errorf("second ack: %d %+v, want nothing changed", code, res)
	}
	var v AlertView
	if code := get(t, h, "GET", "/api/v1/alerts/"+itoa(id), &v); code != 200 {
		t.Fatalf("GET alert: %d", code)
	}
	if v.State != store.StateAcknowledged || v.Assignee != "carol" || len(v.History) != 2 {
		t.Fatalf("alert = state %q assignee %q history %+v", v.State, v.Assignee, v.History)
	}
	if h0 := v.History[0]; h0.Action != "ack" || h0.Who != "token:alice" || h0.Via != "api" || h0.Comment != "on it <script>" || h0.At != "2026-11-22T19:00:00.000000000Z" {
		t.Errorf("history[0] = %+v", h0)
	}
	if len(v.Evidence) != 1 || v.Evidence[0].Record == nil {
		t.Errorf("evidence = %+v, want the record", v.Evidence)
	}
	acc := accesses(t, st)[before:]
	if len(acc) != 4 || acc[0].Who != "token:alice" || !strings.Contains(acc[0].What, "POST /api/v1/alerts/"+itoa(id)+"/ack") {
		t.Errorf("accesses = %+v, want the three POSTs and the GET, by alice", acc)
	}
	if code := get(t, h, "GET", "/api/v1/alerts/999", nil); code != 404 {
		t.Errorf("GET unknown alert: %d, want 404", code)
	}
	if code, _ := post(t, h, "/api/v1/alerts/999/ack", ``, nil); code != 404 {
		t.Errorf("ack unknown alert: %d, want 404", code)
	}
}

// TestTriageBulk: ids change those listed; a filter only counts unless
// all_matching, then changes what it selects.
func TestTriageBulk(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	g1, g2, g3 := alertID(t, st, "g1"), alertID(t, st, "g2"), alertID(t, st, "g3")
	var res TriageResult
	if code, body := post(t, h, "/api/v1/alerts/resolve", `{"ids":[`+itoa(g1)+`,`+itoa(g3)+`],"comment":"done"}`, &res); code != 200 ||
		len(res.Changed) != 2 {
		t.Fatalf("resolve ids: %d %s", code, body)
	}
	res = TriageResult{}
	filter := `{"filter":{"device":"router-1","kinds":["auth_failure","auth_success"]},"comment":"x"}`
	if code, body := post(t, h, "/api/v1/alerts/ack", filter, &res); code != 200 || res.Done || res.Matched != 2 || res.WouldChange != 1 || len(res.Changed) != 0 {
		t.Fatalf("filter without all_matching: %d %s", code, body)
	}
	if a, _ := st.Alerts(ctx, store.AlertQuery{IDs: []int64{g2}}); a[0].State != store.StateOpen {
		t.Fatalf("a count changed g2: %q", a[0].State)
	}
	res = TriageResult{}
	filter = strings.Replace(filter, `"comment"`, `"all_matching":true,"comment"`, 1)
	if code, body := post(t, h, "/api/v1/alerts/ack", filter, &res); code != 200 || !res.Done || !slices.Equal(res.Changed, []int64{g2}) {
		t.Fatalf("filter with all_matching: %d %s", code, body)
	}
	var list struct{ Alerts []AlertView }
	get(t, h, "GET", "/api/v1/alerts", &list)
	states := map[string]string{}
	for _, a := range list.Alerts {
		states[a.GroupID] = a.State
	}
	if states["g1"] != "resolved" || states["g2"] != "acknowledged" || states["g3"] != "resolved" {
		t.Errorf("states = %v", states)
	}
}

// TestTriageRefused: bad requests get a clear JSON error naming what is
// wrong; a cross-site POST and one authenticated by the dashboard's
// cookie alone are refused; nothing changes.
func TestTriageRefused(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	id := itoa(alertID(t, st, "g1"))
	for _, c := range []struct {
		name, target, body string
		hdr                []string
		code               int
		want               string
	}{
		{"unknown action", "/api/v1/alerts/" + id + "/close", ``, nil, 404, `unknown action \"close\"`},
		{"note without comment", "/api/v1/alerts/" + id + "/note", `{}`, nil, 400, "a note needs a comment"},
		{"control in to", "/api/v1/alerts/" + id + "/assign", `{"to":"a\u001b[31m"}`, nil, 400, "control characters"},
		{"assign without to", "/api/v1/alerts/" + id + "/assign", `{}`, nil, 400, `\"to\" goes with assign`},
		{"unknown member", "/api/v1/alerts/" + id + "/ack", `{"coment":"x"}`, nil, 400, `unknown field \"coment\"`},
		{"not json", "/api/v1/alerts/" + id + "/ack", `ack`, nil, 400, "body:"},
		{"two objects", "/api/v1/alerts/" + id + "/ack", `{} {}`, nil, 400, "nothing after it"},
		{"too big", "/api/v1/alerts/" + id + "/note", `{"comment":"` + strings.Repeat("x", MaxTriageBody) + `"}`, nil, 400, "larger than"},
		{"long comment", "/api/v1/alerts/" + id + "/note", `{"comment":"` + strings.Repeat("x", store.MaxComment+1) + `"}`, nil, 400, "longer than"},
		{"no selection", "/api/v1/alerts/ack", `{}`, nil, 400, "which alerts?"},
		{"ids and filter", "/api/v1/alerts/ack", `{"ids":[1],"filter":{}}`, nil, 400, "give one"},
		{"bad state", "/api/v1/alerts/ack", `{"filter":{"state":"closed"}}`, nil, 400, "filter.state"},
		{"bad since", "/api/v1/alerts/ack", `{"filter":{"since":"yesterday"}}`, nil, 400, "filter.since"},
		{"cross-site", "/api/v1/alerts/" + id + "/ack", ``, []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
		{"cookie only", "/api/v1/alerts/" + id + "/ack", ``, []string{"Authorization", "", "Cookie", CookieName + "=" + aliceToken}, 403, "operator certificate or Authorization"},
		{"no auth", "/api/v1/alerts/" + id + "/ack", ``, []string{"Authorization", ""}, 401, "authentication required"},
	} {
		code, body := post(t, h, c.target, c.body, nil, c.hdr...)
		if code != c.code || !strings.Contains(body, c.want) || !strings.HasPrefix(body, `{"error":`) {
			t.Errorf("%s: %d %s; want %d with %q", c.name, code, body, c.code, c.want)
		}
	}
	if h, _ := st.AlertHistory(ctx, alertID(t, st, "g1")); len(h) != 0 {
		t.Errorf("a refused request changed the alert: %+v", h)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
