package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests,
		test{"EnrollTokens", testEnrollTokens},
		test{"RevocationsAndOperatorTokens", testRevocationsAndOperatorTokens},
		test{"RevokeEndsEnrollTokens", testRevokeEndsEnrollTokens},
		test{"RevokeOperatorTokens", testRevokeOperatorTokens},
	)
}

// testEnrollTokens: a token is used once: the first use returns it with
// its labels, a second use and an expired or unknown token are refused
// with their own errors, also when many enrollments race for one token.
func testEnrollTokens(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if err := s.CreateToken(ctx, store.EnrollToken{Hash: []byte("h1"), Device: "sw1", Labels: map[string]string{"role": "switch"},
		Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.EnrollToken{Hash: []byte("h2"), Device: "sw2", Created: now, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.EnrollToken{Hash: []byte("h1"), Device: "dup", Expires: now}); err == nil {
		t.Error("a second token with the same hash was stored")
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, used := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := s.UseToken(ctx, []byte("h1"), now.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
				if tok.Device != "sw1" || tok.Labels["role"] != "switch" || !tok.Used.Equal(now.Add(time.Minute)) {
					t.Errorf("token = %+v", tok)
				}
			case errors.Is(err, store.ErrTokenUsed):
				used++
			default:
				t.Errorf("UseToken: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || used != 7 {
		t.Errorf("%d enrollments won with one token and %d were told it was used; want 1 and 7", wins, used)
	}
	if _, err := s.UseToken(ctx, []byte("h2"), now.Add(time.Minute)); !errors.Is(err, store.ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	if _, err := s.UseToken(ctx, []byte("nope"), now); !errors.Is(err, store.ErrTokenUnknown) {
		t.Errorf("unknown token: %v", err)
	}
}

// testRevocationsAndOperatorTokens: revocations come back as stored, a
// revocation needs a device, and operator tokens are found by hash.
func testRevocationsAndOperatorTokens(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if err := s.Revoke(ctx, store.Revocation{Device: "sw1", Time: at, KeyIDs: [][]byte{{1, 2}, {3}}, Reason: "stolen", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(ctx, store.Revocation{}); err == nil {
		t.Error("a revocation without a device was stored")
	}
	rs, err := s.Revocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Device != "sw1" || !rs[0].Time.Equal(at) || len(rs[0].KeyIDs) != 2 ||
		!bytes.Equal(rs[0].KeyIDs[0], []byte{1, 2}) || rs[0].Reason != "stolen" || rs[0].By != "alice" {
		t.Errorf("revocations = %+v", rs)
	}
	if err := s.CreateOperatorToken(ctx, store.OperatorToken{Hash: []byte("op"), Name: "alice", Created: at}); err != nil {
		t.Fatal(err)
	}
	if tok, ok, err := s.OperatorToken(ctx, []byte("op")); err != nil || !ok || tok.Name != "alice" || !tok.Expires.IsZero() {
		t.Errorf("operator token: %+v %v %v", tok, ok, err)
	}
	if _, ok, err := s.OperatorToken(ctx, []byte("other")); err != nil || ok {
		t.Errorf("unknown operator token: %v %v", ok, err)
	}
}

// testRevokeEndsEnrollTokens: revoking a device revokes its unused
// enrollment tokens, so a token made before the revocation no longer
// enrolls it (ErrTokenRevoked, saying when); a used token stays used,
// other devices' tokens stay usable, and a token made after the
// revocation (token create -after-revoke) enrolls.
func testRevokeEndsEnrollTokens(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tok := range []store.EnrollToken{
		{Hash: []byte("before"), Device: "sw1", Created: now, Expires: now.Add(time.Hour)},
		{Hash: []byte("used"), Device: "sw1", Created: now, Expires: now.Add(time.Hour)},
		{Hash: []byte("other"), Device: "sw2", Created: now, Expires: now.Add(time.Hour)},
	} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UseToken(ctx, []byte("used"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	revokedAt := now.Add(2 * time.Minute)
	if err := s.Revoke(ctx, store.Revocation{Device: "sw1", Time: revokedAt, Reason: "stolen", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, store.EnrollToken{Hash: []byte("after"), Device: "sw1", Created: now.Add(3 * time.Minute),
		Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	later := now.Add(4 * time.Minute)
	tests := []struct {
		hash    string
		want    error
		wantDev string
	}{
		{"before", store.ErrTokenRevoked, ""},
		{"used", store.ErrTokenUsed, ""},
		{"other", nil, "sw2"},
		{"after", nil, "sw1"},
	}
	for _, tt := range tests {
		tok, err := s.UseToken(ctx, []byte(tt.hash), later)
		if !errors.Is(err, tt.want) {
			t.Errorf("UseToken(%s) = %v, want %v", tt.hash, err, tt.want)
		}
		if err == nil && tok.Device != tt.wantDev {
			t.Errorf("UseToken(%s) device = %q, want %q", tt.hash, tok.Device, tt.wantDev)
		}
		if tt.want == store.ErrTokenRevoked && err != nil && !strings.Contains(err.Error(), revokedAt.Format(time.RFC3339)) {
			t.Errorf("UseToken(%s) = %v, want the revocation time %s in it", tt.hash, err, revokedAt.Format(time.RFC3339))
		}
	}
}

// testRevokeOperatorTokens: RevokeOperatorTokens revokes every token of
// one operator and no other's; a revoked token is no longer found, and
// OperatorTokens lists them all with when they were revoked.
func testRevokeOperatorTokens(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	at := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for i, tok := range []store.OperatorToken{
		{Hash: []byte("a1"), Name: "alice"},
		{Hash: []byte("a2"), Name: "alice", Expires: at.Add(time.Hour)},
		{Hash: []byte("b1"), Name: "bob"},
	} {
		tok.Created = at.Add(time.Duration(i) * time.Second)
		if err := s.CreateOperatorToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	revokedAt := at.Add(time.Minute)
	if n, err := s.RevokeOperatorTokens(ctx, "alice", revokedAt); err != nil || n != 2 {
		t.Fatalf("RevokeOperatorTokens(alice) = %d, %v; want 2, nil", n, err)
	}
	if n, err := s.RevokeOperatorTokens(ctx, "alice", revokedAt.Add(time.Minute)); err != nil || n != 0 {
		t.Errorf("RevokeOperatorTokens(alice) again = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.RevokeOperatorTokens(ctx, "nobody", revokedAt); err != nil || n != 0 {
		t.Errorf("RevokeOperatorTokens(nobody) = %d, %v; want 0, nil", n, err)
	}
	for _, tt := range []struct {
		hash   string
		wantOK bool
	}{{"a1", false}, {"a2", false}, {"b1", true}} {
		if _, ok, err := s.OperatorToken(ctx, []byte(tt.hash)); err != nil || ok != tt.wantOK {
			t.Errorf("OperatorToken(%s) = %v, %v; want %v", tt.hash, ok, err, tt.wantOK)
		}
	}
	list, err := s.OperatorTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tok := range list {
		got = append(got, fmt.Sprintf("%s %s revoked=%v", tok.Hash, tok.Name, tok.Revoked.Equal(revokedAt)))
	}
	want := []string{"a1 alice revoked=true", "a2 alice revoked=true", "b1 bob revoked=false"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("OperatorTokens = %q, want %q", got, want)
	}
	if !list[1].Expires.Equal(at.Add(time.Hour)) || !list[2].Revoked.IsZero() {
		t.Errorf("OperatorTokens = %+v", list)
	}
}
