package syslog

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

// budgetEmitter is a fakeEmitter that lends memory from a budget of limit
// bytes (collectors.Reserver) and takes offers (collectors.Offerer).
type budgetEmitter struct {
	*fakeEmitter
	bmu               sync.Mutex
	limit, used, peak int64
}

func (b *budgetEmitter) Reserve(n int64) bool {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

func (b *budgetEmitter) Unreserve(n int64) {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	b.used -= n
}

func (b *budgetEmitter) Offer(r collectors.Record) bool { return b.TryEmit(r) }

func (b *budgetEmitter) lent() (used, peak int64) {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	return b.used, b.peak
}

func runWith(t *testing.T, cfg Config, out collectors.Emitter) *Collector {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return c
}

func attrMap(as []collectors.Attr) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		m[a.Key] = a.Value
	}
	return m
}

// closedByPeer reports whether the collector closed c (a read ends in EOF
// or a reset rather than a timeout).
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// TestTCPConnectionLimit: past MaxConnections a connection is closed at
// once; the refusals are counted in one agent_status record per report
// interval and in the heartbeat totals; a closed connection frees its slot.
func TestTCPConnectionLimit(t *testing.T) {
	t.Parallel()
	e := &budgetEmitter{fakeEmitter: newFake(), limit: 1 << 30}
	c := runWith(t, Config{TCP: []string{"127.0.0.1:0"}, MaxConnections: 3, ReportEvery: 50 * time.Millisecond}, e)
	addr, src := c.Addrs()[0].String(), c.Sources()[0]
	var held []net.Conn
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	for i := range 3 {
		h, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, h)
		h.Write(append(message("held", i), '\n'))
	}
	waitFor(t, "3 messages", func() bool { l, _ := e.counts(); return l == 3 })
	for range 5 {
		x, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if !closedByPeer(x) {
			t.Error("a connection past the limit was not closed")
		}
		x.Close()
	}
	var status []collectors.Record
	waitFor(t, "the agent_status record", func() bool {
		status = status[:0]
		n := 0
		for _, r := range e.snapshot() {
			if r.Kind == collectors.KindAgentStatus {
				status = append(status, r)
				k, _ := strconv.Atoi(attrMap(r.Attrs)["refused_connections"])
				n += k
			}
		}
		return n == 5
	})
	a := attrMap(status[0].Attrs)
	if status[0].Source != src || a["reason"] != "connection_limit" || a["max_connections"] != "3" || a["refused_no_memory"] != "0" {
		t.Errorf("agent_status record source %q attrs %v, want %s, reason connection_limit, max 3", status[0].Source, a, src)
	}
	time.Sleep(150 * time.Millisecond) // more report intervals: nothing new, no new record
	n := 0
	for _, r := range e.snapshot() {
		if r.Kind == collectors.KindAgentStatus {
			n++
		}
	}
	if n != len(status) {
		t.Errorf("%d agent_status records, then %d with no new refusal: want none added", len(status), n)
	}
	hb := attrMap(c.HeartbeatAttrs())
	if hb["syslog_tcp_refused_connections"] != "5" || hb["syslog_tcp_open_connections"] != "3" {
		t.Errorf("heartbeat attrs %v, want 5 refused and 3 open", hb)
	}
	// A slot freed is a slot taken.
	held[0].Close()
	waitFor(t, "the slot freed", func() bool { return attrMap(c.HeartbeatAttrs())["syslog_tcp_open_connections"] == "2" })
	y, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, y)
	y.Write(append(message("held", 3), '\n'))
	waitFor(t, "the 4th message", func() bool { l, _ := e.counts(); return l == 4 })
}

// TestTCPIdleTimeout: a connection that sends nothing for the idle timeout
// is closed and counted; what it sent of an unfinished message is kept.
func TestTCPIdleTimeout(t *testing.T) {
	t.Parallel()
	e := newFake()
	c := runWith(t, Config{TCP: []string{"127.0.0.1:0"}, IdleTimeout: 100 * time.Millisecond}, e)
	x, err := net.Dial("tcp", c.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	x.Write([]byte("<13>Nov 22 18:00:00 a: no newline"))
	start := time.Now()
	if !closedByPeer(x) {
		t.Fatal("an idle connection was not closed")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %v, want about the 100ms idle timeout", d)
	}
	waitFor(t, "the unfinished message", func() bool { l, _ := e.counts(); return l == 1 })
	if got := string(e.snapshot()[0].Body); got != "<13>Nov 22 18:00:00 a: no newline" {
		t.Errorf("kept %q", got)
	}
	if got := attrMap(c.HeartbeatAttrs())["syslog_tcp_idle_closed"]; got != "1" {
		t.Errorf("syslog_tcp_idle_closed = %q, want 1", got)
	}
}

// TestTCPMemoryIsLent: a connection's memory comes from the budget. With
// room for one connection and a little more, a second connection is
// refused for lack of memory and counted; a 60,000-byte message is cut into
// pieces (flagged partial) that join to it byte for byte instead of being
// held whole; the lent memory never exceeds the budget and all of it comes
// back when the connection closes.
func TestTCPMemoryIsLent(t *testing.T) {
	t.Parallel()
	const limit = connBaseBytes + 8<<10
	e := &budgetEmitter{fakeEmitter: newFake(), limit: limit}
	c := runWith(t, Config{TCP: []string{"127.0.0.1:0"}, ReportEvery: 50 * time.Millisecond}, e)
	addr := c.Addrs()[0].String()
	a, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first connection's memory", func() bool { u, _ := e.lent(); return u >= connBaseBytes })
	b, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if !closedByPeer(b) {
		t.Error("a connection the budget has no memory for was not closed")
	}
	b.Close()
	long := append([]byte("<13>Nov 22 18:00:00 a: "), bytes.Repeat([]byte("0123456789"), 6000)...)
	for _, framed := range [][]byte{append(bytes.Clone(long), '\n'), append([]byte(strconv.Itoa(len(long))+" "), long...)} {
		before := len(e.snapshot())
		if _, err := a.Write(framed); err != nil {
			t.Fatal(err)
		}
		var joined []byte
		waitFor(t, "the message's pieces", func() bool {
			joined = joined[:0]
			for _, r := range e.snapshot()[before:] {
				if r.Kind == collectors.KindLog {
					joined = append(joined, r.Body...)
				}
			}
			return len(joined) >= len(long)
		})
		if !bytes.Equal(joined, long) {
			t.Fatalf("pieces join to %d bytes, want the %d sent, byte for byte", len(joined), len(long))
		}
		var pieces, partial int
		for _, r := range e.snapshot()[before:] {
			if r.Kind == collectors.KindLog {
				pieces++
				if r.Flags == collectors.FlagPartial {
					partial++
				}
			}
		}
		if pieces < 2 || partial != pieces-1 {
			t.Errorf("%d pieces, %d flagged partial: want the message cut, all but the last piece partial", pieces, partial)
		}
	}
	a.Close()
	waitFor(t, "the memory given back", func() bool { u, _ := e.lent(); return u == 0 })
	if _, peak := e.lent(); peak > limit {
		t.Errorf("peak lent %d, budget %d", peak, limit)
	}
	hb := attrMap(c.HeartbeatAttrs())
	if hb["syslog_tcp_cut_messages"] == "0" || hb["syslog_tcp_refused_connections"] != "1" || hb["syslog_tcp_lent_bytes"] != "0" {
		t.Errorf("heartbeat attrs %v, want messages cut, 1 connection refused, 0 bytes lent once closed", hb)
	}
	waitFor(t, "the agent_status record", func() bool {
		for _, r := range e.snapshot() {
			if r.Kind == collectors.KindAgentStatus && attrMap(r.Attrs)["refused_no_memory"] == "1" {
				return attrMap(r.Attrs)["reason"] == "memory_budget"
			}
		}
		return false
	})
}

// FuzzSplitStreamLent: with any budget, however small, newline-framed
// input without digits at line starts comes back whole, nothing longer
// than the maximum, and every byte lent is given back.
func FuzzSplitStreamLent(f *testing.F) {
	f.Add([]byte("<1>x\n<2>"+string(bytes.Repeat([]byte("y"), 300))+"\n"), 100, 0)
	f.Add([]byte(string(bytes.Repeat([]byte("z"), 1000))), 64, 40)
	f.Fuzz(func(t *testing.T, b []byte, maxMsg, limit int) {
		if maxMsg < 1 || maxMsg > 1<<16 || limit < 0 {
			return
		}
		e := &budgetEmitter{fakeEmitter: newFake(), limit: int64(limit)}
		m := &msgBuf{res: e}
		var joined []byte
		splitStream(bufio16(b), maxMsg, m, func(msg []byte, partial bool) error {
			if len(msg) > maxMsg {
				t.Fatalf("message of %d bytes, max %d", len(msg), maxMsg)
			}
			joined = append(joined, msg...)
			return nil
		})
		m.free()
		if u, peak := e.lent(); u != 0 || peak > int64(limit) {
			t.Fatalf("lent %d after the stream (peak %d of %d)", u, peak, limit)
		}
		if !bytes.ContainsAny(b, "0123456789") {
			if want := bytes.ReplaceAll(b, []byte("\n"), nil); !bytes.Equal(joined, want) {
				t.Fatalf("newline-framed %q came back as %q", b, joined)
			}
		}
	})
}
