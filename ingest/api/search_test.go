package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSearch: /api/v1/search finds lines across devices with the query
// language, pages with a cursor, caps the page size and the timeout,
// explains bad queries by position, needs an operator, and records each
// search, before reading and with its result count.
func TestSearch(t *testing.T) {
	st := fixture(t)
	h := newHandler(st)
	var r SearchResponse
	if code := get(t, h, "GET", "/api/v1/search?q=failed+password", &r); code != 200 {
		t.Fatalf("status %d", code)
	}
	if len(r.Results) != 2 || r.Results[0].Device != "switch-2" || r.Results[1].Ref != "router-1/1/0" || r.Next != "" {
		t.Fatalf("results %+v next %q", r.Results, r.Next)
	}
	if m := r.Results[1].Matches; len(m) != 2 || (*r.Results[1].Body)[m[0][0]:m[0][1]] != "Failed" {
		t.Fatalf("matches %v", m)
	}
	// Paging: one a page, the cursor continues where the page ended.
	var refs []string
	target := "/api/v1/search?q=failed&limit=1"
	for range 5 {
		var p SearchResponse
		if code := get(t, h, "GET", target, &p); code != 200 {
			t.Fatalf("%s: status %d", target, code)
		}
		for _, x := range p.Results {
			refs = append(refs, x.Ref)
		}
		if p.Next == "" {
			break
		}
		target = "/api/v1/search?q=failed&limit=1&cursor=" + p.Next
	}
	if strings.Join(refs, " ") != "switch-2/1/0 router-1/1/0" {
		t.Fatalf("paged refs %v", refs)
	}
	var c SearchResponse
	if get(t, h, "GET", "/api/v1/search?q=re:%22link+up%24%22&device=router-1&count=1", &c); c.Count == nil || *c.Count != 1 {
		t.Fatalf("count %+v", c)
	}
	for target, want := range map[string]string{
		"/api/v1/search?q=re:a(b":                       "parameter q: query: at position 4: bad regular expression",
		"/api/v1/search?q=x&limit=1001":                 "parameter limit",
		"/api/v1/search?q=x&timeout=31s":                "parameter timeout",
		"/api/v1/search?q=x&cursor=%21":                 "parameter cursor",
		"/api/v1/search?q=x&sort=time":                  "parameter sort: unknown",
		"/api/v1/search":                                "empty query",
		"/api/v1/search?q=x&device=a&source=1&source=2": "parameter source: given more than once",
	} {
		var e map[string]string
		if code := get(t, h, "GET", target, &e); code != 400 || !strings.Contains(e["error"], want) {
			t.Errorf("%s: %d %q, want 400 and %q", target, code, e["error"], want)
		}
	}
	// Every search recorded before reading, and its result count after.
	var before, after bool
	for _, a := range accesses(t, st) {
		before = before || (a.Via == "api" && a.Who == "token:alice" && a.What == "GET /api/v1/search?q=failed+password")
		after = after || (a.Via == "api" && strings.HasPrefix(a.What, "search results: 2 for GET /api/v1/search?q=failed+password"))
	}
	if !before || !after {
		t.Fatalf("access trail: before %v, after %v: %+v", before, after, accesses(t, st))
	}
	req := httptest.NewRequest("GET", "/api/v1/search?q=failed", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", rec.Code)
	}
}
