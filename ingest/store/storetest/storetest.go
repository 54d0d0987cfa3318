// Package storetest is the conformance suite of store.Store: every
// behaviour the interface promises, tested through the interface alone, so
// each engine (store/sqlite, store/postgres) runs the same tests from its
// own TestConformance. It never reaches into an engine (no SQL, no row id
// values beyond what the contract promises, no error text beyond the
// sentinel errors) and is imported only by tests.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// Factory makes a new, empty store for one test; each call of open returns
// a new handle on that same database (a restart). now is the store's clock
// for times the caller does not give.
//
// The suite closes every handle it gets from open (at most once); the
// factory removes the database itself, with t.Cleanup, when the test ends.
// Subtests run in parallel, so a factory must be safe to call
// concurrently.
type Factory func(t *testing.T, now func() time.Time) (open func(t *testing.T) store.Store)

// Run runs every engine-independent test of store.Store as a subtest of t.
func Run(t *testing.T, f Factory) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, f)
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, f Factory)
}

// tests is every test of the suite, in the order they run.
var tests = []test{}

var ctx = context.Background()

// clock is a settable collector clock that moves 1 ms at each reading, so
// every time the store takes from it is distinct and increasing.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// newStore makes an empty store and its clock; the store is closed when
// the test ends. reopen opens another handle on the same database (the
// caller closes it, with closeOnce).
func newStore(t *testing.T, f Factory) (s store.Store, c *clock, reopen func(t *testing.T) store.Store) {
	t.Helper()
	c = &clock{t: time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)}
	reopen = f(t, c.Now)
	s = reopen(t)
	closeOnce(t, s)
	return s, c, reopen
}

// closeOnce closes s when the test ends unless the returned function
// closed it before.
func closeOnce(t *testing.T, s store.Store) (close func() error) {
	var once sync.Once
	var err error
	close = func() error {
		once.Do(func() { err = s.Close() })
		return err
	}
	t.Cleanup(func() { close() })
	return close
}

// CaughtUp moves s's detect cursor past every stored batch, as detection
// does once it has read them all (Prune removes only what detection has
// read); events and accesses keep their place.
func CaughtUp(t testing.TB, s store.Store) {
	t.Helper()
	cur, err := s.DetectCursor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		bs, err := s.BatchesAfter(ctx, cur.BatchRow, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 {
			break
		}
		cur.BatchRow = bs[len(bs)-1].Row
	}
	if err := s.SaveAlerts(ctx, store.AlertSave{Cursor: &cur, Now: time.Unix(0, 1)}); err != nil {
		t.Fatal(err)
	}
}
