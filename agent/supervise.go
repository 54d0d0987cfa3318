package agent

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/offbox/offbox/collectors"
)

// supervisor restarts failed collectors.
type supervisor struct {
	log  *slog.Logger
	rand func(n int64) int64 // jitter of the restart backoff
	now  func() time.Time
}

// supervise runs c until ctx ends. A collector that fails (returns an error
// or panics) is logged, recorded as a KindAgentStatus record and restarted
// with backoff; one that returns nil is done. A collector never takes the
// agent down.
func (sv supervisor) supervise(ctx context.Context, c collectors.Collector, out collectors.Emitter) {
	bo := backoff{base: backoffBase, max: backoffMax, rand: sv.rand}
	for {
		began := sv.now()
		err := runCollector(ctx, c, out)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			sv.log.Info("collector finished", "collector", c.Name())
			return
		}
		if sv.now().Sub(began) > backoffMax {
			bo.reset() // it ran well for a while: this is a new failure, not a loop
		}
		d := bo.next()
		sv.log.Error("collector failed; restarting", "collector", c.Name(), "err", err, "in", d.Round(time.Millisecond))
		out.TryEmit(collectors.Record{Time: sv.now(), Kind: collectors.KindAgentStatus, Source: agentSource,
			Body:  []byte(fmt.Sprintf("collector %s failed: %v", c.Name(), err)),
			Attrs: []collectors.Attr{{Key: "collector", Value: c.Name()}, {Key: "error", Value: err.Error()}}})
		if !sleep(ctx, d) {
			return
		}
	}
}

// runCollector runs c once, turning a panic into an error.
func runCollector(ctx context.Context, c collectors.Collector, out collectors.Emitter) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return c.Run(ctx, out)
}

// ackNotifier hands acknowledged file checkpoints to the collectors that
// want them, from its own goroutine: a slow Acked must never hold up the
// sender, which frees the budget the collectors wait for. Checkpoints not
// yet delivered are merged, latest offset per file, so memory stays bounded.
type ackNotifier struct {
	ackers []collectors.Acker

	mu      sync.Mutex
	pending []collectors.Checkpoint
	wake    chan struct{}
}

func newAckNotifier(ackers []collectors.Acker) *ackNotifier {
	return &ackNotifier{ackers: ackers, wake: make(chan struct{}, 1)}
}

// add queues the checkpoints of an acknowledged batch.
func (n *ackNotifier) add(marks []mark) {
	if len(n.ackers) == 0 {
		return
	}
	n.mu.Lock()
	for _, m := range marks {
		n.merge(collectors.Checkpoint{Source: m.source, ID: m.file.ID, Offset: m.file.End})
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *ackNotifier) merge(cp collectors.Checkpoint) {
	for i := range n.pending {
		if p := &n.pending[i]; p.Source == cp.Source && p.ID == cp.ID {
			p.Offset = max(p.Offset, cp.Offset)
			return
		}
	}
	n.pending = append(n.pending, cp)
}

func (n *ackNotifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		cps := n.pending
		n.pending = nil
		n.mu.Unlock()
		for _, ak := range n.ackers {
			ak.Acked(cps)
		}
	}
}
