package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/detect"
)

// TestDescribeCut: the access trail keeps at most MaxAuditPath bytes of
// a path and MaxAuditQuery of a query, whole characters, marked as cut.
func TestDescribeCut(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 900<<10)
	tests := []struct {
		name, target string
		wantPrefix   string
		maxLen       int
		cut          bool
	}{
		{"short", "/api/v1/alerts?device=r1", "GET /api/v1/alerts?device=r1", 0, false},
		{"long query", "/api/v1/alerts?q=" + long, "GET /api/v1/alerts?q=aaa", 4 + len("/api/v1/alerts") + 1 + MaxAuditQuery + 40, true},
		{"long path", "/" + long + "?x=1", "GET /aaa", 4 + MaxAuditPath + 40 + 4, true},
		{"multibyte path", "/" + strings.Repeat("é", 600), "GET /é", 4 + MaxAuditPath + 40, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", tt.target, nil)
		got := Describe(r)
		if !strings.HasPrefix(got, tt.wantPrefix) {
			t.Errorf("%s: Describe = %.80q..., want it to begin %q", tt.name, got, tt.wantPrefix)
		}
		if tt.cut != strings.Contains(got, "…[cut from ") {
			t.Errorf("%s: Describe = %.200q, want cut marked: %v", tt.name, got, tt.cut)
		}
		if tt.maxLen > 0 && len(got) > tt.maxLen {
			t.Errorf("%s: Describe holds %d bytes, want at most %d", tt.name, len(got), tt.maxLen)
		}
		if !utf8.ValidString(got) {
			t.Errorf("%s: Describe cut a character: %q", tt.name, got)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Method = strings.Repeat("X", 5000)
	if got := Describe(r); len(got) > MaxAuditMethod+40 {
		t.Errorf("a 5000-byte method: Describe holds %d bytes", len(got))
	}
}

// TestRefusedRateLimited: past RefusedBurst refused calls from one source
// in a window, calls are not recorded one by one but counted, and the
// window's end records one summary row that detection counts in full;
// another source has its own burst; an IPv6 client's /64 is one source.
func TestRefusedRateLimited(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	a := &Auth{Store: st, Now: func() time.Time { return now }, RefusedBurst: 3, RefusedWindow: 300 * time.Millisecond}
	h := New(Config{Store: st, Now: func() time.Time { return now }, Auth: a})
	call := func(remote string, n int) {
		for range n {
			req := httptest.NewRequest("GET", "/api/v1/devices", nil)
			req.RemoteAddr = remote
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("from %s: %d, want 401", remote, rec.Code)
			}
		}
	}
	call("192.0.2.9:5000", 50)
	call("192.0.2.10:5000", 2)
	call("[2001:db8::1]:5000", 10)
	call("[2001:db8::2]:5000", 10) // the same /64
	if total, unrecorded := a.Refused(); total != 72 || unrecorded != 47+17 {
		t.Errorf("Refused() = %d, %d; want 72 refused, %d not recorded one by one", total, unrecorded, 47+17)
	}
	if n := len(accesses(t, st)); n != 3+2+3 {
		t.Errorf("%d access rows during the window, want 8 (each source's burst)", n)
	}
	var as []accessRow
	waitUntil(t, func() bool { as = accessRows(t, st); return len(as) == 10 })
	perSource := map[string]int{}
	for _, r := range as {
		perSource[r.src] += r.count
	}
	want := map[string]int{"192.0.2.9": 50, "192.0.2.10": 2, "2001:db8::": 20}
	for src, n := range want {
		if perSource[src] != n {
			t.Errorf("source %s: rows count %d calls, want %d (all: %v)", src, perSource[src], n, perSource)
		}
	}
	// After the window a source starts a new burst.
	call("192.0.2.9:5000", 1)
	if n := len(accesses(t, st)); n != 11 {
		t.Errorf("%d access rows after the window, want 11", n)
	}
}

type accessRow struct {
	src   string
	count int
}

// accessRows reads the trail as detection counts it: each row's source
// (an IPv6 /64's first address) and the calls it stands for.
func accessRows(t *testing.T, st Store) []accessRow {
	t.Helper()
	var out []accessRow
	for _, a := range accesses(t, st) {
		host := a.Remote[:strings.LastIndex(a.Remote, ":")]
		host = strings.Trim(host, "[]")
		if strings.HasPrefix(host, "2001:db8::") {
			host = "2001:db8::"
		}
		out = append(out, accessRow{host, detect.RefusalCount(a.Who, a.Via, a.What)})
	}
	return out
}
