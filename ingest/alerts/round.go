package alerts

import (
	"context"
	"errors"
	"time"

	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
)

// A round is in two halves: observe reads what is stored past the cursor
// and runs it through the engine, building the round's save; the save
// (one SaveAlerts: alerts, changed baselines, moved cursor, atomically)
// then lands. Run overlaps them: while round N's save is written, round
// N+1 takes and observes batches as they come, and ends once that save
// has landed and a while has passed (accumulate), so observing is off the
// path from a line to its alert, and detection keeps up while observe
// plus save would not. Rounds must not end merely because a save landed:
// each save upserts every group its round touched (on the realistic mix
// thousands, however few lines), and saves every ~200 ms doubled the
// collector's CPU in the e2e realistic run (ARCHITECTURE.md). The
// guarantees of a serial loop hold:
//
//   - round N+1 reads from where round N's save leaves the cursor
//     (Runner.next) and is fenced on it (AlertSave.From, Saves counted),
//     and is sent only once N's save has landed: at most one save is
//     outstanding, and saves land in order;
//   - a save that fails marks the engine stale: the round observed
//     meanwhile is dropped unsaved, and the engine is restored from what
//     is saved and reads again from the saved cursor, so nothing is
//     counted twice and nothing is lost;
//   - what happens on success (Opened, the cursor, stats, Delivered)
//     happens in land, after the save succeeded, on Run's goroutine;
//   - a save holds no engine state: Collected and the alerts Integrity,
//     Access and Tick return are copies (detect.cloneAlert), toStore
//     copies the evidence, and Snapshot marshals afresh, so observing
//     the next round cannot change a save in flight (go test -race:
//     TestOverlapFailedSave).

// round is one observed round and what its save does once it landed.
type round struct {
	save    store.AlertSave // Cursor nil: nothing to save
	cur     store.Cursor    // the cursor once saved (Saves counted)
	opened  []store.Alert
	states  map[string][]byte
	batches int64
	records int64
	notify  bool
	more    bool // more was waiting past the round's Limit
}

// accumulate reports whether a round that took batches while the previous
// save was outstanding should read more: if the last read was full and
// the round may not end yet, at once; else once a wake comes, unless the
// round may end first. It may end once busy (set to nil when seen closed)
// has landed and four times the last save's time, at most SaveEvery, has
// passed since start (saves then take at most about a quarter of the
// store writer's time, and a quiet collector, whose saves are quick,
// saves at once), or no batch came for pause after the landing (the end
// of a burst is saved at once).
func (r *Runner) accumulate(ctx context.Context, full bool, busy *<-chan struct{}, start time.Time) bool {
	span := min(r.cfg.SaveEvery, 4*r.lastSave)
	for {
		if *busy != nil {
			select {
			case <-*busy:
				*busy = nil
			default:
			}
		}
		left := span - time.Since(start)
		if *busy == nil && left <= 0 {
			return false
		}
		if full {
			return true
		}
		// Once the save landed, a pause in the input ends the round too:
		// waiting out the span then only delays the alerts.
		var timeout <-chan time.Time
		t := time.NewTimer(min(left, pause))
		if *busy == nil {
			timeout = t.C
		}
		select {
		case <-*busy:
			t.Stop()
		case <-timeout:
			return false
		case <-r.wake: // read what it announced (a wake not taken stays pending for Run)
			t.Stop()
			return true
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// pause is a gap in the input that ends a round whose previous save has
// landed: under load batches are committed every few tens of ms.
const pause = 100 * time.Millisecond

// maxRound bounds a round that takes batches while the previous save is
// written, in Limits: the engine's state, and so a save, is bounded
// anyway (groups, not lines), but a round must end for its alerts to be
// saved.
const maxRound = 8

// flight is a save outstanding: done is closed once err is set.
type flight struct {
	round *round
	done  chan struct{}
	err   error
	took  time.Duration // wall time of the save
}

// Round processes what is stored past the cursor (at most Limit batches)
// and, with timers, runs the timer rules, then saves it; it reports
// whether more is waiting. Run does the same with the saves overlapped;
// tests may call Round directly instead of Run, after restore.
func (r *Runner) Round(ctx context.Context, timers bool) (more bool, err error) {
	r.mustRead = true
	p, err := r.observe(ctx, timers, nil)
	if err != nil {
		return false, r.heal(ctx, err)
	}
	if p.save.Cursor == nil {
		return p.more, nil
	}
	if err := r.landed(ctx, p, r.cfg.Store.SaveAlerts(ctx, p.save)); err != nil {
		return false, err
	}
	return p.more, nil
}

// send starts saving p; land waits for it. The goroutine touches nothing
// of r's but the store.
func (r *Runner) send(ctx context.Context, p *round) *flight {
	f := &flight{round: p, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		start := time.Now()
		f.err = r.cfg.Store.SaveAlerts(ctx, p.save)
		f.took = time.Since(start)
	}()
	return f
}

// land waits for f's save and applies its outcome (landed).
func (r *Runner) land(ctx context.Context, f *flight) error {
	<-f.done
	r.lastSave = f.took
	return r.landed(ctx, f.round, f.err)
}

// landed applies the outcome of p's save: on success the cursor, stats and
// callbacks move; on failure the engine, which has moved on (and may have
// observed a later round too), is restored from what is saved.
func (r *Runner) landed(ctx context.Context, p *round, err error) error {
	if err != nil {
		// The engine has moved on; the cursor has not. The next round
		// reads the same data again, and the engine would count it
		// twice, so start afresh from what is saved. ErrCursorMoved
		// (another collector's detection saved since this one read the
		// cursor: it lost its leadership) ends up here too.
		r.stale = true
		return r.heal(ctx, err)
	}
	r.cursor = p.cur
	r.stats.row.Store(p.cur.BatchRow)
	for _, a := range p.opened {
		r.cfg.Opened(a)
	}
	r.stats.batches.Add(p.batches)
	r.stats.records.Add(p.records)
	r.stats.alerts.Add(int64(len(p.save.Alerts)))
	if !p.more {
		r.caughtUpOnce.Do(func() { close(r.caughtUp) })
	}
	if p.notify {
		r.cfg.Delivered()
	}
	return nil
}

// heal restores the engine from what is saved when it is stale, and
// returns cause (with the restore's error, if that failed too: the next
// round tries again). Not while a save is outstanding.
func (r *Runner) heal(ctx context.Context, cause error) error {
	if !r.stale || ctx.Err() != nil {
		return cause
	}
	if err := r.restore(ctx); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// observe reads what is stored past r.next and runs it through the engine
// (and, with timers and nothing more waiting, the timer rules), and
// returns the round's save, not sent. An error after the engine took
// anything in marks it stale.
//
// With busy, the previous round's save outstanding, the round goes on
// taking batches as they come until accumulate ends it (or maxRound
// Limits were taken).
func (r *Runner) observe(ctx context.Context, timers bool, busy <-chan struct{}) (p *round, err error) {
	if r.stale {
		if err := r.restore(ctx); err != nil {
			return nil, err
		}
	}
	r.stats.rounds.Add(1)
	cur := r.next
	p = &round{}
	var raised []detect.Alert
	touched := map[string]bool{}

	batches, err := r.nextBatches(ctx, cur.BatchRow)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.stale = true
		}
	}()
	// Each group once per round, as it stands at the end of the batches
	// (detect.Engine.Collect), rather than a copy per occurrence.
	r.engine.Collect()
	full := false // the last read was cut at Limit
	start, overlapping := time.Now(), busy != nil
	for taken := 0; ; {
		for _, b := range batches {
			p.records += int64(r.batch(ctx, b))
			touched[b.Device] = true
			cur.BatchRow = b.Row
		}
		// Taken: a failed save restores, which reads them from the store.
		r.forget(cur.BatchRow)
		taken += len(batches)
		full = len(batches) == r.cfg.Limit
		if !overlapping || taken >= maxRound*r.cfg.Limit {
			break
		}
		if !r.accumulate(ctx, full, &busy, start) {
			break
		}
		if batches, err = r.nextBatches(ctx, cur.BatchRow); err != nil {
			return nil, err
		}
	}
	p.batches = int64(cur.BatchRow - r.next.BatchRow)
	raised = r.engine.Collected()
	collected := len(raised) // one per group: no need for latest
	events, err := r.cfg.Store.EventsAfter(ctx, cur.EventID, 256)
	if err != nil {
		return nil, err
	}
	for _, ev := range events {
		raised = append(raised, r.engine.Integrity(detect.FromIntegrityEvent(ev))...)
		cur.EventID = ev.ID
	}
	accesses, err := r.cfg.Store.AccessesAfter(ctx, cur.AccessID, 256)
	if err != nil {
		return nil, err
	}
	for _, a := range accesses {
		raised = append(raised, r.engine.Access(accessInput(a)))
		cur.AccessID = a.ID
	}
	p.more = full || len(events) == 256 || len(accesses) == 256
	// The timer rules judge silence by the records seen so far: only once
	// caught up, or a backlog would look like silent devices.
	if timers && !p.more {
		ticked := r.engine.Tick(r.cfg.Now())
		for _, a := range ticked {
			touched[a.Device] = true
		}
		raised = append(raised, ticked...)
	}
	p.states = r.changedBaselines(touched)
	if len(raised) == 0 && len(p.states) == 0 && cur == r.next {
		return p, nil
	}
	from := r.next
	cur.Saves = from.Saves + 1 // as the store will count it
	p.cur = cur
	p.save = store.AlertSave{Cursor: &p.cur, From: &from, States: p.states, Now: r.cfg.Now()}
	if len(raised) > collected {
		raised = detect.Latest(raised)
	}
	p.save.Alerts = make([]store.AlertUpsert, 0, len(raised))
	for _, a := range raised {
		sa := toStore(a)
		if a.Opened && r.cfg.Opened != nil {
			p.opened = append(p.opened, sa)
		}
		u := store.AlertUpsert{Alert: sa}
		if a.Opened || a.Escalated {
			u.Sinks = r.cfg.Route(sa)
			p.notify = p.notify || len(u.Sinks) > 0
		}
		p.save.Alerts = append(p.save.Alerts, u)
	}
	// The next round reads on from here, and compares baselines with
	// these; if this save fails, restore sets both back.
	r.next = cur
	for dev, snap := range p.states {
		r.saved[dev] = string(snap)
	}
	return p, nil
}
