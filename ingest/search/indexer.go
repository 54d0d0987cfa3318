package search

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/offbox/offbox/ingest/offer"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// IndexStore is what the indexer reads and writes.
type IndexStore interface {
	store.SearchStore
	BatchesAfter(ctx context.Context, after int64, limit int) ([]*store.StoredBatch, error)
}

// Indexer follows committed batches with a cursor kept in the store and
// stores each one's token filter. It runs beside ingestion, never in its
// commit path: a batch not indexed yet is scanned whole by a search, so a
// lagging indexer costs search time, never results.
type Indexer struct {
	Store  IndexStore
	Batch  int           // batches read per round; 0: 64
	Idle   time.Duration // wait when there is nothing to index; 0: 1s
	Logger *slog.Logger  // nil: slog.Default()
	// Rest is how long the indexer rests after a round, as a multiple of
	// the round's time, so it takes at most 1/(1+Rest) of a core from
	// ingestion; 0: 3 (a quarter). It catches up when ingestion pauses;
	// until then searches scan the batches not indexed yet.
	Rest float64

	fb FilterBuilder

	// Batches just committed, by row, as the server decoded them (Offer):
	// a round builds their filters from these records instead of decoding
	// the bytes again (half the indexer's cost). Bounded (maxOfferedBytes);
	// whatever is not here is read from the store and decoded.
	offered offer.Set
	// wake ends an idle wait once wakeBatches or half of maxOfferedBytes
	// are held, so offers are indexed soon and before they overflow (and
	// are read back).
	mu   sync.Mutex
	wake chan struct{}
}

// maxOfferedBytes bounds what the batches kept for the indexer's next
// round hold (offer.Cost): 64 of the largest batches, or thousands of
// one-line ones.
const maxOfferedBytes = 128 << 20

// wakeBatches offered wake an idle indexer (half a round of Batch's default).
const wakeBatches = 32

// Offer hands the indexer b, a batch just committed (Row and Decoded set;
// kept a while, never changed). It never blocks; a batch it cannot keep is
// decoded from the store when its turn comes.
func (x *Indexer) Offer(b *store.Batch) {
	if b == nil || b.Decoded == nil || b.Row <= 0 {
		return
	}
	if _, n, held := x.offered.Add(b, maxOfferedBytes); n >= wakeBatches || held >= maxOfferedBytes/2 {
		select {
		case x.woken() <- struct{}{}:
		default:
		}
	}
}

// woken is the channel Offer signals when offers pile up.
func (x *Indexer) woken() chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.wake == nil {
		x.wake = make(chan struct{}, 1)
	}
	return x.wake
}

// takeOffered removes and returns the offered batch of row, and drops
// every offered batch at or below cursor (already indexed).
func (x *Indexer) takeOffered(row, cursor int64) *store.Batch {
	b := x.offered.Take(row)
	x.offered.Forget(cursor)
	return b
}

// Run indexes until ctx ends.
func (x *Indexer) Run(ctx context.Context) error {
	idle := x.Idle
	if idle <= 0 {
		idle = time.Second
	}
	log := x.Logger
	if log == nil {
		log = slog.Default()
	}
	rest := x.Rest
	if rest <= 0 {
		rest = 3
	}
	for {
		start := time.Now()
		n, err := x.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Error("search indexer: round failed; trying again", "err", err)
		}
		wait := time.Duration(rest * float64(time.Since(start)))
		var woken <-chan struct{} // only an idle wait is cut short: the rest is the bound on CPU
		if n == 0 || err != nil {
			wait = idle
			if err == nil {
				woken = x.woken()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-woken:
		case <-time.After(wait):
		}
	}
}

// Step indexes the next round of batches past the cursor and returns how
// many it indexed.
func (x *Indexer) Step(ctx context.Context) (int, error) {
	limit := x.Batch
	if limit <= 0 {
		limit = 64
	}
	cur, err := x.Store.SearchCursor(ctx)
	if err != nil {
		return 0, err
	}
	keys, err := x.Store.SearchKeysAfter(ctx, cur, limit)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	fs := make([]store.SearchFilter, 0, len(keys))
	var stored map[int64]*store.StoredBatch // read only when a batch was not offered
	for i, k := range keys {
		var f []byte
		if o := x.takeOffered(k.Row, cur); o != nil && o.Device == k.Device && o.Decoded.GetHeader().GetSeq() == k.Seq {
			f = x.filterRecords(o.Decoded)
		} else {
			if stored == nil {
				// From this batch on: those before it were offered.
				after := cur
				if i > 0 {
					after = keys[i-1].Row
				}
				bs, err := x.Store.BatchesAfter(ctx, after, len(keys)-i)
				if err != nil {
					return 0, err
				}
				stored = make(map[int64]*store.StoredBatch, len(bs))
				for _, b := range bs {
					stored[b.Row] = b
				}
			}
			b := stored[k.Row]
			if b == nil {
				return 0, fmt.Errorf("search: index: batch row %d (%s seq %d) not read back", k.Row, k.Device, k.Seq)
			}
			var ferr error
			if f, ferr = x.Filter(b.Bytes); ferr != nil {
				// A batch that does not decode is scanned (and reported) by
				// searches; it gets no filter.
				continue
			}
		}
		fs = append(fs, store.SearchFilter{Device: k.Device, Seq: k.Seq, ReceivedNs: k.Received.UnixNano(), Filter: f})
	}
	if err := x.Store.SaveSearchFilters(ctx, fs, keys[len(keys)-1].Row); err != nil {
		return 0, err
	}
	return len(keys), nil
}

// Filter builds the token filter of a batch's bytes.
func (x *Indexer) Filter(raw []byte) ([]byte, error) {
	dec, err := seal.Open(raw)
	if err != nil {
		return nil, fmt.Errorf("search: index: %w", err)
	}
	return x.filterRecords(dec), nil
}

// filterRecords builds the token filter of a decoded batch.
func (x *Indexer) filterRecords(dec *offboxv1.Batch) []byte {
	for _, r := range dec.GetRecords() {
		x.fb.Add(r.GetBody())
	}
	return x.fb.Finish()
}
