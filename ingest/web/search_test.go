package web

import (
	"net/http"
	"strings"
	"testing"
)

// TestSearchPage: the search page finds a line across the fleet, marks the
// match, shows log markup as text, links the context view, which shows
// the lines of the same device and source around it; a bad query is a 400
// naming the position.
func TestSearchPage(t *testing.T) {
	t.Parallel()
	h := newHandler(fixture(t))
	rec := do(t, h, "GET", "/search?q=script&device=router-1", aliceToken)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;") || strings.Contains(body, "<script>alert") {
		t.Fatalf("status %d, body lacks the escaped, marked line:\n%s", rec.Code, body)
	}
	if !strings.Contains(body, `href="/search/context/router-1/`) || !strings.Contains(body, `id="permalink" href="/search?device=router-1&amp;q=script"`) {
		t.Fatalf("no context link or permalink:\n%s", body)
	}
	rec = do(t, h, "GET", "/search?q=%22Failed+password%22", aliceToken)
	if !strings.Contains(rec.Body.String(), "<mark>Failed password</mark> for ROOT") {
		t.Fatalf("fleet-wide phrase not found:\n%s", rec.Body.String())
	}
	i := strings.Index(rec.Body.String(), `href="/search/context/`)
	link := rec.Body.String()[i+6:]
	link = strings.ReplaceAll(link[:strings.IndexByte(link, '"')], "&amp;", "&")
	rec = do(t, h, "GET", link, aliceToken)
	b := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(b, `id="hit" class="hit"`) || !strings.Contains(b, "&lt;script&gt;") || strings.Contains(b, "eth0 link up") {
		t.Fatalf("context %s: %d, want the auth.log lines only, the hit marked:\n%s", link, rec.Code, b)
	}
	rec = do(t, h, "GET", "/search?q=re:a(b", aliceToken)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "position 4") {
		t.Fatalf("bad query: %d %s", rec.Code, rec.Body.String())
	}
}
