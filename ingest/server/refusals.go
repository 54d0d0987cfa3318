package server

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// Defaults of the integrity events a device may raise one by one.
const (
	// DefaultEventInterval is Config.EventInterval's default.
	DefaultEventInterval = time.Minute
	// DefaultEventsPerInterval is Config.EventsPerInterval's default.
	DefaultEventsPerInterval = 10
)

// maxGated bounds the (device, kind) pairs being counted at once. Only
// devices with a certificate of the device CA get here, so it is rarely
// reached; beyond it events are stored one by one, as before, never
// dropped.
const maxGated = 100000

// eventGate holds each device's integrity events that refuse its work (a
// batch not stored, a stream refused) to a budget per kind and interval:
// the first few are stored and logged one by one, with their detail; the
// rest are counted, and the count becomes one summary event and one WARN
// line when the interval ends. A device sending 20,000 malformed batches
// costs a dozen rows and lines, not 20,000 of each, and loses none from
// the count; a flood of one kind never holds back the first events of
// another (a fork behind a thousand malformed batches is stored at once).
// Events of stored batches (gap, fork at the head) are not gated: they go
// with the data they describe.
type eventGate struct {
	every  time.Duration
	budget int

	mu      sync.Mutex
	windows map[gateKey]*eventWindow
}

type gateKey struct{ device, kind string }

// eventWindow is one device's interval for one kind.
type eventWindow struct {
	start             time.Time
	stored            int // events stored one by one
	counted           int // and counted beyond the budget
	firstSeq, lastSeq uint64
	last              store.IntegrityEvent // the latest counted, for its detail and boot id
}

func newEventGate(every time.Duration, budget int) *eventGate {
	return &eventGate{every: every, budget: budget, windows: make(map[gateKey]*eventWindow)}
}

// admit reports whether e is to be stored and logged now; when it is
// not, it has been counted for its summary.
func (g *eventGate) admit(e *store.IntegrityEvent, now time.Time) bool {
	k := gateKey{e.Device, e.Kind}
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.windows[k]
	if w != nil && now.Sub(w.start) >= g.every && w.counted == 0 {
		w = nil // over, and nothing to summarise: a fresh budget
	}
	if w == nil {
		if len(g.windows) >= maxGated {
			return true
		}
		w = &eventWindow{start: now}
		g.windows[k] = w
	}
	if w.stored < g.budget {
		w.stored++
		return true
	}
	if w.counted == 0 {
		w.firstSeq = e.Seq
	}
	w.counted++
	w.lastSeq = e.Seq
	w.last = *e
	return false
}

// due removes the windows over at now (all of them when all is set) and
// returns those that counted something: the summaries to store.
func (g *eventGate) due(now time.Time, all bool) map[gateKey]*eventWindow {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[gateKey]*eventWindow)
	for k, w := range g.windows {
		if all || now.Sub(w.start) >= g.every {
			delete(g.windows, k)
			if w.counted > 0 {
				out[k] = w
			}
		}
	}
	return out
}

// summarise stores and logs one event for each window over at now (every
// window when all is set) that counted events beyond its budget.
func (s *Server) summarise(ctx context.Context, now time.Time, all bool) {
	due := s.gate.due(now, all)
	keys := slices.SortedFunc(maps.Keys(due), func(a, b gateKey) int {
		return cmp.Or(cmp.Compare(a.device, b.device), cmp.Compare(a.kind, b.kind))
	})
	for _, k := range keys {
		w := due[k]
		e := w.last
		e.Time, e.Seq = now, w.lastSeq
		e.Detail = fmt.Sprintf("%d more %s events in %s after the first %d (seqs %d..%d), counted, not stored one by one; the last: %s",
			w.counted, k.kind, now.Sub(w.start).Round(time.Second), w.stored, w.firstSeq, w.lastSeq, w.last.Detail)
		if err := s.cfg.Store.AddIntegrityEvent(context.WithoutCancel(ctx), e); err != nil {
			s.log.Error("storing an integrity event summary failed", "device", k.device, "kind", k.kind, "count", w.counted, "err", err)
		} else {
			s.stored(nil)
		}
		s.log.Warn(fmt.Sprintf("integrity events: %d more %s from %s counted, not logged one by one", w.counted, k.kind, k.device),
			"device", k.device, "kind", k.kind, "count", w.counted, "one_by_one", w.stored, "seqs", fmt.Sprintf("%d..%d", w.firstSeq, w.lastSeq),
			"interval", s.gate.every, "last", w.last.Detail)
	}
}

// summariseEvery stores the summaries of the windows that are over, every
// quarter interval, until ctx ends.
func (s *Server) summariseEvery(ctx context.Context) {
	t := time.NewTicker(max(s.gate.every/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.summarise(ctx, s.cfg.Now(), false)
		}
	}
}
