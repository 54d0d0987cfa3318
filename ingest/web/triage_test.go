package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/store"
)

// session posts and gets as alice logged in by cookie, as a browser does.
type session struct {
	t *testing.T
	h http.Handler
}

func (s session) req(method, target string, form url.Values, hdr ...string) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = "192.0.2.9:5000"
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.AddCookie(&http.Cookie{Name: api.CookieName, Value: aliceToken})
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	return rec
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token alice's pages carry.
func (s session) csrf() string {
	s.t.Helper()
	m := csrfRE.FindStringSubmatch(s.req("GET", "/alerts", nil).Body.String())
	if m == nil {
		s.t.Fatal("the alerts page has no csrf field")
	}
	return m[1]
}

func firstAlert(t *testing.T, st store.AlertStore) store.Alert {
	t.Helper()
	as, err := st.Alerts(ctx, store.AlertQuery{})
	if err != nil || len(as) == 0 {
		t.Fatalf("alerts: %v %v", as, err)
	}
	return as[len(as)-1]
}

// TestTriageForm: the alert page's form acknowledges with a note, goes
// back to the page, which shows the state and the note escaped; the
// change is audited.
func TestTriageForm(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	s := session{t, newHandler(st)}
	a := firstAlert(t, st)
	id := fmtInt(a.ID)
	page := s.req("GET", "/alerts/"+id, nil)
	if page.Code != 200 || !strings.Contains(page.Body.String(), `id="alert-state" class="state open">open<`) {
		t.Fatalf("alert page: %d\n%s", page.Code, page.Body.String())
	}
	tok := s.csrf()
	rec := s.req("POST", "/alerts/triage", url.Values{"csrf": {tok}, "id": {id}, "action": {"ack"},
		"comment": {`<script>alert(1)</script> & "x"`}, "back": {"/alerts/" + id}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/alerts/"+id {
		t.Fatalf("ack: %d to %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body.String())
	}
	body := s.req("GET", "/alerts/"+id, nil).Body.String()
	if !strings.Contains(body, `id="alert-state" class="state acknowledged">acknowledged<`) {
		t.Errorf("after ack the page does not say acknowledged")
	}
	if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, `&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;x&#34;`) {
		t.Errorf("the comment is not escaped in\n%s", body)
	}
	if !strings.Contains(body, `<td class="who">token:alice</td><td>dashboard</td><td class="action">ack</td>`) {
		t.Errorf("the history does not show alice's ack")
	}
	var posted bool
	for _, x := range accesses(t, st) {
		posted = posted || (x.Who == "token:alice" && x.Via == Via && x.What == "POST /alerts/triage")
	}
	if !posted {
		t.Errorf("the POST is not in the access trail")
	}
	// Bulk from the list: resolve two alerts at once, back to the list.
	as, _ := st.Alerts(ctx, store.AlertQuery{})
	rec = s.req("POST", "/alerts/triage", url.Values{"csrf": {tok}, "id": {fmtInt(as[0].ID), fmtInt(as[1].ID)}, "action": {"resolve"},
		"back": {"/alerts?state=open"}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/alerts?state=open" {
		t.Fatalf("bulk resolve: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	resolved, _ := st.Alerts(ctx, store.AlertQuery{State: store.StateResolved})
	if len(resolved) != 2 {
		t.Errorf("%d alerts resolved, want 2", len(resolved))
	}
	list := s.req("GET", "/alerts?state=resolved", nil).Body.String()
	if n := strings.Count(list, `data-state="resolved"`); n != 2 || strings.Contains(list, `data-state="open"`) {
		t.Errorf("the list filtered by resolved shows %d resolved rows", n)
	}
}

// TestTriageFormRefused: a post without the session's token, with
// another session's, from another site, or unauthenticated changes
// nothing.
func TestTriageFormRefused(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	s := session{t, newHandler(st)}
	id := fmtInt(firstAlert(t, st).ID)
	other := httptest.NewRequest("GET", "/", nil)
	other.AddCookie(&http.Cookie{Name: api.CookieName, Value: "obo_someone-else"})
	for _, c := range []struct {
		name string
		form url.Values
		hdr  []string
		code int
		want string
	}{
		{"no token", url.Values{"id": {id}, "action": {"ack"}}, nil, 403, "token does not belong to this session"},
		{"another session's token", url.Values{"csrf": {CSRFToken(other)}, "id": {id}, "action": {"ack"}}, nil, 403, "token does not belong"},
		{"cross-site", url.Values{"csrf": {s.csrf()}, "id": {id}, "action": {"ack"}}, []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site request refused"},
		{"other origin", url.Values{"csrf": {s.csrf()}, "id": {id}, "action": {"ack"}}, []string{"Origin", "https://evil.example"}, 403, "cross-site request refused"},
		{"bad action", url.Values{"csrf": {s.csrf()}, "id": {id}, "action": {"close"}}, nil, 400, "unknown action"},
		{"no selection", url.Values{"csrf": {s.csrf()}, "action": {"ack"}}, nil, 400, "no alert selected"},
		{"bad id", url.Values{"csrf": {s.csrf()}, "id": {"x"}, "action": {"ack"}}, nil, 400, "want a positive number"},
		{"note without comment", url.Values{"csrf": {s.csrf()}, "id": {id}, "action": {"note"}}, nil, 400, "a note needs a comment"},
	} {
		rec := s.req("POST", "/alerts/triage", c.form, c.hdr...)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.want) {
			t.Errorf("%s: %d, want %d with %q:\n%s", c.name, rec.Code, c.code, c.want, rec.Body.String())
		}
	}
	req := httptest.NewRequest("POST", "/alerts/triage", strings.NewReader(url.Values{"id": {id}, "action": {"ack"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("unauthenticated: %d, want 401", rec.Code)
	}
	if h, _ := st.AlertHistory(ctx, firstAlert(t, st).ID); len(h) != 0 {
		t.Errorf("a refused post changed the alert: %+v", h)
	}
}

func fmtInt(n int64) string { return strconv.FormatInt(n, 10) }

// TestLogoutNeedsToken: a logged-in session's logout needs its token,
// which every page's logout form carries.
func TestLogoutNeedsToken(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	s := session{t, newHandler(st)}
	if rec := s.req("POST", "/logout", url.Values{}); rec.Code != 403 {
		t.Errorf("logout without the token: %d, want 403", rec.Code)
	}
	if !strings.Contains(s.req("GET", "/", nil).Body.String(), `<form class="logout" method="post" action="/logout"><input type="hidden" name="csrf" value="`+s.csrf()+`">`) {
		t.Error("the logout form does not carry the token")
	}
	rec := s.req("POST", "/logout", url.Values{"csrf": {s.csrf()}})
	if cs := rec.Result().Cookies(); rec.Code != http.StatusSeeOther || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("logout with the token: %d, cookies %v", rec.Code, cs)
	}
}
