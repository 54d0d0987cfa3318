package offer

import (
	"sync"
	"testing"

	"github.com/offbox/offbox/ingest/store"
)

func batch(row int64, size int) *store.Batch {
	return &store.Batch{Row: row, Bytes: make([]byte, size)}
}

// A set holds what fits its bound by cost, so thousands of one-line
// batches fit where 32 of the largest do; Get keeps, Take drops, Forget
// drops what is at or before a row, and the cost follows.
func TestSet(t *testing.T) {
	var s Set
	const max = 64 << 20
	for row := int64(1); row <= 10_000; row++ {
		if kept, _, _ := s.Add(batch(row, 500), max); !kept {
			t.Fatalf("one-line batch %d not kept", row)
		}
	}
	if n, bytes := s.Held(); n != 10_000 || bytes != 10_000*(1000+Overhead) {
		t.Fatalf("held %d batches, %d bytes", n, bytes)
	}
	if kept, _, _ := s.Add(batch(5, 500), max); kept {
		t.Error("a row held already was added again")
	}
	if s.Get(7) == nil {
		t.Error("row 7 not held")
	}
	if s.Get(7) == nil { // a second Get: the first kept it
		t.Error("Get dropped the batch")
	}
	if b := s.Take(7); b == nil || b.Row != 7 || s.Get(7) != nil || s.Take(7) != nil {
		t.Error("Take did not return and drop row 7")
	}
	s.Forget(9_000)
	if n, bytes := s.Held(); n != 1_000 || bytes != 1_000*(1000+Overhead) || s.Get(9_000) != nil || s.Get(9_001) == nil {
		t.Fatalf("after Forget(9000): %d batches, %d bytes; 9000 held %v, 9001 held %v", n, bytes, s.Get(9_000) != nil, s.Get(9_001) != nil)
	}
	s.Forget(100) // below everything held: nothing goes
	if n, _ := s.Held(); n != 1_000 {
		t.Fatalf("Forget below the lowest row dropped batches: %d left", n)
	}
	// A row below the lowest held, added after a Forget, is still forgotten.
	s.Add(batch(3, 500), max)
	s.Forget(5)
	if s.Get(3) != nil {
		t.Error("row 3, added below the others, survived Forget(5)")
	}
	s.Clear()
	if n, bytes := s.Held(); n != 0 || bytes != 0 {
		t.Fatalf("after Clear: %d batches, %d bytes", n, bytes)
	}
	// Large batches: the bound holds by cost.
	var kept int
	for row := int64(1); row <= 100; row++ {
		if ok, _, held := s.Add(batch(row, 1<<20), max); ok {
			kept++
			if held > max {
				t.Fatalf("held %d bytes, bound %d", held, max)
			}
		}
	}
	if kept != 31 { // (2 MiB + 4 KiB) each within 64 MiB
		t.Errorf("%d 1 MiB batches kept, want 31", kept)
	}
}

// Offers come from every stream at once while the consumer takes.
func TestSetConcurrent(t *testing.T) {
	var s Set
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				s.Add(batch(int64(w*1000+i+1), 100), 1<<30)
			}
		}()
	}
	for row := int64(1); row <= 4000; row++ {
		s.Take(row)
		if row%100 == 0 {
			s.Forget(row - 50)
		}
	}
	wg.Wait()
	s.Forget(4000)
	if n, bytes := s.Held(); n != 0 || bytes != 0 {
		t.Fatalf("after taking and forgetting everything: %d batches, %d bytes", n, bytes)
	}
}

// Missing counts the rows a consumer must read before the next held one.
func TestMissing(t *testing.T) {
	var s Set
	for _, row := range []int64{5, 6, 9} {
		s.Add(batch(row, 10), 1<<20)
	}
	for _, c := range []struct {
		after int64
		max   int
		want  int
	}{{0, 64, 4}, {4, 64, 0}, {6, 64, 2}, {0, 3, 3}, {9, 64, 64}} {
		if got := s.Missing(c.after, c.max); got != c.want {
			t.Errorf("Missing(%d, %d) = %d, want %d", c.after, c.max, got, c.want)
		}
	}
}

// A consumer that takes rows in order and forgets up to each (the search
// indexer) costs no sweep of what is held: Forget of a row below the
// lowest held returns at once, and the held rows stay.
func TestTakeInOrderKeepsLowerBound(t *testing.T) {
	var s Set
	for row := int64(1); row <= 100; row++ {
		s.Add(batch(row, 10), 1<<20)
	}
	for row := int64(1); row <= 50; row++ {
		if s.Take(row) == nil {
			t.Fatalf("row %d not held", row)
		}
		s.Forget(row)
		if s.low != row+1 {
			t.Fatalf("after taking row %d the lower bound is %d, want %d", row, s.low, row+1)
		}
	}
	if n, _ := s.Held(); n != 50 || s.Get(51) == nil || s.Get(100) == nil {
		t.Fatalf("%d held after taking 50 of 100 in order", n)
	}
}
