package store

import (
	"context"
	"time"
)

// ForwardStore is what forward sinks (ingest/forward) keep in the store:
// one cursor per sink, so the store itself is the backlog of every sink
// and a restart resumes where the last acknowledged send ended.
type ForwardStore interface {
	// ForwardCursor is the sink's saved cursor; zero (from the first
	// batch and alert) for a sink never saved.
	ForwardCursor(ctx context.Context, sink string) (ForwardCursor, error)
	// SaveForwardCursor stores c as c.Sink's cursor (Updated: now when zero).
	SaveForwardCursor(ctx context.Context, c ForwardCursor) error
	// ForwardCursors are every saved cursor, by sink name.
	ForwardCursors(ctx context.Context) ([]ForwardCursor, error)
	// ForwardBacklog is what is stored past c: the batches with Row at or
	// past c.BatchRow and the records in them (less c.Index), and when the
	// oldest of them was received.
	ForwardBacklog(ctx context.Context, c ForwardCursor) (ForwardBacklog, error)
	// AlertsAfter returns at most limit alerts with ID > after, by ID.
	AlertsAfter(ctx context.Context, after int64, limit int) ([]Alert, error)
}

// ForwardCursor is how far a forward sink has delivered: every record of
// the batches with Row below BatchRow, the records of batch BatchRow with
// an index below Index, and the alerts with ID up to AlertID.
type ForwardCursor struct {
	Sink     string
	BatchRow int64 // the next batch row to deliver (0 and 1: from the first)
	Index    int   // the next record index in batch BatchRow
	AlertID  int64 // the last alert delivered
	Updated  time.Time
}

// ForwardBacklog is what a sink has not delivered yet.
type ForwardBacklog struct {
	Batches int64
	Records int64     // as the batches count them (duplicate lines the index leaves out included)
	Oldest  time.Time // received time of the oldest batch not delivered; zero when none
}
