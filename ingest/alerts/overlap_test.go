package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/internal/loggen"
	"github.com/offbox/offbox/transport/seal"
)

// gatedStore is the fixture's store with SaveAlerts watched: it counts
// the saves outstanding at once, and the save numbered fail (from 1)
// fails, once the runner has begun observing a batch past it (the next
// round, overlapping the save).
type gatedStore struct {
	*sqlite.Store
	fail        int
	saves       atomic.Int32
	outstanding atomic.Int32
	most        atomic.Int32
	observed    atomic.Int64 // batches the runner began to observe (Config.Labels calls)
	failedFrom  int64        // the failed save's From: the cursor restore goes back to
	overlapped  bool         // the failed save saw the next round observe
}

func (s *gatedStore) SaveAlerts(ctx context.Context, save store.AlertSave) error {
	n := s.outstanding.Add(1)
	defer s.outstanding.Add(-1)
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	if int(s.saves.Add(1)) != s.fail {
		return s.Store.SaveAlerts(ctx, save)
	}
	s.failedFrom = save.From.BatchRow
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if s.observed.Load() > save.Cursor.BatchRow {
			s.overlapped = true
			break
		}
	}
	return errors.New("injected: disk full")
}

// overlapInput is 40 batches of 60 lines of loggen's bastion mix (auth
// failures, logins, bursts: alerts that open, grow and escalate across
// rounds).
func overlapInput() [][]seal.WireRecord {
	g := loggen.New(loggen.Config{Seed: 7, Devices: 3, Start: t0, Span: 10 * time.Minute, Lines: 40 * 60})
	out := make([][]seal.WireRecord, 40)
	for i := range out {
		for range 60 {
			line := g.Append(nil)
			out[i] = append(out[i], seal.WireRecord{TimeNs: t0.UnixNano(), Kind: 1, Source: "file:/var/log/auth.log", Body: line[:len(line)-1]})
		}
	}
	return out
}

// outcome is what a run left: every alert by group as JSON (row ids
// left out), the deliveries pending, the groups Opened heard in order,
// and the runner's counts.
type outcome struct {
	alerts           map[string]string
	pending          string
	opened           []string
	batches, records int64
}

func (o outcome) diff(t *testing.T, want outcome) {
	t.Helper()
	for id, w := range want.alerts {
		if o.alerts[id] != w {
			t.Errorf("alert %s:\n got  %s\n want %s", id, o.alerts[id], w)
		}
	}
	for id, g := range o.alerts {
		if _, ok := want.alerts[id]; !ok {
			t.Errorf("alert %s not in the reference run: %s", id, g)
		}
	}
	if o.pending != want.pending {
		t.Errorf("pending deliveries %s, want %s", o.pending, want.pending)
	}
	if !slices.Equal(o.opened, want.opened) {
		t.Errorf("Opened heard %d alerts, want the reference's %d in its order", len(o.opened), len(want.opened))
	}
	if o.batches != want.batches || o.records != want.records {
		t.Errorf("stats: %d batches %d records, want %d and %d (each counted once)", o.batches, o.records, want.batches, want.records)
	}
}

// detectRun stores input and runs detection over it; with at < 0,
// Run (whose saves overlap the next round) with the save numbered fail
// failing (0: none), else serial Rounds that restore at batch at (as a
// failed save after the save that left the cursor there does: one round
// of at batches, then a new runner). It returns the outcome and, for
// Run, the cursor the failed save went back to.
func detectRun(t *testing.T, input [][]seal.WireRecord, fail int, at int64) (outcome, int64) {
	t.Helper()
	f := newFixture(t)
	for _, recs := range input {
		f.commit(recs...)
	}
	gs := &gatedStore{Store: f.st, fail: fail}
	var mu sync.Mutex
	var o outcome
	runner := func(limit int) *Runner {
		r, err := New(Config{Store: gs, Now: f.clk.Now, Limit: limit, Poll: 10 * time.Millisecond, Tick: time.Hour, SaveEvery: 20 * time.Millisecond,
			Labels: func(context.Context, string) map[string]string { gs.observed.Add(1); return nil },
			Route:  func(store.Alert) []string { return []string{"soc"} },
			Opened: func(a store.Alert) {
				if n := gs.outstanding.Load(); n != 0 {
					t.Errorf("%s heard with %d saves outstanding", a.GroupID, n)
				}
				if as, _ := f.st.Alerts(context.Background(), store.AlertQuery{Device: a.Device, Kind: a.Kind, Limit: 1}); len(as) == 0 {
					t.Errorf("%s heard before it was saved", a.GroupID)
				}
				mu.Lock()
				o.opened = append(o.opened, a.GroupID)
				mu.Unlock()
			}})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := runner(2)
	if at < 0 {
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		deadline := time.Now().Add(30 * time.Second)
		for r.BatchRow() < int64(len(input)) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if fail > 0 && !gs.overlapped {
			t.Errorf("save %d was not outstanding while the next round observed: no overlap", fail)
		}
	} else {
		if at > 0 {
			first := runner(int(at))
			if err := first.restore(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := first.Round(ctx, false); err != nil {
				t.Fatal(err)
			}
			o.batches, o.records = first.Stats().Batches, first.Stats().Records
		}
		if err := r.restore(ctx); err != nil {
			t.Fatal(err)
		}
		for more := true; more; {
			var err error
			if more, err = r.Round(ctx, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := r.BatchRow(); got != int64(len(input)) {
		t.Fatalf("cursor at batch %d, want %d", got, len(input))
	}
	if m := gs.most.Load(); m != 1 {
		t.Errorf("%d saves outstanding at once, want 1", m)
	}
	as, err := f.st.Alerts(context.Background(), store.AlertQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	o.alerts = map[string]string{}
	for _, a := range as {
		a.ID = 0
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		o.alerts[a.GroupID] = string(b)
	}
	pending, err := f.st.PendingDeliveries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o.pending = fmt.Sprint(pending)
	st := r.Stats()
	o.batches, o.records = o.batches+st.Batches, o.records+st.Records
	mu.Lock()
	defer mu.Unlock()
	return o, gs.failedFrom
}

// TestOverlapFailedSave: Run observes round N+1 while round N's save is
// outstanding (the failing save below waits until it has). A failed save
// drops the round observed meanwhile, restores the engine from what is
// saved and reads on from the saved cursor. The alerts, deliveries,
// Opened calls and counts are exactly those of serial rounds:
//
//   - without a failure, and with the first save failing (restore then
//     starts from nothing), those of serial rounds without a failure;
//   - with the second save failing, those of serial rounds restored at
//     the cursor the first save left (restore takes up the open alert
//     groups from the store, TestOpenGroupsSurviveRestart, but not the
//     brute-force failure windows, which are not saved).
//
// No two saves are ever outstanding, and Opened hears an alert only once
// its save landed. Under -race it also shows that a save in flight shares
// nothing with the engine observing the next round.
func TestOverlapFailedSave(t *testing.T) {
	t.Parallel()
	input := overlapInput()
	want, _ := detectRun(t, input, 0, 0)
	if len(want.alerts) < 10 || len(want.opened) != len(want.alerts) || want.records != int64(len(input)*60) {
		t.Fatalf("reference run: %d alerts, %d opened, %d records: the input should raise dozens", len(want.alerts), len(want.opened), want.records)
	}
	t.Run("no failure", func(t *testing.T) {
		got, _ := detectRun(t, input, 0, -1)
		got.diff(t, want)
	})
	t.Run("first save fails", func(t *testing.T) {
		got, from := detectRun(t, input, 1, -1)
		if from != 0 {
			t.Fatalf("first save from batch %d", from)
		}
		got.diff(t, want)
	})
	t.Run("second save fails", func(t *testing.T) {
		got, from := detectRun(t, input, 2, -1)
		if from == 0 {
			t.Fatal("second save from batch 0")
		}
		ref, _ := detectRun(t, input, 0, from)
		got.diff(t, ref)
	})
}

// slowSaves is the fixture's store with every SaveAlerts 20 ms slower.
type slowSaves struct{ store.Store }

func (s slowSaves) SaveAlerts(ctx context.Context, save store.AlertSave) error {
	time.Sleep(20 * time.Millisecond)
	return s.Store.SaveAlerts(ctx, save)
}

// TestOverlapQuietSavesAtOnce: a round overlapping a save waits for at
// most four times the last save's time (capped by SaveEvery) before it
// is saved, so on a quiet collector, whose saves are quick (20 ms here),
// alerts are not held for SaveEvery (a minute here) behind a trickle of
// batches.
func TestOverlapQuietSavesAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, err := New(Config{Store: slowSaves{f.st}, Now: f.clk.Now, Poll: time.Hour, Tick: time.Hour, SaveEvery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	for i := range 20 {
		r.Offer(f.commitFailure(i))
		time.Sleep(2 * time.Millisecond)
	}
	waitRow(t, r, 20, "a quiet round waited for SaveEvery")
}

// countReads is the fixture's store counting the batches read back.
type countReads struct {
	*sqlite.Store
	rows, calls atomic.Int64
}

func (s *countReads) BatchesAfter(ctx context.Context, row int64, limit int) ([]*store.StoredBatch, error) {
	out, err := s.Store.BatchesAfter(ctx, row, limit)
	s.rows.Add(int64(len(out)))
	s.calls.Add(1)
	return out, err
}

// TestOfferedOutOfOrder: the streams of one group commit offer their
// batches in any order. A round that finds the next row missing while
// later ones are offered waits for it (OfferGrace) rather than reading it
// back; a row never offered is read back once the grace has passed.
func TestOfferedOutOfOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		offerLast bool // offer the first row too, 100 ms after the others
		grace     time.Duration
		readBack  int64
	}{
		{"first row offered last", true, time.Minute, 0},
		{"first row never offered", false, 100 * time.Millisecond, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			st := &countReads{Store: f.st}
			r, err := New(Config{Store: st, Now: f.clk.Now, Poll: time.Hour, Tick: time.Hour, OfferGrace: tc.grace})
			if err != nil {
				t.Fatal(err)
			}
			run(t, r)
			offerUntilRead(r, f.commitFailure(0))
			st.rows.Store(0)
			var batches []*store.Batch
			for i := range 5 {
				batches = append(batches, f.commitFailure(1+i))
			}
			for _, b := range batches[1:] {
				r.Offer(b)
			}
			if tc.offerLast {
				time.Sleep(100 * time.Millisecond)
				r.Offer(batches[0])
			}
			waitRow(t, r, 6, "")
			if got := st.rows.Load(); got != tc.readBack {
				t.Errorf("%d batches read back from the store, want %d", got, tc.readBack)
			}
			if got := r.Stats().Batches; got != 6 {
				t.Errorf("%d batches detected, want 6", got)
			}
		})
	}
}

// TestOffersSpareEmptyReads: once the store had nothing more and every
// batch since was offered, rounds started by offers do not ask the store
// again (at 2,000 agents nine reads in ten found nothing); a batch stored
// without an offer (another collector's) is still read, by the timers'
// round.
func TestOffersSpareEmptyReads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	st := &countReads{Store: f.st}
	r, err := New(Config{Store: slowSaves{st}, Now: f.clk.Now, Poll: time.Hour, Tick: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, r)
	offerUntilRead(r, f.commitFailure(1))
	// Let a round read the store to its end, then offer batch after
	// batch, a wake between them, while rounds overlap their saves.
	for st.calls.Load() == 0 {
		r.Wake()
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a timers' round reads the store too: let one pass
	calls, rows := st.calls.Load(), st.rows.Load()
	for i := range 100 { // rounds go on taking them while the last save (20 ms) is written
		b := f.commitFailure(2 + i)
		r.Offer(b)
		r.Wake() // a second wake (an integrity event): the round finds nothing new
		time.Sleep(time.Millisecond)
	}
	waitRow(t, r, 101, "")
	// Timers' rounds (every 200 ms) may each read once meanwhile; offers'
	// rounds not at all.
	if got := st.calls.Load() - calls; got > 10 {
		t.Errorf("%d reads of the store for 100 batches offered in order, want at most the timers' few", got)
	}
	// A timers' round may read back a batch committed whose offer is on
	// its way; a few at most.
	readBack := st.rows.Load() - rows
	if readBack > 5 {
		t.Errorf("%d batches read back, want at most the timers' few", readBack)
	}
	f.commitFailure(102) // stored without an offer: read by the timers' round
	waitRow(t, r, 102, "")
	if got := st.rows.Load() - rows; got <= readBack {
		t.Errorf("the batch stored without an offer was not read back")
	}
}

// TestOfferGraceOff: once a wait for a row ended without it (stored by
// another collector), rounds stop waiting for a while: with several
// writers sharing an engine, gaps in the offered rows are the rule.
func TestOfferGraceOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.runner()
	r.cfg.OfferGrace = 50 * time.Millisecond
	var bs []*store.Batch
	for i := range 4 {
		bs = append(bs, f.commitFailure(i))
	}
	r.Offer(bs[1]) // rows 2 and 4 offered, 1 and 3 never
	r.Offer(bs[3])
	got, err := r.nextBatches(context.Background(), 0)
	if err != nil || len(got) != 1 || got[0].Row != 1 {
		t.Fatalf("first read: %d batches (%v), want row 1 read back", len(got), err)
	}
	r.cfg.OfferGrace = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err = r.nextBatches(ctx, 2)
	if ctx.Err() != nil {
		t.Fatal("second read waited for row 3 to be offered")
	}
	if err != nil || len(got) != 1 || got[0].Row != 3 {
		t.Fatalf("second read: %d batches (%v), want row 3 read back", len(got), err)
	}
}

// commitFailure stores the fixture device's next batch: one failed
// password from its own address, at t0 + i seconds, received now.
func (f *fixture) commitFailure(i int) *store.Batch {
	f.t.Helper()
	at := t0.Add(time.Duration(i) * time.Second)
	b := batchtest.Commit(f.dev.Name, f.dev.Next(authLine(at, fmt.Sprintf("sshd[%d]: Failed password for root from 203.0.113.%d port 4242 ssh2", i, i))), f.dev.Seq-1)
	b.Received = f.clk.Now()
	if err := f.st.CommitBatch(context.Background(), b); err != nil {
		f.t.Fatal(err)
	}
	return b
}

// run runs r until the test ends.
func run(t *testing.T, r *Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// waitRow waits up to 10 s for r's cursor to reach row.
func waitRow(t *testing.T, r *Runner, row int64, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.BatchRow() < row && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := r.BatchRow(); got != row {
		t.Fatalf("cursor at batch %d, want %d: %s", got, row, what)
	}
}

// offerUntilRead offers b until the running r has read it: Run's restore
// forgets what was offered before it.
func offerUntilRead(r *Runner, b *store.Batch) {
	for r.BatchRow() < b.Row {
		r.Offer(b)
		time.Sleep(5 * time.Millisecond)
	}
}
