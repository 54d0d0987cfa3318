package search

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/offbox/offbox/ingest/store"
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
		if n == 0 || err != nil {
			wait = idle
		}
		select {
		case <-ctx.Done():
			return nil
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
	bs, err := x.Store.BatchesAfter(ctx, cur, limit)
	if err != nil || len(bs) == 0 {
		return 0, err
	}
	fs := make([]store.SearchFilter, 0, len(bs))
	for _, b := range bs {
		f, err := x.Filter(b.Bytes)
		if err != nil {
			// A batch that does not decode is scanned (and reported) by
			// searches; it gets no filter.
			continue
		}
		fs = append(fs, store.SearchFilter{Device: b.Device, Seq: b.Seq, ReceivedNs: b.Received.UnixNano(), Filter: f})
	}
	if err := x.Store.SaveSearchFilters(ctx, fs, bs[len(bs)-1].Row); err != nil {
		return 0, err
	}
	return len(bs), nil
}

// Filter builds the token filter of a batch's bytes.
func (x *Indexer) Filter(raw []byte) ([]byte, error) {
	dec, err := seal.Open(raw)
	if err != nil {
		return nil, fmt.Errorf("search: index: %w", err)
	}
	for _, r := range dec.GetRecords() {
		x.fb.Add(r.GetBody())
	}
	return x.fb.Finish(), nil
}
