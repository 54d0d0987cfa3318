package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRelayApplianceQuietEndToEnd: two appliances (fw1 on 127.0.0.2, fw2
// on 127.0.0.3) each send a syslog datagram every 250 ms through one relay
// agent (heartbeat 1 s) to the collector (short source_quiet settings: 4
// gaps learned, 3 gaps or 2 s of silence). The relay heartbeats each
// appliance in its own chain, so when fw1 stops while the relay is alive
// the collector raises source_quiet for fw1 and its source only, and
// source_resumed when it sends again; fw2 raises neither, no appliance's
// heartbeat goes missing. When the relay itself is frozen (SIGSTOP),
// heartbeat_missing is raised for it and for both appliances, and
// heartbeat_resumed when it goes on (SIGCONT), with no source_quiet.
// verify stays clean.
func TestRelayApplianceQuietEndToEnd(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "relay-1")
	hook := newWebhook(t, 0)
	icfg := quietConfig(t, dir, hook)
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", icfg)
	for _, name := range []string{"fw1", "fw2"} {
		if _, se, code := run(t, bin.ingest, "appliance", "add", "-db", in.db, "-name", name, "-relay", "relay-1"); code != 0 {
			t.Fatalf("appliance add %s: exit %d: %s", name, code, se)
		}
	}
	cfg := filepath.Join(dir, "offbox.yaml")
	relayConfig(t, cfg, "fw1", "127.0.0.2", "fw2", "127.0.0.3")
	udp := freePort(t, "udp")
	ag := startAgent(t, p, "relay-1", in.addr, "-config", cfg, "-no-boot", "-no-clock", "-no-watch", "-heartbeat", "1s", "-relay-udp", udp)
	waitFor(t, 20*time.Second, "the relay to listen", func() bool {
		if ag.exited() {
			t.Fatalf("the relay exited: %s", ag.out.String())
		}
		return strings.Contains(ag.out.String(), "relay listening")
	})
	set := sendEvery(t, 250*time.Millisecond, udp, map[string]string{"fw1": "127.0.0.2", "fw2": "127.0.0.3"})
	source := "relay:udp:" + udp
	waitFor(t, 30*time.Second, "lines of both appliances stored", func() bool {
		if ag.exited() || in.exited() {
			t.Fatalf("a process exited: relay %s\ncollector %s", ag.out.String(), in.out.String())
		}
		return count(t, in.db, "-device", "fw1", "-source", source) >= 12 && count(t, in.db, "-device", "fw2", "-source", source) >= 12
	})
	// The relay's heartbeats for the appliances are stored as theirs.
	for _, dev := range []string{"fw1", "fw2"} {
		hbs := records(t, in.db, "-device", dev, "-kind", "heartbeat")
		if len(hbs) == 0 {
			t.Fatalf("no heartbeat stored for %s", dev)
		}
		last := hbs[len(hbs)-1]
		if last.Attrs["relay"] != "relay-1" || last.Attrs["appliance_last_heard"] == "" || last.Attrs["appliance_messages"] == "0" || last.Via != "relay-1" {
			t.Errorf("%s heartbeat via %q attrs %v: want relay-1's, with the appliance's messages and when it was last heard", dev, last.Via, last.Attrs)
		}
	}
	if n := len(hook.alertsOf("source_quiet")); n != 0 {
		t.Fatalf("%d source_quiet while both appliances log", n)
	}

	stopped := set("fw1", false) // its last datagram
	waitFor(t, 20*time.Second, "source_quiet at the webhook", func() bool { return len(hook.alertsOf("source_quiet")) > 0 })
	took := time.Since(stopped)
	q := hook.alertsOf("source_quiet")
	t.Logf("source_quiet %s after fw1's last datagram: %s", took.Round(time.Millisecond), q[0].Summary)
	if len(q) != 1 || q[0].Device != "fw1" || q[0].Fields["source"] != source || q[0].Severity != "warning" {
		t.Fatalf("source_quiet alerts %+v, want one, for fw1's %s", q, source)
	}
	if took < 2*time.Second {
		t.Errorf("source_quiet %s after fw1's last datagram, before the 2 s minimum silence", took)
	}
	if len(hook.alertsOf("source_resumed")) != 0 || len(hook.alertsOf("heartbeat_missing")) != 0 {
		t.Fatalf("alerts while fw1 is silent: %+v", hook.alertsOf(""))
	}
	set("fw1", true)
	waitFor(t, 20*time.Second, "source_resumed at the webhook", func() bool { return len(hook.alertsOf("source_resumed")) > 0 })
	r := hook.alertsOf("source_resumed")
	if len(r) != 1 || r[0].Device != "fw1" || r[0].Fields["source"] != source || r[0].Severity != "info" {
		t.Fatalf("source_resumed alerts %+v, want one, for fw1's %s", r, source)
	}
	time.Sleep(2 * time.Second) // both log again: nothing more is raised
	for _, kind := range []string{"source_quiet", "source_resumed"} {
		if n := len(hook.alertsOf(kind)); n != 1 {
			t.Errorf("%d %s alerts, want 1 (none for fw2): %+v", n, kind, hook.alertsOf(kind))
		}
	}
	if n := len(hook.alertsOf("heartbeat_missing")); n != 0 {
		t.Errorf("heartbeat_missing raised: %+v", hook.alertsOf("heartbeat_missing"))
	}

	// The relay frozen: heartbeat_missing for it and for each appliance it
	// speaks for (their syslog goes on meanwhile, into its sockets), and no
	// source_quiet; heartbeat_resumed for each when it goes on.
	if err := ag.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer ag.cmd.Process.Signal(syscall.SIGCONT)
	devicesOf := func(kind string) map[string]int {
		m := map[string]int{}
		for _, a := range hook.alertsOf(kind) {
			m[a.Device]++
		}
		return m
	}
	all := func(m map[string]int) bool { return m["relay-1"] == 1 && m["fw1"] == 1 && m["fw2"] == 1 }
	waitFor(t, 20*time.Second, "heartbeat_missing for relay-1, fw1 and fw2", func() bool { return all(devicesOf("heartbeat_missing")) })
	if err := ag.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "heartbeat_resumed for relay-1, fw1 and fw2", func() bool { return all(devicesOf("heartbeat_resumed")) })
	time.Sleep(2 * time.Second)
	if m := devicesOf("heartbeat_missing"); len(m) != 3 || !all(m) {
		t.Errorf("heartbeat_missing %v: want one each for relay-1, fw1, fw2", m)
	}
	if n := len(hook.alertsOf("source_quiet")); n != 1 {
		t.Errorf("%d source_quiet alerts after the relay's absence, want still 1: %+v", n, hook.alertsOf("source_quiet"))
	}

	ag.stop()
	so, se, code := run(t, bin.ingest, "verify", "-db", in.db)
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, so, se)
	}
	for _, dev := range []string{"fw1", "fw2", "relay-1"} {
		if !strings.Contains(so, "device="+dev+" ") {
			t.Errorf("verify does not report %s:\n%s", dev, so)
		}
	}
}

// sendEvery sends a syslog datagram (RFC 5424, stamped now) from each
// appliance's address to addr every period until the test ends; the
// function it returns turns one appliance's sending off and on, and
// returns when it last sent.
func sendEvery(t *testing.T, period time.Duration, addr string, from map[string]string) (set func(name string, on bool) time.Time) {
	t.Helper()
	var mu sync.Mutex
	sending := map[string]bool{}
	last := map[string]time.Time{}
	for name := range from {
		sending[name] = true
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(period)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tk.C:
			}
			mu.Lock()
			for name, on := range sending {
				if on {
					msg := fmt.Sprintf("<30>1 %s %s app - - - %s work item %d done", time.Now().UTC().Format(time.RFC3339Nano), name, name, i)
					last[name] = time.Now()
					if err := sendDatagram(from[name], addr, msg); err != nil {
						t.Errorf("send from %s: %v", name, err) // not Fatal: another goroutine
					}
				}
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait() })
	return func(name string, on bool) time.Time {
		mu.Lock()
		defer mu.Unlock()
		sending[name] = on
		return last[name]
	}
}

// sendDatagram sends msg to addr from local IP src.
func sendDatagram(src, addr, msg string) error {
	c, err := (&net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}).Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}
