// The TCP listeners: connections accepted up to MaxConnections, each
// closed when idle, its buffers lent by the agent's memory budget;
// refusals counted and reported as agent_status records and heartbeat
// figures, never one log line each.

package syslog

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/collectors"
)

// acceptTCP accepts connections until the listener is closed. A
// connection past MaxConnections, or for which the budget lends no memory,
// is closed at once and counted. A failed accept (out of file descriptors)
// is retried after a pause, not the end of the listener.
func (c *Collector) acceptTCP(ctx context.Context, t *tcpSource, out collectors.Emitter) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var pause time.Duration
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			if pause == 0 {
				c.log.Warn("accept failed; retrying", "source", t.name, "err", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), acceptBackoffMax)
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		if c.routeFn != nil {
			if _, ok := c.route(conn.RemoteAddr()); !ok {
				conn.Close() // counted; never attributed
				continue
			}
		}
		if c.open.Add(1) > c.maxConns {
			c.open.Add(-1)
			t.refusedLimit.Add(1)
			conn.Close()
			continue
		}
		if c.res != nil && !c.res.Reserve(connBaseBytes) {
			c.open.Add(-1)
			t.refusedMemory.Add(1)
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.open.Add(-1)
			if c.res != nil {
				defer c.res.Unreserve(connBaseBytes)
			}
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			defer conn.Close()
			err := c.readStream(ctx, t.name, conn, out)
			var ne net.Error
			switch {
			case err == nil || ctx.Err() != nil:
			case errors.As(err, &ne) && ne.Timeout():
				c.idleClosed.Add(1)
			default:
				// Counted, not logged: a peer that resets connections in a
				// loop must not fill the device's log.
				c.connErrs.Add(1)
				c.log.Debug("connection ended", "source", t.name, "peer", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// reportRefusals writes, every reportEvery, one agent_status record per TCP
// listener that refused connections since the last one. A record the queue
// has no room for is retried at the next tick with the counts grown.
func (c *Collector) reportRefusals(ctx context.Context) {
	tk := time.NewTicker(c.reportEvery)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		for _, t := range c.tcps {
			c.reportRefused(t)
		}
		if c.routeFn != nil {
			c.reportUnknown()
		}
	}
}

func (c *Collector) reportRefused(t *tcpSource) {
	lim, mem := t.refusedLimit.Load(), t.refusedMemory.Load()
	dl, dm := lim-t.reportedLimit, mem-t.reportedMemory
	if dl+dm == 0 {
		return
	}
	var reasons []string
	if dl > 0 {
		reasons = append(reasons, "connection_limit")
	}
	if dm > 0 {
		reasons = append(reasons, "memory_budget")
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	body := fmt.Sprintf("syslog: %d TCP connections refused: %d with %d open (the limit), %d for lack of memory in the agent's budget",
		dl+dm, dl, c.maxConns, dm)
	r := collectors.Record{Time: c.now(), Kind: collectors.KindAgentStatus, Source: t.name, Body: []byte(body),
		Attrs: []collectors.Attr{
			{Key: "reason", Value: strings.Join(reasons, ",")},
			{Key: "refused_connections", Value: u(dl + dm)},
			{Key: "refused_at_limit", Value: u(dl)},
			{Key: "refused_no_memory", Value: u(dm)},
			{Key: "max_connections", Value: strconv.FormatInt(c.maxConns, 10)},
			{Key: "open_connections", Value: strconv.FormatInt(c.open.Load(), 10)},
		}}
	if c.offer(r) {
		t.reportedLimit, t.reportedMemory = lim, mem
	}
}

// HeartbeatAttrs implements collectors.Reporter: the totals since start.
func (c *Collector) HeartbeatAttrs() []collectors.Attr {
	var refused uint64
	for _, t := range c.tcps {
		refused += t.refusedLimit.Load() + t.refusedMemory.Load()
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	p := c.prefix + "_"
	var attrs []collectors.Attr
	if len(c.tcps) > 0 {
		attrs = append(attrs,
			collectors.Attr{Key: p + "tcp_open_connections", Value: strconv.FormatInt(c.open.Load(), 10)},
			collectors.Attr{Key: p + "tcp_lent_bytes", Value: strconv.FormatInt(c.lent.Load(), 10)},
			collectors.Attr{Key: p + "tcp_refused_connections", Value: u(refused)},
			collectors.Attr{Key: p + "tcp_idle_closed", Value: u(c.idleClosed.Load())},
			collectors.Attr{Key: p + "tcp_errors", Value: u(c.connErrs.Load())},
			collectors.Attr{Key: p + "tcp_cut_messages", Value: u(c.cut.Load())})
	}
	if len(c.dgrams) > 0 {
		attrs = append(attrs, collectors.Attr{Key: p + "dropped_messages", Value: u(c.dropped.Load())})
	}
	if c.routeFn != nil {
		attrs = append(attrs, collectors.Attr{Key: p + "unknown_senders", Value: u(c.unknown.Load())})
	}
	return attrs
}

// countedReserver keeps the total its Reserver lent to this collector.
type countedReserver struct {
	r    collectors.Reserver
	lent *atomic.Int64
}

func (c countedReserver) Reserve(n int64) bool {
	if !c.r.Reserve(n) {
		return false
	}
	c.lent.Add(n)
	return true
}

func (c countedReserver) Unreserve(n int64) {
	c.lent.Add(-n)
	c.r.Unreserve(n)
}
