package e2e

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// raiseOpenFiles makes room for n more open files in the test process.
func raiseOpenFiles(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n+256 {
		return
	}
	lim.Cur = n + 256
	if lim.Max < lim.Cur {
		lim.Max = lim.Cur // needs privilege; fails clearly otherwise
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raising RLIMIT_NOFILE to %d for %d connections: %v", lim.Cur, n, err)
	}
}

// TestSyslogTCPFloodStaysInBudget: 4,000 connections to the real agent's
// syslog TCP listener, each sending 65,000 bytes without a newline and then
// holding on. The agent's peak RSS stays at most 32 MiB, it keeps at most
// max_connections (256) open, and the connections it refused are counted in
// agent_status records and in heartbeats, both stored by a real collector.
func TestSyslogTCPFloodStaysInBudget(t *testing.T) {
	skipShort(t)
	const conns, payload, maxConns = 4000, 65000, 256
	raiseOpenFiles(t, conns)
	dir := t.TempDir()
	p := newPKI(t, "fld")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	tcp := freePort(t, "tcp")
	src := "syslog:tcp:" + tcp
	ag := startAgent(t, p, "fld", in.addr, "-no-boot", "-no-clock", "-no-watch", "-heartbeat", "1s", "-syslog-tcp", tcp)
	waitFor(t, 20*time.Second, "the syslog TCP listener", func() bool {
		if ag.exited() {
			t.Fatalf("agent exited: %s", ag.out.String())
		}
		c, err := net.Dial("tcp", tcp)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// Let the probes' connections be counted closed before the flood.
	time.Sleep(200 * time.Millisecond)

	body := bytes.Repeat([]byte("x"), payload)
	var (
		mu     sync.Mutex
		open   []net.Conn
		failed int
		wg     sync.WaitGroup
		next   = make(chan int)
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := net.DialTimeout("tcp", tcp, 10*time.Second)
				if err != nil {
					mu.Lock()
					failed++
					mu.Unlock()
					continue
				}
				// A refused connection is closed under the write: ignore
				// its error. The write of an accepted one completes as the
				// agent reads.
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.Write(body)
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < conns; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	if failed > 0 {
		t.Fatalf("%d of %d dials failed", failed, conns)
	}
	checkHWM := func(when string) int64 {
		hwm := procStatus(t, ag.pid(), "VmHWM")
		if hwm > 32<<10 {
			t.Errorf("agent VmHWM %d KiB %s, want at most 32 MiB", hwm, when)
		}
		return hwm
	}
	time.Sleep(2 * time.Second) // the accepted connections' bytes are read
	checkHWM("once the flood is in")

	// Both counts reach the collector: the agent_status records' sum and
	// the latest heartbeat's total agree, and cover every connection beyond
	// the limit.
	var statusSum, hbRefused, hbOpen int
	waitFor(t, 60*time.Second, "the refusals in agent_status records and a heartbeat", func() bool {
		statusSum, hbRefused, hbOpen = 0, -1, -1
		for _, r := range records(t, in.db, "-device", "fld", "-kind", "agent_status", "-source", src) {
			n, err := strconv.Atoi(r.Attrs["refused_connections"])
			if err != nil || r.Attrs["max_connections"] != strconv.Itoa(maxConns) {
				t.Fatalf("agent_status record %+v", r)
			}
			statusSum += n
		}
		hbs := records(t, in.db, "-device", "fld", "-kind", "heartbeat")
		if len(hbs) > 0 {
			last := hbs[len(hbs)-1].Attrs
			hbRefused, _ = strconv.Atoi(last["syslog_tcp_refused_connections"])
			hbOpen, _ = strconv.Atoi(last["syslog_tcp_open_connections"])
		}
		return statusSum >= conns-maxConns && hbRefused == statusSum && hbOpen+hbRefused == conns
	})
	if hbOpen > maxConns {
		t.Errorf("%d connections open, want at most %d", hbOpen, maxConns)
	}
	hwm := checkHWM("at the end")
	t.Logf("%d connections: %d refused (status records and heartbeat), %d open; agent VmHWM %d KiB", conns, statusSum, hbOpen, hwm)
}

// TestSyslogUDPFloodLossCountedOnce: a UDP flood while the collector is
// down overflows a small budget; once the collector is up, the loss the
// chain reports (the syslog source's gap records and the agent's own
// queue-full gap records together) equals the datagrams not stored: each
// lost datagram is counted once.
func TestSyslogUDPFloodLossCountedOnce(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "udf")
	addr := freePort(t, "tcp")
	udp := freePort(t, "udp")
	src := "syslog:udp:" + udp
	ag := startAgent(t, p, "udf", addr, "-no-boot", "-no-clock", "-no-watch", "-heartbeat", "1h",
		"-memory-budget", "65536", "-syslog-udp", udp)
	var c net.Conn
	waitFor(t, 20*time.Second, "the agent", func() bool {
		if ag.exited() {
			t.Fatalf("agent exited: %s", ag.out.String())
		}
		return bytes.Contains([]byte(ag.out.String()), []byte("agent ready"))
	})
	c, err := net.Dial("udp", udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Fast enough to overflow the budget, paced enough for the collector
	// to see most of it (loopback drops what overflows the socket buffer;
	// that is counted too, as kernel_dropped).
	sent := 0
	for i := 0; i < 5000; i++ {
		if _, err := c.Write([]byte(syslogMessage("udp", i))); err == nil {
			sent++
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
	}
	in := startIngest(t, p, filepath.Join(dir, "store.db"), addr)
	var stored, sourceLoss, agentLoss int
	waitFor(t, 60*time.Second, "every datagram stored or counted", func() bool {
		stored, sourceLoss, agentLoss = 0, 0, 0
		for _, r := range records(t, in.db, "-device", "udf") {
			var n int
			switch {
			case r.Kind == "log" && r.Source == src:
				stored++
			case r.Kind == "gap" && r.Source == src:
				fmt.Sscan(r.Attrs["dropped"], &n)
				sourceLoss += n
			case r.Kind == "gap":
				fmt.Sscan(r.Attrs["dropped_records"], &n)
				agentLoss += n
			}
		}
		return stored+sourceLoss >= sent && stored > 0
	})
	time.Sleep(time.Second) // anything counted twice would arrive by now
	stored, sourceLoss, agentLoss = 0, 0, 0
	for _, r := range records(t, in.db, "-device", "udf") {
		var n int
		switch {
		case r.Kind == "log" && r.Source == src:
			stored++
		case r.Kind == "gap" && r.Source == src:
			fmt.Sscan(r.Attrs["dropped"], &n)
			sourceLoss += n
		case r.Kind == "gap":
			fmt.Sscan(r.Attrs["dropped_records"], &n)
			agentLoss += n
		}
	}
	t.Logf("%d sent: %d stored, loss reported %d by the source, %d by the agent", sent, stored, sourceLoss, agentLoss)
	if sourceLoss == 0 {
		t.Fatalf("no loss reported: the flood did not overflow the budget (%d stored of %d)", stored, sent)
	}
	if got, want := sourceLoss+agentLoss, sent-stored; got != want {
		t.Errorf("loss reported in the chain %d (source %d + agent %d), want %d: the datagrams not stored, each counted once",
			got, sourceLoss, agentLoss, want)
	}
}
