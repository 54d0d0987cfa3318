package enroll

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/internal/lockedbuf"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/tlsconf"
)

// from is a call context whose peer is addr ("ip:port").
func from(addr string) context.Context {
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		panic(err)
	}
	return peer.NewContext(context.Background(), &peer.Peer{Addr: ap})
}

// guarded is the fixture's store and CA behind a Service whose log is
// kept, called directly (the address is the one the test says).
func guarded(t *testing.T, f *fixture, mutate func(*Config)) (*Service, *lockedbuf.Buffer) {
	t.Helper()
	logs := &lockedbuf.Buffer{}
	cfg := Config{Store: f.st, CA: f.ca, Validity: time.Hour, Now: f.now, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		SummaryEvery: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, logs
}

// TestEnrollGuessesLimited: 5,000 guessed tokens from one address within
// a second get 20 answers (the burst) and then ResourceExhausted, and not
// one log line each: one summary line, when the interval ends, counts
// them. Another address, and a good token from it, are not held up; the
// address gets 10 more a minute later.
func TestEnrollGuessesLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, logs := guarded(t, f, nil)
	csr := csrFor(t, newKey(t, tlsconf.Ed25519), "")
	attacker := from("198.51.100.7:40000")
	codesSeen := map[codes.Code]int{}
	for range 5000 {
		guess, _ := NewToken()
		_, err := svc.Enroll(attacker, &offboxv1.EnrollRequest{Token: guess, CsrDer: csr})
		codesSeen[status.Code(err)]++
	}
	if codesSeen[codes.Unauthenticated] != DefaultRefusalBurst || codesSeen[codes.ResourceExhausted] != 5000-DefaultRefusalBurst {
		t.Errorf("answers to 5,000 guesses: %v, want %d Unauthenticated, the rest ResourceExhausted", codesSeen, DefaultRefusalBurst)
	}
	// A good token from the limited address waits too; from another it works.
	good := f.token("gw-1", nil, time.Hour)
	if _, err := svc.Enroll(attacker, &offboxv1.EnrollRequest{Token: good, CsrDer: csr}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("good token from the limited address: %v, want ResourceExhausted", err)
	}
	if _, err := svc.Enroll(from("203.0.113.5:1"), &offboxv1.EnrollRequest{Token: good, CsrDer: csr}); err != nil {
		t.Errorf("good token from another address: %v", err)
	}
	if n := strings.Count(logs.String(), "\n") - 1; n != 0 { // the one line is the enrolment
		t.Errorf("%d log lines besides the enrolment before the summary:\n%s", n, logs.String())
	}
	f.advance(time.Minute)
	ok := 0
	for range 20 {
		guess, _ := NewToken()
		if _, err := svc.Enroll(attacker, &offboxv1.EnrollRequest{Token: guess, CsrDer: csr}); status.Code(err) == codes.Unauthenticated {
			ok++
		}
	}
	if ok != DefaultRefusalsPerMinute {
		t.Errorf("a minute later: %d attempts answered, want %d", ok, DefaultRefusalsPerMinute)
	}
	svc.Close()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	want := "enroll: refused 5021 attempts from 1 addresses in the last 1h (bad token: 30, bad request: 0, rate: 4991)"
	if len(lines) != 2 || !strings.Contains(lines[1], want) || !strings.Contains(lines[1], "top_source=198.51.100.7/32") {
		t.Errorf("log:\n%s\nwant the enrolment and one summary line saying %q", logs.String(), want)
	}
}

// TestEnrollSuccessesCostNothing: 30 devices behind one NAT address
// enroll with good tokens, more than the burst, and none is refused;
// an IPv6 host's other addresses in its /64 share its limit.
func TestEnrollSuccessesCostNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, _ := guarded(t, f, func(c *Config) { c.RefusalBurst, c.RefusalsPerMinute = 2, 1 })
	nat := from("192.0.2.1:5000")
	for i := range 30 {
		tok := f.token(fmt.Sprintf("vm-%d", i), nil, time.Hour)
		if _, err := svc.Enroll(nat, &offboxv1.EnrollRequest{Token: tok, CsrDer: csrFor(t, newKey(t, tlsconf.Ed25519), "")}); err != nil {
			t.Fatalf("enrolment %d behind the NAT: %v", i+1, err)
		}
	}
	csr := csrFor(t, newKey(t, tlsconf.Ed25519), "")
	for i, addr := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2::99]:2", "[2001:db8:1:2:ffff::3]:3"} {
		guess, _ := NewToken()
		_, err := svc.Enroll(from(addr), &offboxv1.EnrollRequest{Token: guess, CsrDer: csr})
		want := codes.Unauthenticated
		if i == 2 {
			want = codes.ResourceExhausted
		}
		if status.Code(err) != want {
			t.Errorf("guess %d from %s: %v, want %v (one /64, burst 2)", i+1, addr, err, want)
		}
	}
	guess, _ := NewToken()
	if _, err := svc.Enroll(from("[2001:db8:1:3::1]:1"), &offboxv1.EnrollRequest{Token: guess, CsrDer: csr}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("guess from the next /64: %v, want Unauthenticated", err)
	}
}

// TestEnrollSummaryOnTime: without Close, the summary line comes when
// the interval ends, over real gRPC and TLS, and bad requests are
// counted apart from bad tokens.
func TestEnrollSummaryOnTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc, logs := guarded(t, f, func(c *Config) { c.SummaryEvery = 200 * time.Millisecond })
	ctx := from("127.0.0.1:9")
	svc.Enroll(ctx, &offboxv1.EnrollRequest{Token: "obe_x", CsrDer: []byte("not a csr")})
	svc.Enroll(ctx, &offboxv1.EnrollRequest{Token: "obe_x", CsrDer: csrFor(t, newKey(t, tlsconf.Ed25519), "")})
	want := "enroll: refused 2 attempts from 1 addresses in the last 200ms (bad token: 1, bad request: 1, rate: 0)"
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !strings.Contains(logs.String(), want); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log:\n%s\nwant %q", logs.String(), want)
	}
}
