// Package offer keeps batches just committed, by row, for a consumer that
// reads the stored batches in row order (detection, the search indexer):
// it takes them from here, as the server decoded them, instead of reading
// and decoding them again from the store.
//
// A Set is bounded by the memory its batches hold, not by their number: a
// fleet of agents sending one-line batches of a few hundred bytes commits
// thousands a second, and a bound of 32 or 64 batches (sized for 1 MiB
// batches) sent nearly all of them back through the store, a query for
// each batch's segments: a fifth of the collector's CPU at 2,000 agents
// (BenchmarkFanIn10k with OFFBOX_FANIN_AGENTS=2000, pprof).
package offer

import (
	"sync"

	"github.com/offbox/offbox/ingest/store"
)

// Overhead is what a batch costs held besides twice its bytes (the bytes
// and the decoded records pointing into them): its store.Batch, the
// decoded header and record structs, about 4 KiB for a one-line batch.
const Overhead = 4 << 10

// Cost is what b costs held.
func Cost(b *store.Batch) int64 { return 2*int64(len(b.Bytes)) + Overhead }

// A Set holds offered batches, each Add up to a bound on their Cost. The
// zero Set is empty and ready; it is safe for concurrent use.
type Set struct {
	mu    sync.Mutex
	m     map[int64]*store.Batch
	bytes int64
	low   int64 // no row below it is held (a lower bound, exact after Forget)
	high  int64 // the highest row ever held
}

// Add keeps b (Row and Decoded set) if the set's cost stays within
// maxBytes with it, and reports whether it did, and what is held after
// (as Held).
func (s *Set) Add(b *store.Batch, maxBytes int64) (kept bool, n int, held int64) {
	c := Cost(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.m[b.Row]; dup || s.bytes+c > maxBytes {
		return false, len(s.m), s.bytes
	}
	if s.m == nil {
		s.m = map[int64]*store.Batch{}
	}
	if len(s.m) == 0 || b.Row < s.low {
		s.low = b.Row
	}
	s.m[b.Row] = b
	s.bytes += c
	s.high = max(s.high, b.Row)
	return true, len(s.m), s.bytes
}

// Highest is the highest row the set ever held (0: none), taken or not.
func (s *Set) Highest() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.high
}

// Get returns the batch of row, or nil, and keeps it.
func (s *Set) Get(row int64) *store.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[row]
}

// Missing is how many rows after after, at most max, are not held before
// the first that is: what a consumer must read from the store before the
// set has its next row (offers come from each stream once its commit
// returned, so a row can arrive after the rows that follow it).
func (s *Set) Missing(after int64, max int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := range max {
		if s.m[after+1+int64(n)] != nil {
			return n
		}
	}
	return max
}

// Take returns the batch of row, or nil, and drops it.
func (s *Set) Take(row int64) *store.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.m[row]
	if b != nil {
		s.drop(row, b)
		if row == s.low {
			// Still a lower bound: a consumer taking rows in order then
			// finds nothing to Forget at or below them without a sweep.
			s.low = row + 1
		}
	}
	return b
}

// Forget drops every batch at or before row.
func (s *Set) Forget(row int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) == 0 || row < s.low {
		return
	}
	low := int64(-1)
	for r, b := range s.m {
		if r <= row {
			s.drop(r, b)
		} else if low < 0 || r < low {
			low = r
		}
	}
	s.low = low
}

// Clear drops every batch.
func (s *Set) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.m)
	s.bytes = 0
}

// Held is the number of batches held and their cost.
func (s *Set) Held() (n int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m), s.bytes
}

// drop removes row (holding b); s.mu is held.
func (s *Set) drop(row int64, b *store.Batch) {
	delete(s.m, row)
	s.bytes -= Cost(b)
}
