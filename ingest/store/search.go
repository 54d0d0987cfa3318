package store

import (
	"context"
	"time"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// SearchStore is what search needs of a store: the candidate batches of a
// query with their token filters, a batch's bytes, and the side table of
// filters the indexer keeps behind ingestion, with its cursor. Filters are
// derived data: a search confirms every line against the batch bytes.
type SearchStore interface {
	// SearchBatches returns the batches holding segments that match q,
	// ordered by (received time, device row, seq), newest first unless
	// q.Asc, each with its matching segments (Filter left nil). It returns
	// at most q.Limit batches (each whole) and only those past q.After in
	// that order.
	SearchBatches(ctx context.Context, q SearchQuery) ([]SearchBatch, error)
	// LoadSearchFilters sets the Filter of each batch that has one stored
	// (nil: not indexed yet).
	LoadSearchFilters(ctx context.Context, bs []SearchBatch) error
	// SearchBatchBytes reads the stored bytes of a batch SearchBatches returned.
	SearchBatchBytes(ctx context.Context, b *SearchBatch) ([]byte, error)
	// SearchCursor is the Row (StoredBatch.Row) of the last batch indexed.
	SearchCursor(ctx context.Context) (int64, error)
	// SaveSearchFilters stores the filters and moves the cursor to upTo, in
	// one transaction.
	SaveSearchFilters(ctx context.Context, filters []SearchFilter, upTo int64) error
	// SearchKeysAfter names at most limit batches after row after, in row
	// order, without reading their bytes (the indexer builds most filters
	// from batches the server just decoded).
	SearchKeysAfter(ctx context.Context, after int64, limit int) ([]BatchKey, error)
}

// BatchKey names a stored batch: its Row (StoredBatch.Row), device, seq
// and received time.
type BatchKey struct {
	Row      int64
	Device   string
	Seq      uint64
	Received time.Time
}

// SearchQuery selects the segments a search reads; zero fields do not filter.
type SearchQuery struct {
	DeviceNames []string // any of them; nil: every device
	Source      string
	Kind        offboxv1.Kind
	Since       time.Time // device time, inclusive
	Until       time.Time // device time, exclusive
	Asc         bool
	After       *SearchPos // only batches past it in the order asked
	Limit       int        // batches; 0: 100
}

// SearchPos is a batch's place in search order.
type SearchPos struct {
	ReceivedNs int64
	DeviceID   int64
	Seq        uint64
}

// SearchBatch is one candidate batch.
type SearchBatch struct {
	SearchPos
	Device   string
	Segments []SearchSegment // by first index
	Filter   []byte          // nil: not indexed
}

// SearchSegment is a run of records [First, First+Count) of a batch
// (search checks each record's own source and kind).
type SearchSegment struct{ First, Count int }

// SearchFilter is one batch's token filter.
type SearchFilter struct {
	Device     string
	Seq        uint64
	ReceivedNs int64
	Filter     []byte
}
