package server

import (
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

// maxGatedDevices bounds the devices whose events are being counted at
// once. Only devices with a certificate of the device CA get here, so it
// is rarely reached; beyond it a device's events are stored one by one,
// as before (counted in the summary of the next device window that has
// room), never dropped.
const maxGatedDevices = 100000

// eventGate holds each device's integrity events that refuse its work (a
// batch not stored, a stream refused) to a budget per interval: the
// first few are stored and logged one by one, with their detail; the rest
// are counted, by kind, and each kind's count becomes one summary event
// and the device one WARN line when the interval ends. A device sending
// 20,000 malformed batches costs a handful of rows and lines, not 20,000
// of each, and loses none from the count. Events of stored batches (gap,
// fork at the head) are not gated: they go with the data they describe.
type eventGate struct {
	every  time.Duration
	budget int

	mu      sync.Mutex
	windows map[string]*eventWindow // device → its current interval
}

// eventWindow is one device's interval.
type eventWindow struct {
	start   time.Time
	stored  int                      // events stored one by one
	counted map[string]*countedEvent // kind → what was counted, not stored
}

// countedEvent is what the summary of one kind says.
type countedEvent struct {
	n                 int
	firstSeq, lastSeq uint64
	last              store.IntegrityEvent // the latest, for its detail and boot id
}

func newEventGate(every time.Duration, budget int) *eventGate {
	return &eventGate{every: every, budget: budget, windows: make(map[string]*eventWindow)}
}

// admit reports whether e is to be stored and logged now; when it is
// not, it has been counted for its device's summary.
func (g *eventGate) admit(e *store.IntegrityEvent, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.windows[e.Device]
	if w != nil && now.Sub(w.start) >= g.every && len(w.counted) == 0 {
		w = nil // over, and nothing to summarise: a fresh budget
	}
	if w == nil {
		if len(g.windows) >= maxGatedDevices {
			return true
		}
		w = &eventWindow{start: now}
		g.windows[e.Device] = w
	}
	if w.stored < g.budget {
		w.stored++
		return true
	}
	if w.counted == nil {
		w.counted = make(map[string]*countedEvent)
	}
	c := w.counted[e.Kind]
	if c == nil {
		c = &countedEvent{firstSeq: e.Seq}
		w.counted[e.Kind] = c
	}
	c.n++
	c.lastSeq = e.Seq
	c.last = *e
	return false
}

// due removes and returns the windows over at now (all of them when all
// is set), with what they counted: the summaries to store.
func (g *eventGate) due(now time.Time, all bool) map[string]*eventWindow {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]*eventWindow)
	for dev, w := range g.windows {
		if all || now.Sub(w.start) >= g.every {
			delete(g.windows, dev)
			if len(w.counted) > 0 {
				out[dev] = w
			}
		}
	}
	return out
}

// summarise stores one event per kind for each window over at now (every
// window when all is set) and logs one WARN line per device.
func (s *Server) summarise(ctx context.Context, now time.Time, all bool) {
	due := s.gate.due(now, all)
	for _, dev := range slices.Sorted(maps.Keys(due)) {
		w := due[dev]
		total := 0
		attrs := []any{"device", dev, "interval", s.gate.every, "stored_one_by_one", w.stored}
		for _, kind := range slices.Sorted(maps.Keys(w.counted)) {
			c := w.counted[kind]
			total += c.n
			attrs = append(attrs, kind, c.n)
			e := c.last
			e.Time = now
			e.Seq = c.lastSeq
			e.Detail = fmt.Sprintf("%d more %s events in %s after the first %d of the device (seqs %d..%d), counted, not stored one by one; the last: %s",
				c.n, kind, now.Sub(w.start).Round(time.Second), w.stored, c.firstSeq, c.lastSeq, c.last.Detail)
			if err := s.cfg.Store.AddIntegrityEvent(context.WithoutCancel(ctx), e); err != nil {
				s.log.Error("storing an integrity event summary failed", "device", dev, "kind", kind, "count", c.n, "err", err)
				continue
			}
			s.stored(nil)
		}
		s.log.Warn(fmt.Sprintf("integrity events: %d more from %s counted, not logged one by one", total, dev), attrs...)
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
