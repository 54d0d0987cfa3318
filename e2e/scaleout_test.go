package e2e

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
)

// balancer is a TCP load balancer on loopback, as an operator would put in
// front of several collectors: each connection goes to the next backend in
// turn, skipping those that refuse. TLS passes through untouched.
type balancer struct {
	lis      net.Listener
	backends []string

	mu   sync.Mutex
	next int
}

func newBalancer(t testing.TB, backends ...string) *balancer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{lis: lis, backends: backends}
	go b.serve()
	t.Cleanup(func() { lis.Close() })
	return b
}

func (b *balancer) addr() string { return b.lis.Addr().String() }

func (b *balancer) serve() {
	for {
		c, err := b.lis.Accept()
		if err != nil {
			return
		}
		go b.forward(c)
	}
}

func (b *balancer) forward(c net.Conn) {
	defer c.Close()
	b.mu.Lock()
	first := b.next
	b.next = (b.next + 1) % len(b.backends)
	b.mu.Unlock()
	var up net.Conn
	for i := range b.backends {
		var err error
		if up, err = net.DialTimeout("tcp", b.backends[(first+i)%len(b.backends)], time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done // either side closing ends both
}

// TestScaleOutReplicaKilled: two collectors share one PostgreSQL behind a
// TCP load balancer, with four agents spread over them. One collector is
// killed with kill -9 mid-stream; its agents reconnect through the
// balancer to the other, which continues their chains and files from the
// shared store: every line is stored exactly once, and verify passes for
// every device.
func TestScaleOutReplicaKilled(t *testing.T) {
	skipShort(t)
	db := pgtest.URL(t)
	dir := t.TempDir()
	devices := []string{"edge-1", "edge-2", "edge-3", "edge-4"}
	p := newPKI(t, devices...)
	a := startIngest(t, p, db, "127.0.0.1:0")
	b := startIngest(t, p, db, "127.0.0.1:0")
	lb := newBalancer(t, a.addr, b.addr)

	const first, total = 20_000, 60_000
	logs := map[string]string{}
	for _, d := range devices {
		logs[d] = filepath.Join(dir, d+".log")
		appendLines(t, logs[d], d, 0, first)
		startAgent(t, p, d, lb.addr(), "-tail", logs[d], "-start-at", "beginning")
	}
	source := func(d string) string { return "file:" + logs[d] }
	waitFor(t, time.Minute, "every device's stream under way", func() bool {
		for _, d := range devices {
			if count(t, db, "-source", source(d)) < 2000 {
				return false
			}
		}
		return true
	})
	onA := streamsOn(a, devices)
	if len(onA) == 0 {
		t.Fatalf("the balancer sent no stream to the first collector:\n%s", a.out.String())
	}
	a.kill()
	t.Logf("killed the collector holding %v", onA)
	for _, d := range devices {
		appendLines(t, logs[d], d, first, total)
	}
	waitFor(t, 3*time.Minute, "every line of every device stored", func() bool {
		for _, d := range devices {
			if count(t, db, "-source", source(d)) < total {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // anything stored twice would show now
	for _, d := range devices {
		checkExactlyOnce(t, records(t, db, "-source", source(d)), source(d), d, total)
	}
	if got := streamsOn(b, onA); len(got) != len(onA) {
		t.Errorf("of %v, only %v streamed to the surviving collector", onA, got)
	}
	so, se, code := run(t, bin.ingest, "verify", "-db", db)
	if code != 0 {
		t.Fatalf("verify: exit %d:\n%s%s", code, so, se)
	}
	for _, d := range devices {
		if !strings.Contains(so, "device="+d+" ") || !strings.Contains(so, "OK") {
			t.Errorf("verify does not report %s OK:\n%s", d, so)
		}
	}
}

// streamsOn lists the devices whose stream a collector's log shows begun.
func streamsOn(in *ingest, devices []string) []string {
	var out []string
	lines := strings.Split(in.out.String(), "\n")
	for _, d := range devices {
		for _, l := range lines {
			if strings.Contains(l, "session start") && strings.Contains(l, "device="+d+" ") {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// TestScaleOutClonedCertificate: two agents with one certificate, each
// connected to a different collector of the same store. The second is
// refused and a concurrent_session integrity event is stored (and raised);
// the first goes on storing.
func TestScaleOutClonedCertificate(t *testing.T) {
	skipShort(t)
	db := pgtest.URL(t)
	p := newPKI(t, "twin")
	a := startIngest(t, p, db, "127.0.0.1:0")
	b := startIngest(t, p, db, "127.0.0.1:0")
	startAgent(t, p, "twin", a.addr, "-heartbeat", "1s")
	waitFor(t, 30*time.Second, "the first agent's heartbeats", func() bool {
		return count(t, db, "-device", "twin", "-kind", "heartbeat") >= 2
	})
	clone := startAgent(t, p, "twin", b.addr, "-heartbeat", "1s")
	waitFor(t, 30*time.Second, "the clone refused", func() bool {
		return strings.Contains(b.out.String(), "concurrent_session")
	})
	if !strings.Contains(clone.out.String(), "AlreadyExists") {
		waitFor(t, 10*time.Second, "the clone to be told AlreadyExists", func() bool {
			return strings.Contains(clone.out.String(), "AlreadyExists")
		})
	}
	waitFor(t, 30*time.Second, "a concurrent_session alert", func() bool {
		return len(storedAlerts(t, db, "-device", "twin", "-kind", "concurrent_session")) > 0
	})
	before := count(t, db, "-device", "twin", "-kind", "heartbeat")
	waitFor(t, 30*time.Second, "the first agent still storing", func() bool {
		return count(t, db, "-device", "twin", "-kind", "heartbeat") >= before+2
	})
	if strings.Contains(b.out.String(), "session start") {
		t.Errorf("the clone's stream was accepted:\n%s", b.out.String())
	}
}

// TestScaleOutOneLeader: with two collectors up, a silent device raises
// exactly one heartbeat_missing alert (stored and delivered once); after
// the leader is killed, the other takes over, and the next silent device
// raises exactly one too, while the first is not raised again.
func TestScaleOutOneLeader(t *testing.T) {
	skipShort(t)
	db := pgtest.URL(t)
	dir := t.TempDir()
	p := newPKI(t, "quiet-1", "quiet-2")
	hook := newWebhook(t, 0)
	cfg := collectorConfig(t, dir, fmt.Sprintf("alerting:\n  sinks:\n    - {name: hook, type: webhook, url: %q}\n", hook.URL))
	a := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	waitFor(t, 20*time.Second, "the first collector to lead", func() bool { return strings.Contains(a.out.String(), "leading") })
	b := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	const interval = 2 * time.Second
	// Both agents stream to the follower, so killing the leader leaves them be.
	q1 := startAgent(t, p, "quiet-1", b.addr, "-heartbeat", interval.String())
	q2 := startAgent(t, p, "quiet-2", b.addr, "-heartbeat", interval.String())
	waitFor(t, 30*time.Second, "heartbeats of both", func() bool {
		return count(t, db, "-device", "quiet-1", "-kind", "heartbeat") >= 2 && count(t, db, "-device", "quiet-2", "-kind", "heartbeat") >= 2
	})
	missing := func(device string) (delivered, stored int) {
		for _, h := range hook.alertsOf("heartbeat_missing") {
			if h.Device == device {
				delivered++
			}
		}
		return delivered, len(storedAlerts(t, db, "-device", device, "-kind", "heartbeat_missing"))
	}

	freeze(t, q1)
	waitFor(t, 10*interval, "quiet-1's heartbeat_missing delivered", func() bool { d, _ := missing("quiet-1"); return d > 0 })
	time.Sleep(3 * interval) // a second collector raising it too would show by now
	if d, s := missing("quiet-1"); d != 1 || s != 1 {
		t.Fatalf("quiet-1: %d heartbeat_missing delivered, %d stored; want 1 and 1", d, s)
	}

	if strings.Contains(b.out.String(), "leading") {
		t.Fatal("both collectors lead")
	}
	a.kill()
	waitFor(t, 20*time.Second, "the second collector to lead", func() bool { return strings.Contains(b.out.String(), "leading") })
	freeze(t, q2)
	waitFor(t, 10*interval, "quiet-2's heartbeat_missing delivered", func() bool { d, _ := missing("quiet-2"); return d > 0 })
	time.Sleep(3 * interval)
	if d, s := missing("quiet-2"); d != 1 || s != 1 {
		t.Errorf("quiet-2: %d heartbeat_missing delivered, %d stored; want 1 and 1", d, s)
	}
	if d, s := missing("quiet-1"); d != 1 || s != 1 {
		t.Errorf("after the takeover quiet-1 has %d heartbeat_missing delivered, %d stored; want still 1 and 1", d, s)
	}
}

// freeze stops an agent with SIGSTOP until the test ends: it goes silent
// without closing its stream.
func freeze(t *testing.T, ag *proc) {
	t.Helper()
	if err := ag.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ag.cmd.Process.Signal(syscall.SIGCONT) })
}
