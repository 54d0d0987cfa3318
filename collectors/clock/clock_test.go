package clock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/offbox/offbox/collectors"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// rounds runs n rounds, moving the monotonic clock one interval after each.
func rounds(c *Collector, mono *fakeMono, n int) Summary {
	var s Summary
	for range n {
		s = c.Measure(context.Background())
		mono.add(c.interval)
	}
	return s
}

func TestNewDefaultsAndErrors(t *testing.T) {
	t.Parallel()
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.name != "ntp.internal" || c.namePort != 123 || c.interval != 64*time.Second ||
		c.pc.samples != 4 || c.pc.window != 8 || c.pc.timeout != 2*time.Second || c.Name() != "clock" {
		t.Fatalf("defaults: got name %q port %d interval %v samples %d window %d timeout %v",
			c.name, c.namePort, c.interval, c.pc.samples, c.pc.window, c.pc.timeout)
	}
	c, err = New(Config{Servers: []string{"ntp1", "10.0.0.1:1123", "::1", "[fe80::1]:123", "ntp1:123"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ntp1:123", "10.0.0.1:1123", "[::1]:123", "[fe80::1]:123"}; !slices.Equal(c.servers, want) || c.name != "" {
		t.Fatalf("servers: got %v name %q, want %v and no name", c.servers, c.name, want)
	}
	for _, bad := range []Config{
		{Servers: []string{""}},
		{Servers: []string{"host:0"}},
		{Servers: []string{"host:99999"}},
		{Servers: []string{"a b"}},
		{Servers: []string{"1:2:3:zz"}},
		{Name: "has space"},
		{NamePort: 70000},
		{Interval: -1},
		{Samples: 1000},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v): got no error", bad)
		}
	}
}

// A healthy set: one record's worth of fields, right offsets, all reachable.
func TestMeasureHealthy(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("a:123", good(1*time.Millisecond, 2*time.Millisecond))
	fs.set("b:123", good(1200*time.Microsecond, 4*time.Millisecond))
	fs.set("c:123", good(900*time.Microsecond, 2*time.Millisecond))
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"a", "b", "c"}, Logger: quiet}, fs, mono)
	s := rounds(c, mono, 1)
	if !s.OK || s.NoMajority || len(s.Truechimers) != 3 || len(s.Falsetickers) != 0 || s.Reachable != 3 {
		t.Fatalf("got ok=%v nomaj=%v true=%v false=%v reachable=%d reasons=%v", s.OK, s.NoMajority, s.Truechimers, s.Falsetickers, s.Reachable, s.Reasons)
	}
	if s.OffsetNS < int64(900*time.Microsecond) || s.OffsetNS > int64(1200*time.Microsecond) || s.ErrorBoundNS <= 0 {
		t.Fatalf("combined: got %v ± %v, want within [0.9ms, 1.2ms] and a bound", time.Duration(s.OffsetNS), time.Duration(s.ErrorBoundNS))
	}
	if s.SpreadNS != int64(300*time.Microsecond) {
		t.Errorf("spread: got %v, want 300µs", time.Duration(s.SpreadNS))
	}
	a, _ := serverByAddr(s, "a:123")
	if a.Reach != 1 || a.Polls != 1 || a.Samples != 4 || a.Stratum != 2 || a.RefID != "127.0.0.1" || a.State != "truechimer" {
		t.Errorf("server a: %+v", a)
	}
	// delay/2 + PHI×delay: 1 ms + 30 ns.
	if want := int64(time.Millisecond + 30); a.ErrorBoundNS != want {
		t.Errorf("server a error bound: got %d, want %d", a.ErrorBoundNS, want)
	}
	if got := fs.count("a:123"); got != 4 {
		t.Errorf("queries to a in one poll: got %d, want 4 (Samples)", got)
	}
	if l, ok := c.Latest(); !ok || l.OffsetNS != s.OffsetNS {
		t.Errorf("Latest: got %v, %v", l.OffsetNS, ok)
	}
}

// The window keeps the last Window samples and the lowest-delay one wins.
func TestWindowLowestDelay(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	// Sample n has delay 10ms-n ms... until n=5, then large again.
	fs.set("a:123", func(n int) (*ntpResponse, error) {
		d := time.Duration(10-min(n, 5)) * time.Millisecond
		if n > 5 {
			d = 20 * time.Millisecond
		}
		return &ntpResponse{Version: 4, Stratum: 3, ClockOffset: time.Duration(n) * time.Microsecond, RTT: d}, nil
	})
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"a"}, Samples: 2, Window: 4, Logger: quiet}, fs, mono)
	s := rounds(c, mono, 3) // samples 0..5; window holds 2..5
	a, _ := serverByAddr(s, "a:123")
	if a.Samples != 4 || a.OffsetNS != 5000 || a.DelayNS != int64(5*time.Millisecond) {
		t.Fatalf("after 6 samples: got %d samples, offset %d, delay %d; want 4, 5000 (the 5 ms sample)", a.Samples, a.OffsetNS, a.DelayNS)
	}
	s = rounds(c, mono, 2) // samples 6..9, all 20 ms: window holds only those
	a, _ = serverByAddr(s, "a:123")
	if a.OffsetNS != 6000 || a.DelayNS != int64(20*time.Millisecond) {
		t.Fatalf("after the good ones left the window: got offset %d delay %d, want 6000 and 20ms", a.OffsetNS, a.DelayNS)
	}
	// Jitter: offsets 6,7,8,9 µs against 6 µs: sqrt((1+4+9)/3) µs.
	if a.JitterNS != 2160 {
		t.Errorf("jitter: got %d, want 2160", a.JitterNS)
	}
}

func TestKissOfDeathRateBacksOff(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("ok1:123", good(0, time.Millisecond))
	fs.set("ok2:123", good(0, time.Millisecond))
	fs.set("rate:123", kiss("RATE"))
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"ok1", "ok2", "rate"}, Interval: time.Minute, Logger: quiet}, fs, mono)

	var polls []int // rounds in which "rate" was queried
	var s Summary
	for round := range 40 {
		before := fs.count("rate:123")
		s = c.Measure(context.Background())
		if fs.count("rate:123") > before {
			polls = append(polls, round)
		}
		mono.add(time.Minute)
	}
	// Poll interval doubles per RATE: rounds 0, 2, 6, 14, 30.
	if want := []int{0, 2, 6, 14, 30}; !slices.Equal(polls, want) {
		t.Fatalf("rounds polling the rate-limited server: got %v, want %v", polls, want)
	}
	if got := fs.count("rate:123"); got != 5 {
		t.Errorf("queries to the rate-limited server: got %d, want 5 (one per poll: a kiss ends the poll)", got)
	}
	if got := fs.count("ok1:123"); got != 40*4 {
		t.Errorf("queries to a normal server: got %d, want %d", got, 40*4)
	}
	r, _ := serverByAddr(s, "rate:123")
	if r.PollNS != int64(32*time.Minute) || r.State != "rate_limited" || r.Kiss != "RATE" {
		t.Errorf("rate-limited server: got poll %v state %q kiss %q, want 32m rate_limited RATE", time.Duration(r.PollNS), r.State, r.Kiss)
	}
	if !slices.Equal(s.RateLimited, []string{"rate:123"}) || slices.Contains(s.Unreachable, "rate:123") {
		t.Errorf("lists: rate_limited %v unreachable %v", s.RateLimited, s.Unreachable)
	}
	if !s.OK || len(s.Truechimers) != 2 {
		t.Errorf("the two others still give the time: ok=%v truechimers=%v", s.OK, s.Truechimers)
	}
	if v, _ := attr(record(s), "rate_limited"); v != "rate:123" {
		t.Errorf("rate_limited attr: got %q", v)
	}

	// The ceiling: never over an hour.
	for range 200 {
		c.Measure(context.Background())
		mono.add(time.Minute)
	}
	r, _ = serverByAddr(c.Measure(context.Background()), "rate:123")
	if r.PollNS != int64(time.Hour) {
		t.Errorf("poll ceiling: got %v, want 1h", time.Duration(r.PollNS))
	}

	// Once it answers again its poll interval comes back, halving per poll.
	fs.set("rate:123", good(0, time.Millisecond))
	mono.add(time.Hour)
	var pollNS []int64
	for range 120 {
		s = c.Measure(context.Background())
		r, _ = serverByAddr(s, "rate:123")
		if len(pollNS) == 0 || pollNS[len(pollNS)-1] != r.PollNS {
			pollNS = append(pollNS, r.PollNS)
		}
		mono.add(time.Minute)
	}
	if pollNS[len(pollNS)-1] != int64(time.Minute) || r.State != "truechimer" || r.Kiss != "" {
		t.Errorf("after RATE ended: poll intervals %v, state %q, kiss %q; want back to 1m, truechimer", pollNS, r.State, r.Kiss)
	}
}

func TestKissOfDeathDenyRefuses(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"DENY", "RSTR"} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			fs := newFakeServers()
			fs.set("ok:123", good(0, time.Millisecond))
			fs.set("no:123", kiss(code))
			mono := &fakeMono{}
			c := newTestCollector(t, Config{Servers: []string{"ok", "no"}, Logger: quiet}, fs, mono)
			s := rounds(c, mono, 10)
			if got := fs.count("no:123"); got != 1 {
				t.Errorf("queries after %s: got %d, want 1 (never polled again)", code, got)
			}
			no, _ := serverByAddr(s, "no:123")
			if no.State != "refused" || no.Kiss != code || !slices.Equal(s.Refused, []string{"no:123"}) ||
				slices.Contains(s.Unreachable, "no:123") || slices.Contains(s.Falsetickers, "no:123") {
				t.Errorf("got state %q kiss %q refused %v unreachable %v", no.State, no.Kiss, s.Refused, s.Unreachable)
			}
			if v, _ := attr(record(s), "refused"); v != "no:123" {
				t.Errorf("refused attr: got %q", v)
			}
			if !s.OK {
				t.Errorf("the other server still gives the time: %v", s.Reasons)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("a:123", good(0, time.Millisecond))
	fs.set("b:123", good(0, time.Millisecond))
	fs.set("c:123", good(0, time.Millisecond))
	// "never" has no script: every query times out.
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"a", "b", "c", "never"}, Logger: quiet}, fs, mono)

	s := rounds(c, mono, 1)
	if n, _ := serverByAddr(s, "never:123"); n.State != "unreachable" || n.Reach != 0 || n.LastError == "" {
		t.Fatalf("a server that never answered, after one poll: got %+v, want unreachable with its error", n)
	}
	if !slices.Equal(s.Unreachable, []string{"never:123"}) {
		t.Fatalf("unreachable list: got %v", s.Unreachable)
	}
	if fs.count("never:123") != 4 {
		t.Errorf("first poll of a silent server: got %d queries, want 4", fs.count("never:123"))
	}
	rounds(c, mono, 1)
	if fs.count("never:123") != 5 {
		t.Errorf("a server whose last poll failed gets one try: got %d queries in total, want 5", fs.count("never:123"))
	}
	if a, _ := serverByAddr(rounds(c, mono, 6), "a:123"); a.Reach != 0xff {
		t.Fatalf("after 8 good polls: reach %08b, want 11111111", a.Reach)
	}

	// a answered; it stops: unreachable after exactly 8 failed polls.
	fs.set("a:123", down())
	for poll := 1; poll <= 8; poll++ {
		s = rounds(c, mono, 1)
		a, _ := serverByAddr(s, "a:123")
		if wantReach := uint8(0xff << poll); a.Reach != wantReach {
			t.Fatalf("after %d failed polls: reach %08b, want %08b", poll, a.Reach, wantReach)
		}
		unreachable := slices.Contains(s.Unreachable, "a:123")
		if unreachable != (poll == 8) {
			t.Fatalf("after %d failed polls: unreachable=%v, want %v", poll, unreachable, poll == 8)
		}
		if poll < 8 && !slices.Contains(s.Truechimers, "a:123") {
			t.Fatalf("after %d failed polls a's last sample still counts: truechimers %v", poll, s.Truechimers)
		}
	}
	if s.Reachable != 2 || !s.OK {
		t.Errorf("reachable %d ok %v, want 2 and ok", s.Reachable, s.OK)
	}
	if v, _ := attr(record(s), "unreachable"); v != "a:123,never:123" {
		t.Errorf("unreachable attr: got %q", v)
	}

	// Every server down: a record that says so.
	fs.set("b:123", down())
	fs.set("c:123", down())
	s = rounds(c, mono, 8)
	if s.OK || s.Reachable != 0 || len(s.Unreachable) != 4 || !slices.Contains(s.Reasons, "no server answered") {
		t.Fatalf("all down: ok=%v reachable=%d unreachable=%v reasons=%v", s.OK, s.Reachable, s.Unreachable, s.Reasons)
	}
	r := record(s)
	if _, ok := attr(r, "offset_ns"); ok {
		t.Errorf("all down: the record has an offset_ns attr")
	}
	if v, _ := attr(r, "reachable"); v != "0" {
		t.Errorf("reachable attr: got %q", v)
	}
}

func TestDNSNotFoundDegrades(t *testing.T) {
	t.Parallel()
	res := &staticResolver{err: fmt.Errorf("ntp.internal: %w", ErrNotFound)}
	fs := newFakeServers()
	mono := &fakeMono{}
	// Named explicitly: its failure is a reason every round (an implicit
	// ntp.internal is stated once instead: TestUnconfiguredStatedOnce).
	c := newTestCollector(t, Config{Resolver: res, Name: "ntp.internal", Logger: quiet}, fs, mono)
	s := rounds(c, mono, 1)
	if s.OK || len(s.Servers) != 0 {
		t.Fatalf("got ok=%v servers=%v", s.OK, s.Servers)
	}
	if !slices.ContainsFunc(s.Reasons, func(r string) bool { return strings.HasPrefix(r, "dns ntp.internal: ") }) ||
		!slices.Contains(s.Reasons, "no NTP servers") {
		t.Fatalf("reasons: got %v", s.Reasons)
	}
	r := record(s)
	if r.Kind != collectors.KindClock || r.Source != "clock" {
		t.Fatalf("record kind %v source %q", r.Kind, r.Source)
	}
	if v, _ := attr(r, "reasons"); !strings.Contains(v, "no such host") {
		t.Errorf("reasons attr: got %q", v)
	}
	if v, _ := attr(r, "servers"); v != "0" {
		t.Errorf("servers attr: got %q", v)
	}

	// The name comes back; then fails again: the last answer's servers are
	// kept and the failure reported.
	fs.set("192.0.2.1:123", good(0, time.Millisecond))
	res.mu.Lock()
	res.addrs, res.ttl, res.err = []netip.Addr{netip.MustParseAddr("192.0.2.1")}, time.Minute, nil
	res.mu.Unlock()
	mono.add(retryFailed)
	s = rounds(c, mono, 1)
	if !s.OK || len(s.Servers) != 1 || s.Servers[0].Origin != "ntp.internal" {
		t.Fatalf("after the name resolved: ok=%v servers=%v reasons=%v", s.OK, s.Servers, s.Reasons)
	}
	res.mu.Lock()
	res.err = errors.New("i/o timeout")
	res.mu.Unlock()
	mono.add(time.Minute)
	s = rounds(c, mono, 1)
	if !s.OK || len(s.Servers) != 1 ||
		!slices.ContainsFunc(s.Reasons, func(r string) bool { return strings.Contains(r, "still using the 1 servers") }) {
		t.Fatalf("after the name failed again: ok=%v servers=%d reasons=%v", s.OK, len(s.Servers), s.Reasons)
	}
}

func TestNameReresolvedAfterTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ttl, want time.Duration
	}{
		{0, 5 * time.Minute}, // unknown
		{10 * time.Second, 30 * time.Second},
		{2 * time.Minute, 2 * time.Minute},
		{24 * time.Hour, time.Hour},
	}
	for _, tc := range tests {
		if got := keepFor(tc.ttl); got != tc.want {
			t.Errorf("keepFor(%v) = %v, want %v", tc.ttl, got, tc.want)
		}
		res := &staticResolver{addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, ttl: tc.ttl}
		mono := &fakeMono{}
		c := newTestCollector(t, Config{Resolver: res, Interval: 10 * time.Second, Logger: quiet}, newFakeServers(), mono)
		c.Measure(context.Background())
		mono.add(tc.want - time.Nanosecond)
		c.Measure(context.Background())
		if res.calls != 1 {
			t.Errorf("ttl %v: resolved %d times before %v passed, want 1", tc.ttl, res.calls, tc.want)
		}
		mono.add(time.Nanosecond)
		c.Measure(context.Background())
		if res.calls != 2 {
			t.Errorf("ttl %v: resolved %d times once %v passed, want 2", tc.ttl, res.calls, tc.want)
		}
	}

	// A new answer replaces the servers and keeps the history of those
	// that stay.
	res := &staticResolver{addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}, ttl: time.Minute}
	fs := newFakeServers()
	fs.set("192.0.2.1:1123", good(0, time.Millisecond))
	fs.set("192.0.2.2:1123", good(0, time.Millisecond))
	fs.set("[2001:db8::3]:1123", good(0, time.Millisecond))
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Resolver: res, NamePort: 1123, Servers: []string{"192.0.2.9"}, Name: "ntp.example", Logger: quiet}, fs, mono)
	rounds(c, mono, 1)
	res.mu.Lock()
	res.addrs = []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")}
	res.mu.Unlock()
	mono.add(time.Minute)
	s := rounds(c, mono, 1)
	var got []string
	for _, sv := range s.Servers {
		got = append(got, sv.Address+"/"+sv.Origin+fmt.Sprint("/", sv.Polls))
	}
	want := []string{"192.0.2.2:1123/ntp.example/2", "192.0.2.9:123/config/2", "[2001:db8::3]:1123/ntp.example/1"}
	if !slices.Equal(got, want) {
		t.Fatalf("servers after re-resolution: got %v, want %v", got, want)
	}
}

func TestDetectStep(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		prevWall   time.Time
		wall       time.Time
		prevM, m   time.Duration
		wantStepNS int64 // 0: none
	}{
		{"first round", time.Time{}, t0, 0, 0, 0},
		{"in step", t0, t0.Add(64 * time.Second), 0, 64 * time.Second, 0},
		{"slew under threshold", t0, t0.Add(64*time.Second + 99*time.Millisecond), 0, 64 * time.Second, 0},
		{"forward step", t0, t0.Add(69 * time.Second), 0, 64 * time.Second, int64(5 * time.Second)},
		{"backward step", t0, t0.Add(-time.Hour), 0, 64 * time.Second, int64(-time.Hour - 64*time.Second)},
		{"just over threshold", t0, t0.Add(100 * time.Millisecond), time.Second, time.Second, int64(100 * time.Millisecond)},
	}
	for _, tc := range tests {
		st := detectStep(tc.prevWall, tc.prevM, tc.wall, tc.m)
		switch {
		case tc.wantStepNS == 0 && st != nil:
			t.Errorf("%s: got step %+v, want none", tc.name, st)
		case tc.wantStepNS != 0 && (st == nil || st.StepNS != tc.wantStepNS):
			t.Errorf("%s: got %+v, want step of %v", tc.name, st, time.Duration(tc.wantStepNS))
		}
	}
	// time.Now() carries a monotonic reading; a step must not hide behind it.
	now := time.Now()
	if st := detectStep(now, 0, now.Add(3*time.Second), time.Second); st == nil || st.StepNS != int64(2*time.Second) {
		t.Errorf("with monotonic readings: got %+v, want a 2s step", st)
	}
}

// The collector reports a step of an injected wall clock that the monotonic
// clock did not take, and drops the samples taken before it.
func TestStepReported(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("a:123", good(0, time.Millisecond))
	mono := &fakeMono{}
	wall := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return wall.Add(mono.now()) }
	c := newTestCollector(t, Config{Servers: []string{"a"}, Now: now, Logger: quiet}, fs, mono)
	s := rounds(c, mono, 3)
	if s.Step != nil {
		t.Fatalf("no step yet: got %+v", s.Step)
	}
	if a, _ := serverByAddr(s, "a:123"); a.Samples != 8 {
		t.Fatalf("window before the step: got %d samples, want 8", a.Samples)
	}
	wall = wall.Add(-90 * time.Second) // someone set the clock back
	s = rounds(c, mono, 1)
	if s.Step == nil || s.Step.StepNS != int64(-90*time.Second) {
		t.Fatalf("step: got %+v, want -1m30s", s.Step)
	}
	if a, _ := serverByAddr(s, "a:123"); a.Samples != 4 {
		t.Errorf("window after the step: got %d samples, want the 4 new ones", a.Samples)
	}
	r := record(s)
	if v, _ := attr(r, "step_ns"); v != "-90000000000" {
		t.Errorf("step_ns attr: got %q", v)
	}
	if want := now().Add(-c.interval); !r.Time.Equal(want) { // rounds moved the clock on after the round
		t.Errorf("record time: got %v, want the injected clock's %v", r.Time, want)
	}
	if s = rounds(c, mono, 1); s.Step != nil {
		t.Errorf("the round after: got step %+v, want none", s.Step)
	}
}

func TestNoMajority(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("a:123", good(0, time.Millisecond))
	fs.set("b:123", good(50*time.Millisecond, time.Millisecond))
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"a", "b"}, Logger: quiet}, fs, mono)
	s := rounds(c, mono, 1)
	if s.OK || !s.NoMajority || len(s.Falsetickers) != 2 {
		t.Fatalf("two disagreeing servers: ok=%v no_majority=%v falsetickers=%v", s.OK, s.NoMajority, s.Falsetickers)
	}
	if v, _ := attr(record(s), "no_majority"); v != "true" {
		t.Errorf("no_majority attr: got %q", v)
	}
}

// A server that says it is unsynchronised is reachable but not used.
func TestUnsyncedServerNotUsed(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("a:123", good(0, time.Millisecond))
	fs.set("u:123", func(int) (*ntpResponse, error) {
		return &ntpResponse{Version: 4, Stratum: 16, Leap: 3, ClockOffset: time.Hour, RTT: time.Millisecond}, nil
	})
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"a", "u"}, Logger: quiet}, fs, mono)
	s := rounds(c, mono, 1)
	u, _ := serverByAddr(s, "u:123")
	if u.State != "unsynced" || u.Reach != 1 || u.Leap != 3 || !s.OK || s.Candidates != 1 || s.OffsetNS != 0 {
		t.Fatalf("got %+v; ok=%v candidates=%d offset=%d", u, s.OK, s.Candidates, s.OffsetNS)
	}
}

// A round cut short by its context counts no poll against the servers.
func TestMeasureCancelled(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("a:123", good(0, time.Millisecond))
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"a"}, Logger: quiet}, fs, mono)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	s := c.Measure(ctx)
	a, _ := serverByAddr(s, "a:123")
	if a.Polls != 0 || a.State != "pending" || len(s.Unreachable) != 0 || s.OK {
		t.Fatalf("cancelled round: got %+v, unreachable %v, ok %v", a, s.Unreachable, s.OK)
	}
	s = c.Measure(t.Context()) // and the server is polled in the next round
	if a, _ = serverByAddr(s, "a:123"); a.Polls != 1 || a.State != "truechimer" {
		t.Fatalf("next round: got %+v", a)
	}
}

func TestRecordBody(t *testing.T) {
	t.Parallel()
	fs := newFakeServers()
	fs.set("a:123", good(-3*time.Millisecond, time.Millisecond))
	mono := &fakeMono{}
	c := newTestCollector(t, Config{Servers: []string{"a"}, Logger: quiet}, fs, mono)
	r := record(rounds(c, mono, 1))
	var back map[string]any
	if err := json.Unmarshal(r.Body, &back); err != nil {
		t.Fatal(err)
	}
	if back["offset_ns"] != float64(-3e6) || back["offset"] != "-3ms" || back["ok"] != true {
		t.Errorf("body: %s", r.Body)
	}
	var keys []string
	for _, a := range r.Attrs {
		keys = append(keys, a.Key)
	}
	want := []string{"offset_ns", "error_bound_ns", "servers", "reachable", "falsetickers", "unreachable", "no_majority", "kernel_synced"}
	if !slices.Equal(keys, want) {
		t.Errorf("attrs: got %v, want %v", keys, want)
	}
	if v, _ := attr(r, "kernel_synced"); v != "true" {
		t.Errorf("kernel_synced: got %q", v)
	}
}

// Run emits one record per Interval until ctx ends, then returns nil.
// Virtual time (synctest): an hour passes in an instant.
func TestRunEmitsEveryInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fs := newFakeServers()
		fs.set("a:123", good(time.Millisecond, time.Millisecond))
		c, err := New(Config{Servers: []string{"a"}, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		c.pc.query = fs.query
		c.kernel = func() Kernel { return Kernel{Error: "adjtimex: not here", State: "unknown"} }
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour+time.Second)
		defer cancel()
		em := newEmitter()
		if err := c.Run(ctx, em); err != nil {
			t.Fatalf("Run: %v", err)
		}
		recs := em.records()
		if len(recs) != 57 { // at 0 and every 64 s up to an hour: 3600/64 = 56.25
			t.Fatalf("records in an hour: got %d, want 57", len(recs))
		}
		for i, r := range recs {
			if r.Kind != collectors.KindClock || r.Source != "clock" {
				t.Fatalf("record %d: kind %v source %q", i, r.Kind, r.Source)
			}
			if i > 0 {
				if d := r.Time.Sub(recs[i-1].Time); d != 64*time.Second {
					t.Fatalf("record %d came %v after the previous, want 64s", i, d)
				}
			}
		}
		if v, _ := attr(recs[0], "kernel_synced"); v != "unknown" {
			t.Errorf("kernel_synced with adjtimex failing: got %q, want unknown", v)
		}
		if _, ok := c.Latest(); !ok {
			t.Error("Latest: nothing after Run")
		}
	})
}

// failingEmitter fails with its own error.
type failingEmitter struct{}

func (failingEmitter) Emit(context.Context, collectors.Record) error {
	return errors.New("queue closed")
}
func (failingEmitter) TryEmit(collectors.Record) bool { return false }

func TestRunReturnsEmitError(t *testing.T) {
	t.Parallel()
	c := newTestCollector(t, Config{Servers: []string{"a"}, Logger: quiet}, newFakeServers(), &fakeMono{})
	if err := c.Run(t.Context(), failingEmitter{}); err == nil || !strings.Contains(err.Error(), "queue closed") {
		t.Fatalf("Run with a failing emitter: got %v", err)
	}
}

func TestKernelFromTimex(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		state              int
		status, maxe, este int64
		offset, freq       int64
		want               Kernel
	}{
		{"synced by chronyd", 0, 0x2001, 16000, 12, 1500, 65536 * 10,
			Kernel{Synced: true, State: "ok", Status: 0x2001, MaxErrorUS: 16000, EstErrorUS: 12, OffsetNS: 1500, FreqPPM: 10}},
		{"unsynchronised bit", 0, 0x0041, 16000000, 16000000, 3, -65536 / 2,
			Kernel{Synced: false, State: "ok", Status: 0x41, MaxErrorUS: 16000000, EstErrorUS: 16000000, OffsetNS: 3000, FreqPPM: -0.5}},
		{"TIME_ERROR", 5, 0x2000, 0, 0, 0, 0, Kernel{State: "error", Status: 0x2000}},
		{"leap second pending", 1, 0x2011, 1, 1, 0, 0, Kernel{Synced: true, State: "ins", Status: 0x2011, MaxErrorUS: 1, EstErrorUS: 1}},
		{"unknown state", 9, 0, 0, 0, 0, 0, Kernel{Synced: true, State: "unknown"}},
	}
	for _, tc := range tests {
		if got := kernelFromTimex(tc.state, tc.status, tc.maxe, tc.este, tc.offset, tc.freq); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// readKernel really calls adjtimex (read only) and gets an answer.
func TestReadKernel(t *testing.T) {
	t.Parallel()
	k := readKernel()
	if k.Error != "" {
		t.Fatalf("adjtimex read-only: %s", k.Error)
	}
	if k.State == "" || k.State == "unknown" || k.MaxErrorUS < 0 {
		t.Fatalf("got %+v", k)
	}
	t.Logf("kernel: %+v", k)
}

// The package never sets the clock: no call that could, and adjtimex only
// with a zero Timex.
func TestNeverSetsClock(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{"Settimeofday", "ClockSettime", "ClockAdjtime", "Stime", "Adjtime", "SYS_SETTIMEOFDAY", "SYS_CLOCK_SETTIME"}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.SelectorExpr:
				if slices.Contains(forbidden, n.Sel.Name) {
					t.Errorf("%s: uses %s", fset.Position(n.Pos()), n.Sel.Name)
				}
				if n.Sel.Name == "Modes" {
					t.Errorf("%s: touches Timex.Modes", fset.Position(n.Pos()))
				}
			case *ast.CompositeLit:
				if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Timex" && len(n.Elts) > 0 {
					t.Errorf("%s: a Timex literal with fields: adjtimex must be read-only", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source checked")
	}
}

// TestUnconfiguredStatedOnce: with no servers and no name configured, a
// missing ntp.internal is said once (one agent_status record, one info
// line, no warning), not as a reason in every round's record; when the name
// appears, that is said once too.
func TestUnconfiguredStatedOnce(t *testing.T) {
	t.Parallel()
	res := &staticResolver{err: fmt.Errorf("ntp.internal: %w", ErrNotFound)}
	fs := newFakeServers()
	mono := &fakeMono{}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestCollector(t, Config{Resolver: res, Logger: log}, fs, mono)
	var statuses []string
	for i := range 4 {
		s := rounds(c, mono, 1)
		if slices.ContainsFunc(s.Reasons, func(r string) bool { return strings.HasPrefix(r, "dns ") }) {
			t.Errorf("round %d: reasons %v carry the unconfigured name's failure", i, s.Reasons)
		}
		if msg := c.takeStatus(); msg != "" {
			statuses = append(statuses, msg)
		}
		mono.add(retryFailed)
	}
	if len(statuses) != 1 || !strings.Contains(statuses[0], "no NTP servers configured") || !strings.Contains(statuses[0], "ntp.internal") {
		t.Fatalf("status messages %q, want one saying no NTP servers are configured", statuses)
	}
	if r := statusRecord(time.Unix(1, 0), statuses[0]); r.Kind != collectors.KindAgentStatus || r.Source != "clock" {
		t.Errorf("status record kind %v source %q", r.Kind, r.Source)
	}
	if strings.Contains(logs.String(), "level=WARN") || strings.Count(logs.String(), "no NTP servers configured") != 1 {
		t.Errorf("log, want one info line and no warning:\n%s", logs.String())
	}
	fs.set("192.0.2.1:123", good(0, time.Millisecond))
	res.mu.Lock()
	res.addrs, res.ttl, res.err = []netip.Addr{netip.MustParseAddr("192.0.2.1")}, time.Minute, nil
	res.mu.Unlock()
	if s := rounds(c, mono, 1); !s.OK {
		t.Fatalf("after the name resolved: reasons %v", s.Reasons)
	}
	if msg := c.takeStatus(); !strings.Contains(msg, "NTP servers found") {
		t.Errorf("status after the name resolved: %q", msg)
	}
}
