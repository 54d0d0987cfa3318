package clock

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"
	"github.com/offbox/offbox/internal/testpeer"

	"github.com/beevik/ntp"
)

const chronydPath = "/usr/sbin/chronyd"

// chronyd is one real chronyd serving NTP on a loopback address.
type chronyd struct {
	addr string // ip:port
	cmd  *exec.Cmd
	out  *lockedbuf.Buffer
	done chan struct{}
}

// startChronyd runs chronyd in the foreground as a local-stratum server that
// never touches the clock:
//
//	chronyd -d -x -u root -f DIR/chrony.conf
//
// -d: foreground, log to stderr; -x: never adjust the system clock (no
// adjtimex with modes, no settimeofday); -u root: stay root instead of
// dropping to _chrony, which could not write the temp dir (pidfile,
// driftfile). The config has no server lines, serves NTP on a non-privileged
// port of its own loopback address, and disables both command sockets (UDP
// cmdport 0, Unix socket "bindcmdaddress /") so that three instances do not
// fight over /run/chrony/chronyd.sock.
func startChronyd(t *testing.T, ip string, port int) *chronyd {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`port %d
bindaddress %s
local stratum 8
allow 127.0.0.0/8
cmdport 0
bindcmdaddress /
pidfile %s
driftfile %s
`, port, ip, filepath.Join(dir, "chronyd.pid"), filepath.Join(dir, "chrony.drift"))
	confPath := filepath.Join(dir, "chrony.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &chronyd{addr: net.JoinHostPort(ip, fmt.Sprint(port)), out: &lockedbuf.Buffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(chronydPath, "-d", "-x", "-u", "root", "-f", confPath)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start chronyd: %v", err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("chronyd %s said:\n%s", c.addr, c.out.String())
		}
	})
	return c
}

// stop ends chronyd with SIGTERM (SIGKILL after 5 s) and waits for it.
func (c *chronyd) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// awaitServing waits until chronyd answers as a synchronised stratum-8
// server.
func (c *chronyd) awaitServing(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := ntp.QueryWithOptions(c.addr, ntp.QueryOptions{Timeout: 200 * time.Millisecond})
		if err == nil && r.Stratum == 8 && r.Leap != ntp.LeapNotInSync {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("chronyd %s exited: %v\n%s", c.addr, c.cmd.ProcessState, c.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("chronyd %s not serving after 10s (last: %v, %+v)\n%s", c.addr, err, r, c.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort finds a UDP port free on every one of ips.
func freePort(t *testing.T, ips []string) int {
	t.Helper()
	for range 50 {
		first, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ips[0])})
		if err != nil {
			t.Fatal(err)
		}
		port := first.LocalAddr().(*net.UDPAddr).Port
		conns := []*net.UDPConn{first}
		ok := true
		for _, ip := range ips[1:] {
			c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
			if err != nil {
				ok = false
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no UDP port free on all of", ips)
	return 0
}

// TestChronyIntegration measures against three real chronyd on loopback
// found through an in-test DNS name, then adds a server 250 ms off and one
// that answers kiss-of-death RATE, and stops one chronyd.
func TestChronyIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	testpeer.LookPath(t, "chrony", chronydPath)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))

	// 1. Three chronyd on 127.0.0.21-23, one port.
	ips := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	port := freePort(t, ips)
	var servers []*chronyd
	for _, ip := range ips {
		servers = append(servers, startChronyd(t, ip, port))
	}
	var chronyAddrs []string
	for _, s := range servers {
		s.awaitServing(t)
		// Its log reaches the buffer through a pipe: it may come after
		// the first NTP answer (CI once checked it 30 ms in, too early).
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(s.out.String(), "Disabled control of system clock") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if out := s.out.String(); !strings.Contains(out, "Disabled control of system clock") {
			t.Fatalf("chronyd %s did not confirm -x within 5 s of serving:\n%s", s.addr, out)
		}
		chronyAddrs = append(chronyAddrs, s.addr)
	}

	// 2. A DNS name with the three addresses.
	dns := startDNS(t, 60*time.Second)
	const name = "ntp.offbox.test"
	var addrs []netip.Addr
	for _, ip := range ips {
		addrs = append(addrs, netip.MustParseAddr(ip))
	}
	dns.set(name, addrs...)
	resolver := &DNSResolver{Servers: []string{dns.addr()}, Timeout: time.Second}
	const interval = 200 * time.Millisecond
	base := Config{
		Name:     name,
		NamePort: port,
		Resolver: resolver,
		Interval: interval,
		Timeout:  300 * time.Millisecond,
		Logger:   log,
	}

	// 3. The three agree with the local clock: same machine, same clock.
	c, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	var s Summary
	for i := range 3 {
		if i > 0 {
			time.Sleep(interval)
		}
		s = c.Measure(t.Context())
	}
	if !s.OK || len(s.Truechimers) != 3 || len(s.Falsetickers) != 0 || s.Reachable != 3 {
		t.Fatalf("three chronyd: ok=%v truechimers=%v falsetickers=%v reachable=%d reasons=%v", s.OK, s.Truechimers, s.Falsetickers, s.Reachable, s.Reasons)
	}
	if abs(s.OffsetNS) >= int64(time.Millisecond) || s.ErrorBoundNS <= 0 {
		t.Fatalf("three chronyd: combined offset %v ± %v, want within 1ms of zero and a bound > 0", time.Duration(s.OffsetNS), time.Duration(s.ErrorBoundNS))
	}
	t.Logf("three chronyd: combined offset %v, error bound %v, spread %v; kernel %+v",
		time.Duration(s.OffsetNS), time.Duration(s.ErrorBoundNS), time.Duration(s.SpreadNS), s.Kernel)
	for _, sv := range s.Servers {
		if sv.Stratum != 8 || sv.Reach != 0b111 || sv.Samples < 4 {
			t.Errorf("server %s: stratum %d reach %03b samples %d, want 8, 111, at least 4", sv.Address, sv.Stratum, sv.Reach, sv.Samples)
		}
		t.Logf("  %s: offset %v delay %v jitter %v bound %v refid %s", sv.Address, time.Duration(sv.OffsetNS),
			time.Duration(sv.DelayNS), time.Duration(sv.JitterNS), time.Duration(sv.ErrorBoundNS), sv.RefID)
	}

	// 4. and 6. A fourth server 250 ms off and one that answers RATE.
	off := startFakeNTP(t, "127.0.0.24:0", 250*time.Millisecond, "")
	rate := startFakeNTP(t, "127.0.0.25:0", 0, "RATE")
	cfg := base
	cfg.Servers = []string{off.addr(), rate.addr()}
	c, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	em := newEmitter()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx, em) }()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// next returns the summary of the next record.
	next := func(within time.Duration) Summary {
		t.Helper()
		select {
		case r := <-em.ch:
			var s Summary
			if err := json.Unmarshal(r.Body, &s); err != nil {
				t.Fatalf("record body: %v: %s", err, r.Body)
			}
			return s
		case <-time.After(within):
			t.Fatalf("no record within %v", within)
			return Summary{}
		}
	}

	start := time.Now()
	for {
		s = next(5 * time.Second)
		if slices.Equal(s.Falsetickers, []string{off.addr()}) && slices.Equal(s.Truechimers, chronyAddrs) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("250 ms server not flagged: truechimers %v falsetickers %v reasons %v", s.Truechimers, s.Falsetickers, s.Reasons)
		}
	}
	if !s.OK || s.NoMajority || abs(s.OffsetNS) >= int64(time.Millisecond) {
		t.Fatalf("with a falseticker: ok=%v no_majority=%v offset %v", s.OK, s.NoMajority, time.Duration(s.OffsetNS))
	}
	fs, _ := serverByAddr(s, off.addr())
	if d := time.Duration(fs.OffsetNS); d < 249*time.Millisecond || d > 251*time.Millisecond {
		t.Errorf("falseticker's offset: got %v, want 250ms", d)
	}
	t.Logf("with a falseticker: combined offset %v, error bound %v; %s offset %v", time.Duration(s.OffsetNS),
		time.Duration(s.ErrorBoundNS), off.addr(), time.Duration(fs.OffsetNS))

	// 5. Stop one chronyd: unreachable within 8 polls.
	dead := servers[2]
	dead.stop()
	stopped := time.Now()
	firstPolls := -1
	for {
		s = next(5 * time.Second)
		if !s.Time.After(stopped) {
			continue // a round that ended before the stop
		}
		d, _ := serverByAddr(s, dead.addr)
		if firstPolls < 0 {
			firstPolls = d.Polls // this round may have started before the stop
		}
		if slices.Contains(s.Unreachable, dead.addr) {
			if n := d.Polls - firstPolls; n > 8 {
				t.Fatalf("stopped chronyd unreachable after %d polls, want at most 8", n)
			} else {
				t.Logf("stopped chronyd unreachable after %d polls, %v", n, time.Since(stopped).Round(time.Millisecond))
			}
			break
		}
		if d.Polls-firstPolls > 8 {
			t.Fatalf("stopped chronyd still not unreachable after %d polls: %+v", d.Polls-firstPolls, d)
		}
	}
	if !s.OK || abs(s.OffsetNS) >= int64(time.Millisecond) || !slices.Equal(s.Truechimers, chronyAddrs[:2]) ||
		!slices.Equal(s.Falsetickers, []string{off.addr()}) {
		t.Fatalf("after the stop: ok=%v offset %v truechimers %v falsetickers %v", s.OK, time.Duration(s.OffsetNS), s.Truechimers, s.Falsetickers)
	}

	if recs := em.records(); len(recs) > 0 {
		r := recs[len(recs)-1]
		t.Logf("a record: attrs %v\nbody %s", r.Attrs, r.Body)
	}

	// 6. The RATE server is polled less and less often. Give the backoff
	// time to show: at least 6.5 s of rounds since Run started.
	for time.Since(start) < 6500*time.Millisecond {
		s = next(5 * time.Second)
	}
	rs, _ := serverByAddr(s, rate.addr())
	ref, _ := serverByAddr(s, off.addr())
	arrivals := rate.arrivals()
	var gaps []time.Duration
	for i := 1; i < len(arrivals); i++ {
		gaps = append(gaps, arrivals[i].Sub(arrivals[i-1]).Round(time.Millisecond))
	}
	t.Logf("RATE server: %d queries, gaps %v, poll now %v; the 250 ms server: %d polls, %d queries",
		len(arrivals), gaps, time.Duration(rs.PollNS), ref.Polls, off.queries.Load())
	if rs.State != "rate_limited" || !slices.Contains(s.RateLimited, rate.addr()) || slices.Contains(s.Unreachable, rate.addr()) {
		t.Errorf("RATE server: state %q, rate_limited %v, unreachable %v", rs.State, s.RateLimited, s.Unreachable)
	}
	if rs.PollNS < int64(8*interval) {
		t.Errorf("RATE server's poll interval: got %v, want at least 8 × %v", time.Duration(rs.PollNS), interval)
	}
	if len(arrivals) < 4 || 2*len(arrivals) > ref.Polls {
		t.Fatalf("RATE server polled %d times while another server was polled %d times: want fewer than half, at least 4", len(arrivals), ref.Polls)
	}
	// Each RATE doubles that server's poll interval: the i-th gap is at
	// least interval×2^(i+1), less the scheduler's slack of interval/2 and
	// 50 ms for when within a round the query went out. Load only makes
	// gaps longer.
	for i, g := range gaps {
		if want := interval<<(i+1) - interval/2 - 50*time.Millisecond; g < want {
			t.Errorf("gap %d between polls of the RATE server: %v, want at least %v (gaps %v)", i, g, want, gaps)
		}
	}
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
