package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/internal/secret"
)

// emptyDB is a new database file.
func emptyDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "o.db")
	st, err := sqlite.Open(path, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return path
}

// TestOperatorTokenCreate: the token is printed once, only its hash is
// stored, and the query API lets it in under the operator's name.
func TestOperatorTokenCreate(t *testing.T) {
	t.Parallel()
	db := emptyDB(t)
	before := time.Now()
	out, errOut, code := runFunc("operator-token", "create", "-db", db, "-name", "alice")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tok := strings.TrimSuffix(out, "\n")
	if !regexp.MustCompile(`^obo_[A-Za-z0-9_-]{43}$`).MatchString(tok) || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout %q, want one line obo_ + 43 base64url characters", out)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "obo_")); err != nil || len(raw) != 32 {
		t.Errorf("token decodes to %d bytes, %v; want 32", len(raw), err)
	}
	if !strings.Contains(errOut, "operator alice, valid until ") || strings.Contains(errOut, tok) {
		t.Errorf("stderr %q: want the operator and expiry, not the token", errOut)
	}
	for _, f := range []string{db, db + "-wal"} {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(tok)) || bytes.Contains(b, []byte(strings.TrimPrefix(tok, "obo_"))) {
			t.Errorf("%s holds the token text", f)
		}
	}
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, ok, err := st.OperatorToken(context.Background(), secret.Hash(tok))
	if err != nil || !ok || got.Name != "alice" {
		t.Fatalf("stored token %+v, %v, %v; want alice's", got, ok, err)
	}
	if want := before.Add(defaultOperatorTTL); got.Expires.Before(want) || got.Expires.After(want.Add(time.Minute)) {
		t.Errorf("expires %v, want about %v", got.Expires, want)
	}
	h := api.New(api.Config{Store: st})
	req := httptest.NewRequest("GET", "/api/v1/devices", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("the new token against the API: %d %s", rec.Code, rec.Body.String())
	}
	as, _ := st.AccessesAfter(context.Background(), 0, 10)
	if len(as) != 1 || as[0].Who != "token:alice" {
		t.Errorf("accesses %+v, want one by token:alice", as)
	}
}

func TestOperatorTokenTTLAndConfig(t *testing.T) {
	t.Parallel()
	db := emptyDB(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("db: "+db+"\n"), 0o600)
	never, errOut, code := runFunc("operator-token", "create", "-config", cfg, "-name", "ci@build-1", "-ttl", "0")
	if code != exitOK || !strings.Contains(errOut, "does not expire") {
		t.Fatalf("-ttl 0: exit %d: %s", code, errOut)
	}
	hour, errOut, code := runFunc("operator-token", "create", "-db", db, "-name", "bob", "-ttl", "1h")
	if code != exitOK {
		t.Fatalf("-ttl 1h: exit %d: %s", code, errOut)
	}
	if never == hour {
		t.Fatal("two tokens alike")
	}
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, _, _ := st.OperatorToken(context.Background(), secret.Hash(strings.TrimSpace(never)))
	h, _, _ := st.OperatorToken(context.Background(), secret.Hash(strings.TrimSpace(hour)))
	if n.Name != "ci@build-1" || !n.Expires.IsZero() {
		t.Errorf("-ttl 0 token %+v, want ci@build-1 without expiry", n)
	}
	if h.Name != "bob" || time.Until(h.Expires) > time.Hour || time.Until(h.Expires) < 59*time.Minute {
		t.Errorf("-ttl 1h token %+v", h)
	}
}

func TestOperatorTokenErrors(t *testing.T) {
	t.Parallel()
	db := emptyDB(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"operator-token"}, exitUsage, "usage: offbox-ingest operator-token create"},
		{[]string{"operator-token", "frobnicate"}, exitUsage, `unknown subcommand "frobnicate"`},
		{[]string{"operator-token", "revoke", "-db", db}, exitUsage, `-name ""`},
		{[]string{"operator-token", "revoke", "-db", db, "-name", "nobody"}, exitFailure, "operator nobody has no token"},
		{[]string{"operator-token", "list", "-db", db + ".none"}, exitFailure, "does not exist"},
		{[]string{"operator-token", "create", "-db", db}, exitUsage, `-name ""`},
		{[]string{"operator-token", "create", "-db", db, "-name", "a b"}, exitUsage, `-name "a b"`},
		{[]string{"operator-token", "create", "-db", db, "-name", "a", "-ttl", "-1h"}, exitUsage, "-ttl -1h0m0s"},
		{[]string{"operator-token", "create", "-db", db + ".none", "-name", "a"}, exitFailure, "does not exist"},
	}
	for _, tt := range tests {
		out, errOut, code := runFunc(tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.want) || out != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d saying %q", tt.args, code, out, errOut, tt.code, tt.want)
		}
	}
}

// TestServeAPI: serve announces the API after the ingest listener, and
// refuses a call without a token, over plain HTTP on loopback and over
// TLS without an operator CA (tokens only).
func TestServeAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	roots := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(pki, "ca.pem"))
	roots.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	for _, tt := range []struct{ name, scheme, api string }{
		{"plain", "http", "api:\n  listen: 127.0.0.1:0\n"},
		{"tls", "https", "api:\n  listen: 127.0.0.1:0\n  tls:\n    cert: " + filepath.Join(pki, "ingest.pem") +
			"\n    key: " + filepath.Join(pki, "ingest-key.pem") + "\n"},
	} {
		sub := filepath.Join(dir, tt.name)
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		db := filepath.Join(sub, "c.db") // serveConfig's
		p := startServe(t, "-config", serveConfig(t, sub, pki, tt.api))
		var base string
		for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if m := apiListeningRE.FindStringSubmatch(p.logs.String()); m != nil {
				base = tt.scheme + "://" + m[1]
			}
		}
		if base == "" || strings.HasSuffix(base, "//"+p.addr) {
			t.Fatalf("%s: api address %q, ingest %q", tt.name, base, p.addr)
		}
		tok, errOut, code := runFunc("operator-token", "create", "-db", db, "-name", "alice")
		if code != exitOK {
			t.Fatalf("operator-token: %d %s", code, errOut)
		}
		for _, auth := range []struct {
			header string
			want   int
		}{{"", http.StatusUnauthorized}, {"Bearer " + strings.TrimSpace(tok), http.StatusOK}} {
			req, _ := http.NewRequest("GET", base+"/api/v1/devices", nil)
			if auth.header != "" {
				req.Header.Set("Authorization", auth.header)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != auth.want {
				t.Errorf("%s, token %v: status %d, want %d", tt.name, auth.header != "", resp.StatusCode, auth.want)
			}
		}
		if code := p.terminate(t); code != 0 {
			t.Errorf("%s: exit %d", tt.name, code)
		}
	}
}

// TestServeRefusesUnsafe: a key file everyone can read, or a query API
// open beyond loopback without allow_cidrs or TLS, stops serve with the reason.
func TestServeRefusesUnsafe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	open := filepath.Join(dir, "open-key.pem")
	b, _ := os.ReadFile(filepath.Join(pki, "ingest-key.pem"))
	os.WriteFile(open, b, 0o644)
	os.Chmod(open, 0o644)
	conf := func(name, key, api string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("listen: 127.0.0.1:0\ndb: "+filepath.Join(dir, "x.db")+"\ntls:\n  ca: "+filepath.Join(pki, "ca.pem")+
			"\n  cert: "+filepath.Join(pki, "ingest.pem")+"\n  key: "+key+"\n"+api), 0o600)
		return p
	}
	tests := map[string]struct {
		config string
		want   []string
	}{
		"world-readable key": {conf("a.yaml", open, ""), []string{"tls.key " + open + ": private key readable by every user (mode 0644); chmod 600 " + open}},
		"public api, no ranges": {conf("b.yaml", filepath.Join(pki, "ingest-key.pem"),
			"api:\n  listen: 0.0.0.0:7480\n  tls:\n    cert: "+filepath.Join(pki, "ingest.pem")+"\n    key: "+filepath.Join(pki, "ingest-key.pem")+"\n"),
			[]string{"api.allow_cidrs: required when api.listen \"0.0.0.0:7480\" is not loopback"}},
		"public api, plain": {conf("c.yaml", filepath.Join(pki, "ingest-key.pem"), "api:\n  listen: 0.0.0.0:7480\n  allow_cidrs: [10.0.0.0/8]\n"),
			[]string{"api.tls.cert and api.tls.key are required"}},
	}
	for name, tt := range tests {
		_, stderr, code := runBin(t, "serve", "-config", tt.config)
		for _, w := range tt.want {
			if code != exitFailure || !strings.Contains(stderr, w) || strings.Contains(stderr, "listening on") {
				t.Errorf("%s: exit %d, stderr %q; want exit 1 saying %q", name, code, stderr, w)
			}
		}
	}
}

// TestOperatorTokenRevoke: operator-token revoke -name revokes every token
// of that operator and no other's; list shows them with their state; and
// a collector already running (its API on a store opened before the
// revocation) refuses the revoked tokens within 2 s while the others keep
// working.
func TestOperatorTokenRevoke(t *testing.T) {
	t.Parallel()
	db := emptyDB(t)
	create := func(name string) string {
		out, errOut, code := runFunc("operator-token", "create", "-db", db, "-name", name)
		if code != exitOK {
			t.Fatalf("create %s: exit %d: %s", name, code, errOut)
		}
		return strings.TrimSuffix(out, "\n")
	}
	alice1, alice2, bob := create("alice"), create("alice"), create("bob")

	running, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer running.Close()
	h := api.New(api.Config{Store: running})
	status := func(tok string) int {
		req := httptest.NewRequest("GET", "/api/v1/devices", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for _, tok := range []string{alice1, alice2, bob} {
		if got := status(tok); got != http.StatusOK {
			t.Fatalf("before the revocation: %d, want 200", got)
		}
	}

	out, errOut, code := runFunc("operator-token", "revoke", "-db", db, "-name", "alice")
	if code != exitOK || !strings.Contains(out, "revoked 2 token(s) of operator alice") {
		t.Fatalf("revoke: exit %d, stdout %q, stderr %q; want 2 tokens of alice revoked", code, out, errOut)
	}
	revoked := time.Now()
	for _, tok := range []string{alice1, alice2} {
		for status(tok) != http.StatusUnauthorized {
			if time.Since(revoked) > 2*time.Second {
				t.Fatalf("a revoked token still let in 2 s after the revocation")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if got := status(bob); got != http.StatusOK {
		t.Errorf("bob's token after alice's revocation: %d, want 200", got)
	}

	out, errOut, code = runFunc("operator-token", "list", "-db", db)
	if code != exitOK {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "OPERATOR") {
		t.Fatalf("list:\n%s\nwant a header and 3 tokens", out)
	}
	var states []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		states = append(states, f[0]+" "+f[3])
	}
	if got, want := strings.Join(states, ", "), "alice revoked, alice revoked, bob valid"; got != want {
		t.Errorf("list states = %q, want %q\n%s", got, want, out)
	}
	for _, tok := range []string{alice1, alice2, bob} {
		if strings.Contains(out, tok) || strings.Contains(out, strings.TrimPrefix(tok, "obo_")) {
			t.Errorf("list shows a token:\n%s", out)
		}
	}
}
