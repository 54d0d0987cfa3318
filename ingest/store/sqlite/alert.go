package sqlite

import (
	"context"
	"fmt"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// BatchesAfter implements store.AlertStore.
func (s *Store) BatchesAfter(ctx context.Context, after int64, limit int) ([]*store.StoredBatch, error) {
	rows, err := s.read.QueryContext(ctx, batchSelect+` WHERE b.id > ? ORDER BY b.id LIMIT ?`, after, sqlrow.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: batches after %d: %w", after, err)
	}
	return sqlrow.Collect(rows, fmt.Sprint("batches after ", after), func(r sqlrow.Scanner) (*store.StoredBatch, error) {
		return s.scanBatch(ctx, r)
	})
}

// saveSQL is SaveAlerts' statements. The cursor is read in the write
// transaction: with one writer, no other save can come between.
var saveSQL = sqlrow.SaveSQL{
	Cursor: `SELECT batch_row, event_id, access_id, saves FROM detect_cursor WHERE id = 1`,
	State: `INSERT INTO detect_state (device, state) VALUES (?, ?)
		ON CONFLICT (device) DO UPDATE SET state = excluded.state`,
	MoveCursor: `INSERT INTO detect_cursor (id, batch_row, event_id, access_id, saves) VALUES (1, ?, ?, ?, 1)
		ON CONFLICT (id) DO UPDATE SET batch_row = excluded.batch_row, event_id = excluded.event_id,
		access_id = excluded.access_id, saves = detect_cursor.saves + 1`,
	UpdateRows: func(n int) string {
		return sqlrow.AlertUpdateRowsSQL("UPDATE OR ROLLBACK alerts SET", n, func(int) string { return "?" })
	},
	InsertRows: func(n int) string {
		return sqlrow.AlertRowsSQL(alertInsert, "", n, func(int) string { return "?" })
	},
	Delivery: `INSERT INTO alert_deliveries (alert_id, sink, state, attempts, next_ns,
		last_error, delivered_ns) VALUES (?, ?, ?, 0, ?, '', 0)
		ON CONFLICT (alert_id, sink) DO UPDATE SET state = excluded.state, next_ns = excluded.next_ns,
		delivered_ns = 0`,
	Reopen:      reopenSQL,
	ReopenState: reopenStateSQL,
}

// alertInsert inserts alert rows (VALUES follow). Like UpdateRows' UPDATE
// it is OR ROLLBACK, so it needs no statement journal (sqlrow.SaveSQL).
const alertInsert = `INSERT OR ROLLBACK INTO alerts (group_id, kind, severity, device, key, summary, fields, labels,
	evidence, first_ns, last_ns, count, created_ns, updated_ns, first_recv_ns, last_recv_ns) VALUES `

// alertSelect reads the columns sqlrow.ScanAlert scans, from alerts a.
const alertSelect = `a.id, a.group_id, a.kind, a.severity, a.device, a.key, a.summary, a.fields, a.labels, a.evidence,
	a.first_ns, a.last_ns, a.count, a.created_ns, a.updated_ns, a.first_recv_ns, a.last_recv_ns, a.state, a.assignee`
