package storetest

// Commits in groups: many devices at once, one failing write in a group.

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
)

// testConcurrentCommits: many devices committing at once all get their
// own result and everything is stored.
func testConcurrentCommits(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	CommitConcurrently(t, s, 12, 8)
}

// CommitConcurrently commits perDevice batches of 20 file lines for each
// of devices devices, each device from its own goroutine, and checks that
// every commit succeeded and everything is stored: records, and each
// device's head. An engine's own test can then look at how it grouped them.
func CommitConcurrently(t *testing.T, s store.Store, devices, perDevice int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, devices*perDevice)
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := batchtest.NewDevice(fmt.Sprintf("dev-%d", d))
			f := batchtest.NewFile("file:/var/log/syslog", 1, uint64(d))
			for i := range perDevice {
				b := batchtest.Commit(dev.Name, dev.Next(f.Lines(20, 170)...), uint64(i))
				errs <- s.CommitBatch(ctx, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, store.RecordQuery{}); n != int64(devices*perDevice*20) {
		t.Errorf("%d records, want %d", n, devices*perDevice*20)
	}
	for d := range devices {
		name := fmt.Sprintf("dev-%d", d)
		if h, _ := s.Head(ctx, name); h.Seq != uint64(perDevice) {
			t.Errorf("%s head = %d, want %d", name, h.Seq, perDevice)
		}
		if n := count(t, s, store.RecordQuery{Device: name}); n != int64(perDevice*20) {
			t.Errorf("%s: %d records, want %d", name, n, perDevice*20)
		}
	}
}

// GroupWithFailure stores device a's first batch in s and returns three
// batches for an engine's test to commit in one group transaction: b's
// first, a duplicate of a's first (which must fail alone), and a's second.
// CheckGroupWithFailure judges the outcome.
func GroupWithFailure(t *testing.T, s store.Store) []*store.Batch {
	t.Helper()
	a, b := batchtest.NewDevice("a"), batchtest.NewDevice("b")
	if err := s.CommitBatch(ctx, batchtest.Commit("a", a.Next(batchtest.Heartbeat(1)), 0)); err != nil {
		t.Fatal(err)
	}
	return []*store.Batch{
		batchtest.Commit("b", b.Next(batchtest.Heartbeat(1)), 0),
		batchtest.Commit("a", a.Seal(1, nil, batchtest.Heartbeat(9)), 1), // duplicate seq
		batchtest.Commit("a", a.Next(batchtest.Heartbeat(2)), 1),
	}
}

// CheckGroupWithFailure checks that of GroupWithFailure's batches, given
// errs (one per batch), only the duplicate failed and the others are
// stored.
func CheckGroupWithFailure(t *testing.T, s store.Store, errs []error) {
	t.Helper()
	want := []error{nil, store.ErrDuplicateSeq, nil}
	for i, err := range errs {
		if !errors.Is(err, want[i]) || (want[i] == nil && err != nil) {
			t.Errorf("op %d: err = %v, want %v", i, err, want[i])
		}
	}
	if ha, _ := s.Head(ctx, "a"); ha.Seq != 2 {
		t.Errorf("head of a = %d, want 2", ha.Seq)
	}
	if hb, _ := s.Head(ctx, "b"); hb.Seq != 1 {
		t.Errorf("head of b = %d, want 1", hb.Seq)
	}
	if n := count(t, s, store.RecordQuery{}); n != 3 {
		t.Errorf("%d records, want 3", n)
	}
}
