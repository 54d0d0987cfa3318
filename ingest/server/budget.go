package server

import (
	"context"
	"sync"
	"sync/atomic"
)

// DefaultInFlightBytes bounds the batch bytes the collector holds decoded
// across every stream at once when Config.InFlightBytes is 0.
const DefaultInFlightBytes = 64 << 20

// budget bounds what every stream together holds in memory: a batch is
// charged its size when its stream's receiver has read it and released
// when its outcome is settled (stored and acknowledged, or refused). A
// receiver that cannot be charged stops reading, so what the agent sends
// next waits in the stream's HTTP/2 window (Config.FlowWindow, fanin.go) and its
// TCP buffers, not in the collector's heap: a collector short of CPU
// holds at most the budget plus, per stream, one window and one batch.
type budget struct {
	size int64

	mu      sync.Mutex
	used    int64
	waiters []*budgetWaiter // first come, first charged
	peak    atomic.Int64    // the most ever charged at once (tests, metrics)
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when charged
}

func newBudget(size int64) *budget { return &budget{size: size} }

// minCharge is what the smallest batch costs held: decoded, judged and
// queued, a one-line batch of 500 bytes takes about 4 KiB of heap (the
// item, the store.Batch, the decoded header and records). Charged its
// bytes alone, 10,000 streams behind a collector short of CPU held five
// such batches each inside a 64 MiB budget; at 4 KiB the budget holds
// 16,384 of them and the rest wait, undecoded, in their streams' windows,
// with no commit goroutine parked for them.
const minCharge = 4 << 10

// charge is what a batch of n bytes costs: at least minCharge, at most the
// whole budget, so that a batch larger than the budget still passes, alone.
func (b *budget) charge(n int) int64 { return min(max(int64(n), minCharge), b.size) }

// acquire charges n (from charge) and reports true, or false without a
// charge when ctx ends first.
func (b *budget) acquire(ctx context.Context, n int64) bool {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.size {
		b.take(n)
		b.mu.Unlock()
		return true
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // charged while ctx ended: give it back
		b.used -= n
		b.wake()
		return false
	default:
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.wake() // it may have been first in line, holding the others back
	return false
}

// release gives back a charge of n.
func (b *budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.wake()
	b.mu.Unlock()
}

// take charges n; b.mu is held.
func (b *budget) take(n int64) {
	b.used += n
	if b.used > b.peak.Load() {
		b.peak.Store(b.used)
	}
}

// wake charges the waiters in order while they fit; b.mu is held.
func (b *budget) wake() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.size {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.take(w.n)
		close(w.ready)
	}
}

// held is what is charged now.
func (b *budget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
