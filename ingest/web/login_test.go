package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// nextTests are next= values and where login sends the browser.
var nextTests = []struct {
	next, want string
}{
	{"/alerts", "/alerts"},
	{"/alerts?kind=fork&severity=critical", "/alerts?kind=fork&severity=critical"},
	{"/devices/router-1", "/devices/router-1"},
	{"/", "/"},
	{"", "/"},
	{"/login", "/"},
	{"alerts", "/"},
	{"//evil.example/", "/"},
	{"/\\evil.example/", "/"},
	{"\\\\evil.example/", "/"},
	{"/\t/evil.example/phish", "/"},
	{"/\n/evil.example/phish", "/"},
	{"/\r/evil.example", "/"},
	{"/\x00/evil.example", "/"},
	{" //evil.example", "/"},
	{"/ /evil.example", "/"},
	{"https://evil.example/", "/"},
	{"javascript:alert(1)", "/"},
	{"/\u00a0/evil.example", "/"},
	{"/\u3002evil.example", "/"},
	{"/alerts/\\..\\..\\/evil.example", "/"},
	{"/0%0X0000", "/"},
	{"/%2F%2Fevil.example", "/%2F%2Fevil.example"},
	{"/alerts#//evil.example", "/alerts#/evil.example"}, // http.Redirect cleans the path
}

// loginRedirect is where a successful login with next sends the
// browser: the Location the handler writes.
func loginRedirect(next string) string {
	rec := httptest.NewRecorder()
	http.Redirect(rec, httptest.NewRequest("POST", "/login", nil), nextPath(next), http.StatusSeeOther)
	return rec.Header().Get("Location")
}

func TestNextPath(t *testing.T) {
	t.Parallel()
	for _, tt := range nextTests {
		if got := loginRedirect(tt.next); got != tt.want {
			t.Errorf("next=%q: redirected to %q, want %q", tt.next, got, tt.want)
		}
	}
}

// browserResolve resolves a Location as a browser does (the WHATWG URL
// parser for http and https): leading and trailing C0 controls and spaces
// are trimmed, tabs and newlines anywhere removed, backslashes read as
// slashes; then it is resolved against base.
func browserResolve(base *url.URL, loc string) (*url.URL, error) {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= ' ' })
	loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
	return base.Parse(loc)
}

// FuzzNextPath: whatever next= holds, a browser following the login's
// redirect stays on the collector.
func FuzzNextPath(f *testing.F) {
	for _, tt := range nextTests {
		f.Add(tt.next)
	}
	base, _ := url.Parse("https://collector.example:7480/login")
	f.Fuzz(func(t *testing.T, next string) {
		loc := loginRedirect(next)
		u, err := browserResolve(base, loc)
		if err != nil {
			if SafeNext(next) {
				t.Fatalf("next=%q accepted, but its redirect %q does not parse: %v", next, loc, err)
			}
			return
		}
		if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
			t.Fatalf("next=%q: redirected to %q, which a browser reads as %s, another site", next, loc, u)
		}
		if SafeNext(next) && next != "/login" && !strings.HasPrefix(next, "/") {
			t.Fatalf("next=%q accepted without a leading slash", next)
		}
	})
}

// TestLoginCrossSite: another site cannot make a browser post the login
// or logout forms: a cross-site Sec-Fetch-Site, or an Origin other than
// the collector's, is refused with 403 and sets no cookie; the
// dashboard's own form (same-origin) and a program (neither header) log
// in.
func TestLoginCrossSite(t *testing.T) {
	t.Parallel()
	h := newHandler(fixture(t))
	tests := []struct {
		name, path       string
		secFetch, origin string
		want             int
	}{
		{"login cross-site", "/login", "cross-site", "https://evil.example", http.StatusForbidden},
		{"login same-site other origin", "/login", "same-site", "https://other.collector.example", http.StatusForbidden},
		{"login foreign Origin only", "/login", "", "https://evil.example", http.StatusForbidden},
		{"login null Origin", "/login", "", "null", http.StatusForbidden},
		{"logout cross-site", "/logout", "cross-site", "https://evil.example", http.StatusForbidden},
		{"logout foreign Origin only", "/logout", "", "https://evil.example", http.StatusForbidden},
		{"login same-origin", "/login", "same-origin", "https://collector.example", http.StatusSeeOther},
		{"login same Origin only", "/login", "", "https://collector.example", http.StatusSeeOther},
		{"login by a program", "/login", "", "", http.StatusSeeOther},
		{"logout same-origin", "/logout", "same-origin", "https://collector.example", http.StatusSeeOther},
	}
	for _, tt := range tests {
		form := url.Values{"token": {aliceToken}, "next": {"/alerts"}}
		req := httptest.NewRequest("POST", "https://collector.example"+tt.path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		if tt.secFetch != "" {
			req.Header.Set("Sec-Fetch-Site", tt.secFetch)
		}
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.want)
		}
		if tt.want == http.StatusForbidden && len(rec.Result().Cookies()) != 0 {
			t.Errorf("%s: refused, yet cookies %v set", tt.name, rec.Result().Cookies())
		}
	}
}
