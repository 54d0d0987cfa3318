package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// ForwardSQL is an engine's statements for store.ForwardStore.
type ForwardSQL struct {
	Cursor      string // batch_row, record_index, alert_id, updated_ns of the sink (name)
	Cursors     string // sink, batch_row, record_index, alert_id, updated_ns of every sink, by sink
	Save        string // upserts (sink, batch_row, record_index, alert_id, updated_ns)
	Backlog     string // count, sum of record_count, min received_ns of the batches with row >= (row)
	AlertsAfter string // ScanAlert's columns of the alerts with id > (after), by id, LIMIT (limit)
}

// Forward implements store.ForwardStore on an engine's read handle and
// write queue.
type Forward struct {
	SQL   *ForwardSQL
	Read  DB
	Write Write
	Now   func() time.Time
}

func scanForwardCursor(r Scanner, c *store.ForwardCursor, pre ...any) error {
	var updated int64
	if err := r.Scan(append(pre, &c.BatchRow, &c.Index, &c.AlertID, &updated)...); err != nil {
		return err
	}
	c.Updated = TimeNs(updated)
	return nil
}

// ForwardCursor implements store.ForwardStore.
func (f Forward) ForwardCursor(ctx context.Context, sink string) (store.ForwardCursor, error) {
	c := store.ForwardCursor{Sink: sink}
	err := scanForwardCursor(f.Read.QueryRow(ctx, f.SQL.Cursor, sink), &c)
	if errors.Is(err, ErrNoRows) {
		return store.ForwardCursor{Sink: sink}, nil
	}
	if err != nil {
		return c, fmt.Errorf("store: forward cursor %q: %w", sink, err)
	}
	return c, nil
}

// SaveForwardCursor implements store.ForwardStore.
func (f Forward) SaveForwardCursor(ctx context.Context, c store.ForwardCursor) error {
	if c.Sink == "" {
		return errors.New("store: forward cursor: no sink name")
	}
	at := TimeOr(c.Updated, f.Now)
	_, err := Exec(ctx, f.Write, "forward cursor "+c.Sink, f.SQL.Save, c.Sink, c.BatchRow, c.Index, c.AlertID, at.UnixNano())
	return err
}

// ForwardCursors implements store.ForwardStore.
func (f Forward) ForwardCursors(ctx context.Context) ([]store.ForwardCursor, error) {
	return All(ctx, f.Read, "forward cursors", func(r Scanner) (c store.ForwardCursor, err error) {
		err = scanForwardCursor(r, &c, &c.Sink)
		return c, err
	}, f.SQL.Cursors)
}

// ForwardBacklog implements store.ForwardStore.
func (f Forward) ForwardBacklog(ctx context.Context, c store.ForwardCursor) (store.ForwardBacklog, error) {
	var b store.ForwardBacklog
	var oldest int64
	if err := f.Read.QueryRow(ctx, f.SQL.Backlog, c.BatchRow).Scan(&b.Batches, &b.Records, &oldest); err != nil {
		return b, fmt.Errorf("store: forward backlog: %w", err)
	}
	if b.Batches > 0 {
		b.Oldest = TimeNs(oldest)
		b.Records = max(0, b.Records-int64(c.Index))
	}
	return b, nil
}

// AlertsAfter implements store.ForwardStore.
func (f Forward) AlertsAfter(ctx context.Context, after int64, limit int) ([]store.Alert, error) {
	return All(ctx, f.Read, "alerts after", ScanAlertRow, f.SQL.AlertsAfter, after, Limit(limit))
}
