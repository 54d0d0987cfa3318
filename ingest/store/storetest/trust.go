package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests,
		test{"EnrollTokens", testEnrollTokens},
		test{"RevocationsAndOperatorTokens", testRevocationsAndOperatorTokens},
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
