// Package alerts runs detection inside the collector. It follows the store:
// each round it reads the batches, integrity events and data accesses
// stored since its cursor, in commit order, runs them through the rules of
// ingest/detect, and saves the alerts raised, the changed device baselines
// and the moved cursor in one transaction. So ingestion never waits for
// detection, a slow round only delays alerts, and after a restart detection
// resumes where it stopped: nothing is missed and nothing is raised twice.
//
// Timer rules (heartbeat_missing, password_too_old) run every Tick, since
// a silent device sends nothing to react to.
//
// An alert is queued for delivery (ingest/notify) when it opens or its
// severity rises, to every sink that wants it; a growing count updates the
// stored alert without notifying again.
//
// The cursor assumes a store gives batch rows, event ids and access ids in
// commit order (SQLite's single writer does; ingest/store/postgres numbers
// them under a lock held to commit), or a batch committed late behind a
// higher row would be skipped. When several collectors share a store, one
// runs detection (store.Coordinator's leader), and every save is fenced
// on the cursor it read (AlertSave.From), so a collector that lost its
// leadership mid-round saves nothing.
package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/offer"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// Config wires a Runner.
type Config struct {
	Store  store.Store
	Detect detect.Config
	// Labels returns a device's labels (collector config and certificate);
	// nil: none.
	Labels func(ctx context.Context, device string) map[string]string
	// Route returns the sinks an alert goes to; nil: none (store only).
	Route func(a store.Alert) []string
	// Delivered is called after alerts were queued for delivery (the
	// dispatcher's Kick); it must not block.
	Delivered func()
	Now       func() time.Time // nil: time.Now
	Logger    *slog.Logger     // nil: discard
	Poll      time.Duration    // how often to look for new data when not woken; default 1s
	Tick      time.Duration    // how often the timer rules run; default 250ms
	Limit     int              // batches read per round; default 64
	// SaveEvery: while a save is outstanding, the next round goes on
	// taking batches until the save landed and four times its duration,
	// at most SaveEvery, has passed; default 750ms. Each save upserts
	// every alert group its round touched, however few lines it covers:
	// shorter costs CPU, longer costs alert latency (round.go).
	SaveEvery time.Duration
	// OfferGrace: how long a round waits for a batch to be offered when
	// batches after it are, before reading it back from the store;
	// default 2ms (offerGrace).
	OfferGrace time.Duration
	// Opened is called with each alert opened, once it is saved
	// (metrics); nil: nothing.
	Opened func(a store.Alert)
	// Heartbeat is called with each HEARTBEAT record detection reads and
	// its device (metrics); it must not keep r. nil: nothing.
	Heartbeat func(device string, r *offboxv1.Record)
}

// Runner is the detection loop.
type Runner struct {
	cfg    Config
	engine *detect.Engine
	wake   chan struct{}
	cursor store.Cursor      // as saved
	next   store.Cursor      // as it will be once the save outstanding lands: where the next round reads from
	saved  map[string]string // device → the baseline snapshot last saved or being saved
	stale  bool              // the engine counted what no save keeps: restore before the next round
	// lastSave is how long the last save Run sent took (wall time).
	lastSave time.Duration
	stats    struct{ batches, records, alerts, rounds, offered, row atomic.Int64 }

	// Batches just committed, by row, as the server decoded them: a round
	// takes the rows that follow its cursor from here instead of reading
	// and decoding them again. Bounded (maxOfferedBytes); whatever is not
	// here is read from the store.
	offered offer.Set
	added   chan struct{} // a batch was offered (awaitOffer's, apart from wake)
	refused atomic.Int64  // offers not kept (the set was full)
	// Whether the last read of the store reached its end (returned less
	// than asked), and refused then. Until more is refused, every batch
	// the server committed since was offered (and is held until taken in
	// order), so a round that has taken what was offered need not ask the
	// store again: the next offer wakes it. Batches stored otherwise
	// (other collectors sharing an engine; tests) are read by the first
	// read of each round of the poll and the timers (mustRead), which
	// always asks the store.
	drained        bool
	drainedRefused int64
	mustRead       bool      // Run's goroutine
	noGraceUntil   time.Time // nextBatches does not wait for offers before it

	caughtUp     chan struct{} // closed by the first round that leaves nothing waiting
	caughtUpOnce sync.Once
}

// maxOfferedBytes bounds what the batches kept for the next round hold
// (offer.Cost): 32 of the largest batches, or thousands of one-line ones.
const maxOfferedBytes = 64 << 20

// New checks cfg and returns a Runner; Run starts it.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil {
		return nil, errors.New("alerts: no store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 250 * time.Millisecond
	}
	if cfg.Limit <= 0 {
		cfg.Limit = 64
	}
	if cfg.SaveEvery <= 0 {
		cfg.SaveEvery = 750 * time.Millisecond
	}
	if cfg.OfferGrace <= 0 {
		cfg.OfferGrace = offerGrace
	}
	if cfg.Labels == nil {
		cfg.Labels = func(context.Context, string) map[string]string { return nil }
	}
	if cfg.Route == nil {
		cfg.Route = func(store.Alert) []string { return nil }
	}
	if cfg.Delivered == nil {
		cfg.Delivered = func() {}
	}
	return &Runner{cfg: cfg, engine: detect.New(cfg.Detect), wake: make(chan struct{}, 1), added: make(chan struct{}, 1), saved: map[string]string{},
		caughtUp: make(chan struct{})}, nil
}

// CaughtUp is closed once detection has read everything stored before it
// ran (a round found nothing more waiting). Retention waits for it: it
// removes only what detection has read.
func (r *Runner) CaughtUp() <-chan struct{} { return r.caughtUp }

// Offer tells the runner something was stored: b, a batch just committed
// (with Row, Segments and Decoded set; the runner keeps it a while and
// never changes it), or nil for anything else. It never blocks.
func (r *Runner) Offer(b *store.Batch) {
	if b != nil && b.Decoded != nil && b.Row > 0 {
		if kept, _, _ := r.offered.Add(b, maxOfferedBytes); kept {
			r.stats.offered.Add(1)
			select {
			case r.added <- struct{}{}:
			default:
			}
		} else if r.offered.Get(b.Row) == nil { // not a second offer of a row held
			r.refused.Add(1)
		}
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Wake tells the runner new data was stored; it never blocks.
func (r *Runner) Wake() { r.Offer(nil) }

// Stats are the runner's totals.
type Stats struct {
	Rounds, Batches, Records, Alerts int64
	Offered                          int64 // batches handed over at commit, not read back
	Engine                           detect.Stats
}

// Stats reports what the runner has done.
func (r *Runner) Stats() Stats {
	return Stats{Rounds: r.stats.rounds.Load(), Batches: r.stats.batches.Load(), Records: r.stats.records.Load(),
		Alerts: r.stats.alerts.Load(), Offered: r.stats.offered.Load(), Engine: r.engine.Stats()}
}

// BatchRow is the cursor: the row of the last batch detection has read.
// Unlike Stats it is safe to call while Run restarts the engine.
func (r *Runner) BatchRow() int64 { return r.stats.row.Load() }

// Run restores the engine's baselines, then detects until ctx ends. A
// store error ends a round, is logged and retried at the next; only a
// failed restore is returned.
//
// Rounds overlap their saves: while round N's alerts are being saved
// (send), round N+1 reads and observes its batches; N+1 is saved only
// once N's save has landed, and is discarded if N's failed (see round.go).
func (r *Runner) Run(ctx context.Context) error {
	if err := r.restore(ctx); err != nil {
		return fmt.Errorf("alerts: restore: %w", err)
	}
	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	var out *flight // the save outstanding, if any: at most one
	defer func() {
		if out != nil {
			r.land(ctx, out) // never leave a save behind Run
		}
	}()
	for {
		timers := false
		var landed <-chan struct{}
		if out != nil {
			landed = out.done
		}
		select {
		case <-ctx.Done():
			return nil
		case <-landed:
			if err := r.land(ctx, out); err != nil && ctx.Err() == nil {
				r.cfg.Logger.Error("detection round failed; retrying", "err", err)
			}
			out = nil
			continue
		case <-r.wake:
		case <-poll.C:
			r.mustRead = true
		case <-tick.C:
			timers, r.mustRead = true, true
		}
		for {
			var busy <-chan struct{}
			if out != nil {
				busy = out.done
			}
			next, err := r.observe(ctx, timers, busy)
			if out != nil {
				lerr := r.land(ctx, out) // a failure restored the engine: next is void
				out = nil
				if lerr != nil {
					err, next = errors.Join(lerr, err), nil
				}
			}
			if err == nil && next != nil && next.save.Cursor != nil {
				out = r.send(ctx, next)
			} else if err == nil && next != nil && !next.more {
				r.caughtUpOnce.Do(func() { close(r.caughtUp) })
			}
			if err != nil {
				err = r.heal(ctx, err)
				if ctx.Err() == nil {
					r.cfg.Logger.Error("detection round failed; retrying", "err", err)
				}
				break
			}
			if !next.more {
				break
			}
		}
	}
}

// restore starts a fresh engine from the saved cursor and baselines.
func (r *Runner) restore(ctx context.Context) error {
	r.stale = true // until done
	r.engine = detect.New(r.cfg.Detect)
	r.saved = map[string]string{}
	r.offered.Clear() // offered before this run (or before leadership was lost): the store has them
	r.drained = false
	cur, err := r.cfg.Store.DetectCursor(ctx)
	if err != nil {
		return err
	}
	r.cursor, r.next = cur, cur
	r.stats.row.Store(cur.BatchRow)
	states, err := r.cfg.Store.DetectStates(ctx)
	if err != nil {
		return err
	}
	devices, err := r.cfg.Store.Devices(ctx)
	if err != nil {
		return err
	}
	for _, d := range devices {
		snap := states[d.Name]
		if err := r.engine.Restore(d.Name, snap, d.LastSeen); err != nil {
			r.cfg.Logger.Error("device baseline unreadable; starting it afresh", "device", d.Name, "err", err)
			continue
		}
		r.saved[d.Name] = string(snap)
	}
	// The groups still open: what is read next grows them, as it would
	// have had the engine not been restarted.
	recent, err := r.cfg.Store.Alerts(ctx, store.AlertQuery{Since: r.cfg.Now().Add(-r.engine.GroupWindow())})
	if err != nil {
		return err
	}
	for _, a := range recent {
		r.engine.Reopen(fromStore(a))
	}
	r.stale = false
	return nil
}

// pending is a batch to detect over: committed just now (decoded) or
// read back from the store (bytes).
type pending struct {
	Row               int64
	Seq               uint64
	Device            string
	Received          time.Time
	BootID, SessionID string
	records           []*offboxv1.Record // nil: decode bytes
	bytes             []byte
	Segments          []store.Segment
}

// forget drops the offered batches at or before row.
func (r *Runner) forget(row int64) { r.offered.Forget(row) }

// batch runs every indexed record of b through the collecting engine and
// returns how many it ran. Records the index leaves out (duplicates of
// lines already stored) are not evidence of anything new and are skipped.
func (r *Runner) batch(ctx context.Context, b pending) (n int) {
	recs := b.records
	if recs == nil {
		dec, err := seal.Open(b.bytes)
		if err != nil { // the server verified it before storing: the store is damaged
			r.cfg.Logger.Error("stored batch does not decode; skipped by detection (run verify)",
				"device", b.Device, "seq", b.Seq, "err", err)
			return 0
		}
		recs = dec.GetRecords()
	}
	labels := r.cfg.Labels(ctx, b.Device)
	for _, seg := range b.Segments {
		for i := seg.First; i < seg.First+seg.Count && i < len(recs); i++ {
			in := detect.FromRecord(store.Record{Device: b.Device, Seq: b.Seq, Index: i, Received: b.Received, Record: recs[i]})
			in.Labels, in.SessionID, in.BootID = labels, b.SessionID, b.BootID
			r.engine.Observe(in) // collecting: Round takes the alerts from Collected
			n++
			if r.cfg.Heartbeat != nil && recs[i].GetKind() == offboxv1.Kind_KIND_HEARTBEAT {
				r.cfg.Heartbeat(b.Device, recs[i])
			}
		}
	}
	return n
}

// changedBaselines returns the snapshots of the devices touched whose
// baseline differs from the one last saved.
func (r *Runner) changedBaselines(touched map[string]bool) map[string][]byte {
	var out map[string][]byte
	for dev := range touched {
		snap, ok := r.engine.Snapshot(dev)
		if !ok || string(snap) == r.saved[dev] {
			continue
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[dev] = snap
	}
	return out
}

// toStore is an alert of the engine as the store saves it.
func toStore(a detect.Alert) store.Alert {
	refs := make([]store.AlertRef, len(a.Evidence))
	for i, e := range a.Evidence {
		refs[i] = store.AlertRef{Device: e.Device, Seq: e.Seq, Index: e.Index}
	}
	return store.Alert{GroupID: a.ID, Kind: a.Kind, Severity: a.Severity, Device: a.Device, Key: a.Key,
		Summary: a.Summary, Fields: a.Fields, Labels: a.Labels, First: a.First, Last: a.Last, Count: a.Count,
		Evidence: refs, FirstReceived: a.FirstReceived, LastReceived: a.LastReceived}
}

// fromStore is toStore's inverse: a saved alert as the engine holds it.
func fromStore(a store.Alert) detect.Alert {
	refs := make([]detect.Ref, len(a.Evidence))
	for i, e := range a.Evidence {
		refs[i] = detect.Ref{Device: e.Device, Seq: e.Seq, Index: e.Index}
	}
	return detect.Alert{ID: a.GroupID, Kind: a.Kind, Severity: a.Severity, Device: a.Device, Key: a.Key,
		Summary: a.Summary, Fields: a.Fields, Labels: a.Labels, First: a.First, Last: a.Last, Count: a.Count,
		Evidence: refs, FirstReceived: a.FirstReceived, LastReceived: a.LastReceived}
}

// accessInput is one stored access for detection.
func accessInput(a store.Access) detect.AccessInput {
	return detect.AccessInput{ID: a.ID, At: a.Time, Who: a.Who, Via: a.Via, Remote: a.Remote, What: a.What}
}
