package postgres

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
	"github.com/offbox/offbox/transport/seal"
)

var ctx = context.Background()

// clock is a settable collector clock.
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

// openAt opens a store on url, closed when the test ends.
func openAt(t testing.TB, url string, opt Options) *Store {
	t.Helper()
	s, err := Open(ctx, url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tempStore is a store on a database of its own, with a test clock.
func tempStore(t testing.TB) (*Store, string) {
	t.Helper()
	url := pgtest.URL(t)
	c := &clock{t: time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)}
	return openAt(t, url, Options{Now: c.Now}), url
}

func commit(t testing.TB, s *Store, dev *batchtest.Device, sealed *seal.Sealed, expect uint64) *store.Batch {
	t.Helper()
	b := batchtest.Commit(dev.Name, sealed, expect)
	if err := s.CommitBatch(ctx, b); err != nil {
		t.Fatalf("commit %s seq %d: %v", dev.Name, sealed.Seq, err)
	}
	return b
}
