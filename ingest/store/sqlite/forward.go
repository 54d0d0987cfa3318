package sqlite

import (
	"context"
	"database/sql"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// forwardSQL is store.ForwardStore in SQLite. Batch ids are given in
// commit order by the one writer.
var forwardSQL = sqlrow.ForwardSQL{
	Cursor:  `SELECT batch_row, record_index, alert_id, updated_ns FROM forward_cursors WHERE sink = ?`,
	Cursors: `SELECT sink, batch_row, record_index, alert_id, updated_ns FROM forward_cursors ORDER BY sink`,
	Save: `INSERT INTO forward_cursors (sink, batch_row, record_index, alert_id, updated_ns) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (sink) DO UPDATE SET batch_row = excluded.batch_row, record_index = excluded.record_index,
		alert_id = excluded.alert_id, updated_ns = excluded.updated_ns`,
	Backlog:     `SELECT count(*), COALESCE(SUM(record_count), 0), COALESCE(MIN(received_ns), 0) FROM batches WHERE id >= ?`,
	AlertsAfter: `SELECT ` + alertSelect + ` FROM alerts a WHERE a.id > ? ORDER BY a.id LIMIT ?`,
}

func (s *Store) forward() sqlrow.Forward {
	return sqlrow.Forward{SQL: &forwardSQL, Read: s.db(), Now: s.opt.Now,
		Write: func(ctx context.Context, fn func(context.Context, sqlrow.Tx) error) error {
			q, err := s.queue()
			if err != nil {
				return err
			}
			return q.Do(ctx, 0, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, sqlDB{tx}) })
		}}
}

// ForwardCursor implements store.ForwardStore.
func (s *Store) ForwardCursor(ctx context.Context, sink string) (store.ForwardCursor, error) {
	return s.forward().ForwardCursor(ctx, sink)
}

// SaveForwardCursor implements store.ForwardStore.
func (s *Store) SaveForwardCursor(ctx context.Context, c store.ForwardCursor) error {
	return s.forward().SaveForwardCursor(ctx, c)
}

// ForwardCursors implements store.ForwardStore.
func (s *Store) ForwardCursors(ctx context.Context) ([]store.ForwardCursor, error) {
	return s.forward().ForwardCursors(ctx)
}

// ForwardBacklog implements store.ForwardStore.
func (s *Store) ForwardBacklog(ctx context.Context, c store.ForwardCursor) (store.ForwardBacklog, error) {
	return s.forward().ForwardBacklog(ctx, c)
}

// AlertsAfter implements store.ForwardStore.
func (s *Store) AlertsAfter(ctx context.Context, after int64, limit int) ([]store.Alert, error) {
	return s.forward().AlertsAfter(ctx, after, limit)
}
