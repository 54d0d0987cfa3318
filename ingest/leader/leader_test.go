package leader

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// detector is a Detector that records what it is offered and runs until
// its context ends or fail is closed.
type detector struct {
	mu       sync.Mutex
	offered  []*store.Batch
	runs     int
	caughtUp chan struct{}
	fail     chan struct{} // closed: Run returns errDetect
}

var errDetect = errors.New("detection broke")

func newDetector() *detector {
	return &detector{caughtUp: make(chan struct{}), fail: make(chan struct{})}
}

func (d *detector) Offer(b *store.Batch) {
	d.mu.Lock()
	d.offered = append(d.offered, b)
	d.mu.Unlock()
}
func (d *detector) CaughtUp() <-chan struct{} { return d.caughtUp }
func (d *detector) Run(ctx context.Context) error {
	d.mu.Lock()
	d.runs++
	d.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil
	case <-d.fail:
		return errDetect
	}
}

func (d *detector) counts() (offered, runs int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.offered), d.runs
}

// delivery is a Deliverer that counts its runs and how many are running.
type delivery struct {
	mu            sync.Mutex
	runs, running int
}

func (d *delivery) Run(ctx context.Context) error {
	d.mu.Lock()
	d.runs++
	d.running++
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	d.running--
	d.mu.Unlock()
	return nil
}

func (d *delivery) counts() (runs, running int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.runs, d.running
}

// coordinator grants leadership when the test sends on grant, and takes it
// back when the test calls the lose function it got.
type coordinator struct {
	grant   chan struct{}
	lose    chan func()
	resigns int
	mu      sync.Mutex
}

func (c *coordinator) Lead(ctx context.Context) (context.Context, func(), error) {
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-c.grant:
	}
	leading, cancel := context.WithCancel(ctx)
	c.lose <- cancel
	return leading, func() { c.mu.Lock(); c.resigns++; c.mu.Unlock(); cancel() }, nil
}

// retention records the prunes asked for.
type retention struct {
	mu     sync.Mutex
	prunes [][2]time.Time // cutoff, now
	err    error
	out    []store.Pruned
}

func (r *retention) Prune(_ context.Context, cutoff, now time.Time) ([]store.Pruned, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prunes = append(r.prunes, [2]time.Time{cutoff, now})
	return r.out, r.err
}

func (r *retention) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.prunes) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestOfferOnlyWhileLeading checks that committed batches reach detection
// only while this collector leads, and that detection and delivery run
// exactly then: a collector that has lost leadership must not detect or
// send the fleet's alerts a second time.
func TestOfferOnlyWhileLeading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		det, del := newDetector(), &delivery{}
		coord := &coordinator{grant: make(chan struct{}), lose: make(chan func())}
		l, err := New(Config{Coordinator: coord, Detector: det, Delivery: del, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- l.Run(ctx) }()

		b := &store.Batch{}
		check := func(when string, wantOffered, wantRuns, wantRunning int, wantLeading bool) {
			t.Helper()
			synctest.Wait()
			offered, runs := det.counts()
			_, running := del.counts()
			if offered != wantOffered || runs != wantRuns || running != wantRunning || l.Leading() != wantLeading {
				t.Errorf("%s: offered %d, detection runs %d, deliveries running %d, leading %v; want %d, %d, %d, %v",
					when, offered, runs, running, l.Leading(), wantOffered, wantRuns, wantRunning, wantLeading)
			}
		}
		l.Offer(b)
		check("before leading", 0, 0, 0, false)
		coord.grant <- struct{}{}
		lose := <-coord.lose
		synctest.Wait()
		l.Offer(b)
		check("leading", 1, 1, 1, true)
		lose()
		synctest.Wait()
		l.Offer(b)
		check("after losing", 1, 1, 0, false)
		coord.grant <- struct{}{}
		<-coord.lose
		synctest.Wait()
		l.Offer(b)
		check("leading again", 2, 2, 1, true)
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run at ctx end: %v, want nil", err)
		}
		check("stopped", 2, 2, 0, false)
		if coord.resigns != 2 {
			t.Errorf("resigned %d times, want 2 (once per term)", coord.resigns)
		}
	})
}

// TestAloneLeadsUntilDetectionFails checks that a collector without a
// coordinator does the work at once, and that a failure of detection ends
// Run with that error and stops delivery.
func TestAloneLeadsUntilDetectionFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		det, del := newDetector(), &delivery{}
		l, err := New(Config{Detector: det, Delivery: del, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- l.Run(t.Context()) }()
		synctest.Wait()
		l.Offer(&store.Batch{})
		if offered, _ := det.counts(); offered != 1 || !l.Leading() {
			t.Errorf("alone: offered %d, leading %v; want 1, true", offered, l.Leading())
		}
		close(det.fail)
		if err := <-done; !errors.Is(err, errDetect) {
			t.Errorf("Run: %v, want %v", err, errDetect)
		}
		if _, running := del.counts(); running != 0 || l.Leading() {
			t.Errorf("after detection failed: deliveries running %d, leading %v; want 0, false", running, l.Leading())
		}
	})
}

// TestRetentionAfterDetectionCatchesUp checks that retention removes
// nothing before detection has read what is stored, then prunes at once
// with cutoff now-Keep and again every RetainEvery; and that Keep 0 never
// prunes.
func TestRetentionAfterDetectionCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		det, st := newDetector(), &retention{}
		keep := 48 * time.Hour
		l, err := New(Config{Detector: det, Delivery: &delivery{}, Store: st, Keep: keep, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = l.Run(t.Context()) }()
		time.Sleep(3 * DefaultRetainEvery)
		synctest.Wait()
		if n := st.count(); n != 0 {
			t.Fatalf("%d prunes before detection caught up, want 0", n)
		}
		start := time.Now()
		close(det.caughtUp)
		synctest.Wait()
		time.Sleep(DefaultRetainEvery + time.Second)
		synctest.Wait()
		st.mu.Lock()
		got := append([][2]time.Time(nil), st.prunes...)
		st.mu.Unlock()
		if len(got) != 2 {
			t.Fatalf("%d prunes in the hour after catching up, want 2 (at once, then hourly)", len(got))
		}
		if cutoff, now := got[0][0], got[0][1]; !now.Equal(start) || !cutoff.Equal(start.Add(-keep)) {
			t.Errorf("first prune cutoff %v now %v; want %v and %v", cutoff, now, start.Add(-keep), start)
		}
		if now := got[1][1]; !now.Equal(start.Add(DefaultRetainEvery)) {
			t.Errorf("second prune at %v, want %v", now, start.Add(DefaultRetainEvery))
		}
	})
	synctest.Test(t, func(t *testing.T) {
		det, st := newDetector(), &retention{}
		close(det.caughtUp)
		l, err := New(Config{Detector: det, Delivery: &delivery{}, Store: st, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = l.Run(t.Context()) }()
		time.Sleep(3 * DefaultRetainEvery)
		synctest.Wait()
		if n := st.count(); n != 0 {
			t.Errorf("Keep 0: %d prunes, want none", n)
		}
	})
}

// TestPrune checks the retention step: the cutoff, the log line per device
// removed, and the refusals.
func TestPrune(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		keep    time.Duration
		st      *retention
		wantErr string
		wantLog []string
	}{
		{"removed", 24 * time.Hour, &retention{out: []store.Pruned{{Device: "sw1", FirstSeq: 1, LastSeq: 9, Batches: 9, Records: 120}}}, "",
			[]string{"retention removed batches", "device=sw1", "seqs=1..9", "batches=9", "records=120", "received_before=2026-02-28T12:00:00Z"}},
		{"nothing to remove", time.Hour, &retention{}, "", nil},
		{"zero keep", 0, &retention{}, "retention must be positive", nil},
		{"negative keep", -time.Hour, &retention{}, "retention must be positive", nil},
		{"store fails", time.Hour, &retention{err: errors.New("disk full")}, "disk full", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Prune(t.Context(), tc.st, tc.keep, now, slog.New(slog.NewTextHandler(&buf, nil)))
			if got := ""; err != nil {
				got = err.Error()
				if tc.wantErr == "" || !strings.Contains(got, tc.wantErr) {
					t.Errorf("error %q, want %q", got, tc.wantErr)
				}
			} else if tc.wantErr != "" {
				t.Errorf("no error, want %q", tc.wantErr)
			}
			if tc.wantErr == "" {
				if n := tc.st.count(); n != 1 || !tc.st.prunes[0][0].Equal(now.Add(-tc.keep)) {
					t.Errorf("prunes %v, want one with cutoff %v", tc.st.prunes, now.Add(-tc.keep))
				}
			}
			for _, w := range tc.wantLog {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("log %q does not contain %q", buf.String(), w)
				}
			}
			if tc.wantLog == nil && buf.Len() != 0 {
				t.Errorf("log %q, want nothing", buf.String())
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	det, del := newDetector(), &delivery{}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no detector", Config{Delivery: del}, "Detector and Delivery are required"},
		{"no delivery", Config{Detector: det}, "Detector and Delivery are required"},
		{"negative keep", Config{Detector: det, Delivery: del, Keep: -time.Hour}, "Keep must not be negative"},
		{"retention without store", Config{Detector: det, Delivery: del, Keep: time.Hour}, "retention needs a Store"},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New: %v, want %q", tc.name, err, tc.want)
		}
	}
}
