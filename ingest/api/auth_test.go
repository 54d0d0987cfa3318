package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
)

// TestUnauthenticatedRefused: without a valid credential every call, on
// any path and with any method, is a 401 that reads nothing and is
// recorded as refused; the token text is never logged.
func TestUnauthenticatedRefused(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	var logs bytes.Buffer
	h := New(Config{Store: st, Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tests := []struct {
		name, method, target, auth, want, challenge string
	}{
		{"none", "GET", "/api/v1/alerts?device=router-1", "", "authentication required", `Bearer realm="offbox"`},
		{"basic", "GET", "/api/v1/events", "Basic YWxpY2U6eA==", "want Bearer", `Bearer realm="offbox", error="invalid_token"`},
		{"empty bearer", "GET", "/api/v1/events", "Bearer ", "want Bearer", `Bearer realm="offbox", error="invalid_token"`},
		{"unknown", "GET", "/api/v1/devices", "Bearer obo_secret-guess", "unknown operator token", `Bearer realm="offbox", error="invalid_token"`},
		{"expired", "GET", "/api/v1/devices", "Bearer " + expiredToken, "expired", `Bearer realm="offbox", error="invalid_token"`},
		{"other path", "GET", "/api/v1/nothing", "", "authentication required", `Bearer realm="offbox"`},
		{"other method", "POST", "/api/v1/alerts", "", "authentication required", `Bearer realm="offbox"`},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(tt.method, tt.target, nil)
		req.RemoteAddr = "192.0.2.9:5000"
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var resp map[string]any
		json.Unmarshal(rec.Body.Bytes(), &resp)
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != tt.challenge {
			t.Errorf("%s: status %d, WWW-Authenticate %q; want 401, %q", tt.name, rec.Code, rec.Header().Get("WWW-Authenticate"), tt.challenge)
		}
		if msg, _ := resp["error"].(string); len(resp) != 1 || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: body %s, want only an error saying %q", tt.name, rec.Body.String(), tt.want)
		}
	}
	as := accesses(t, st)
	if len(as) != len(tests) {
		t.Fatalf("%d accesses, want %d refused ones: %+v", len(as), len(tests), as)
	}
	for i, a := range as {
		want := "refused: " + tests[i].method + " " + tests[i].target
		if a.Who != "unauthenticated" || a.What != want || a.Via != "api" || a.Remote != "192.0.2.9:5000" {
			t.Errorf("access %d = %+v, want unauthenticated %q from 192.0.2.9:5000", i, a, want)
		}
	}
	// The log_access alert of a refused call says so.
	if al := detect.LogAccess(as[0].Who, as[0].What, as[0].Time); al.Summary != "unauthenticated read refused: GET /api/v1/alerts?device=router-1" {
		t.Errorf("alert summary %q", al.Summary)
	}
	for _, secret := range []string{"obo_secret-guess", expiredToken, "YWxpY2U6eA=="} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log shows credential %q:\n%s", secret, logs.String())
		}
	}
	// One warning per remote IP per minute, not one per call.
	if n := strings.Count(logs.String(), "api: call refused"); n != 1 {
		t.Errorf("%d refusal log lines from one IP, want 1:\n%s", n, logs.String())
	}
}

func TestTokenAuthenticates(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(st)
	for _, auth := range []string{"Bearer " + aliceToken, "bearer  " + aliceToken} {
		req := httptest.NewRequest("GET", "/api/v1/devices", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("%q: status %d: %s", auth, rec.Code, rec.Body.String())
		}
	}
	as := accesses(t, st)
	if len(as) != 2 || as[0].Who != "token:alice" || as[1].Who != "token:alice" {
		t.Errorf("accesses %+v, want two by token:alice", as)
	}
}

// tokenDown is a store whose operator token lookup fails.
type tokenDown struct{ Store }

func (tokenDown) OperatorToken(context.Context, []byte) (store.OperatorToken, bool, error) {
	return store.OperatorToken{}, false, errors.New("disk gone")
}

func TestTokenLookupFails(t *testing.T) {
	t.Parallel()
	st := fixture(t)
	h := newHandler(tokenDown{st})
	var resp struct{ Error string }
	req := httptest.NewRequest("GET", "/api/v1/devices", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	json.Unmarshal(rec.Body.Bytes(), &resp)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(resp.Error, "could not be checked") {
		t.Errorf("status %d, error %q; want 503", rec.Code, resp.Error)
	}
	if as := accesses(t, st); len(as) != 0 {
		t.Errorf("accesses %+v, want none", as)
	}
}
