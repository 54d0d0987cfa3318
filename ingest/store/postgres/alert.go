package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

const (
	alertInsert = `INSERT INTO alerts (group_id, kind, severity, device, key, summary, fields, labels,
		evidence, first_ns, last_ns, count, created_ns, updated_ns, first_recv_ns, last_recv_ns) VALUES `
	alertConflict = `
		ON CONFLICT (group_id) DO UPDATE SET kind = excluded.kind, severity = excluded.severity,
		device = excluded.device, key = excluded.key, summary = excluded.summary, fields = excluded.fields,
		labels = excluded.labels, evidence = excluded.evidence, first_ns = excluded.first_ns,
		last_ns = excluded.last_ns, count = excluded.count, updated_ns = excluded.updated_ns,
		first_recv_ns = excluded.first_recv_ns, last_recv_ns = excluded.last_recv_ns`
)

// BatchesAfter implements store.AlertStore. Rows are numbered in commit
// order (commit.go), so a cursor past a row never skips one committed
// later.
func (s *Store) BatchesAfter(ctx context.Context, after int64, limit int) ([]*store.StoredBatch, error) {
	type row struct {
		b   *store.StoredBatch
		dev int64
	}
	rows, err := sqlrow.All(ctx, s.db(), fmt.Sprint("batches after ", after), func(r sqlrow.Scanner) (row, error) {
		b, dev, err := sqlrow.ScanBatch(r)
		return row{b, dev}, err
	}, batchSelect+` WHERE l.row > $1 ORDER BY l.row LIMIT $2`, after, sqlrow.Limit(limit))
	if err != nil {
		return nil, err
	}
	// Segments are read once the batch rows are, so a call holds one
	// connection at a time.
	out := make([]*store.StoredBatch, len(rows))
	for i, r := range rows {
		if r.b.Segments, err = s.segments(ctx, r.dev, int64(r.b.Seq), r.b.Received.UnixNano()); err != nil {
			return nil, fmt.Errorf("store: segments of %s seq %d: %w", r.b.Device, r.b.Seq, err)
		}
		out[i] = r.b
	}
	return out, nil
}

// saveSQL is SaveAlerts' statements. The cursor row is locked to the end
// of the transaction, so no other collector's save can slip in between
// the check and this save's own cursor move.
var saveSQL = sqlrow.SaveSQL{
	Cursor: `SELECT batch_row, event_id, access_id, saves FROM detect_cursor WHERE id = 1 FOR UPDATE`,
	State: `INSERT INTO detect_state (device, state) VALUES ($1, $2)
		ON CONFLICT (device) DO UPDATE SET state = excluded.state`,
	MoveCursor: `INSERT INTO detect_cursor (id, batch_row, event_id, access_id, saves) VALUES (1, $1, $2, $3, 1)
		ON CONFLICT (id) DO UPDATE SET batch_row = excluded.batch_row, event_id = excluded.event_id,
		access_id = excluded.access_id, saves = detect_cursor.saves + 1`,
	AlertRows: func(n int) string {
		return sqlrow.AlertRowsSQL(alertInsert, alertConflict, n, func(i int) string { return "$" + strconv.Itoa(i) })
	},
	Delivery: `INSERT INTO alert_deliveries (alert_id, sink, state, attempts, next_ns,
		last_error, delivered_ns) VALUES ($1, $2, $3, 0, $4, '', 0)
		ON CONFLICT (alert_id, sink) DO UPDATE SET state = excluded.state, next_ns = excluded.next_ns,
		delivered_ns = 0`,
	Reopen:      reopenSQL,
	ReopenState: reopenStateSQL,
}

// alertSelect reads the columns sqlrow.ScanAlert scans, from alerts a.
const alertSelect = `a.id, a.group_id, a.kind, a.severity, a.device, a.key, a.summary, a.fields, a.labels, a.evidence,
	a.first_ns, a.last_ns, a.count, a.created_ns, a.updated_ns, a.first_recv_ns, a.last_recv_ns, a.state, a.assignee`

// alertConds is sqlrow.Engine.AlertConds.
func alertConds(f *sqlrow.Filter, q *store.AlertQuery) error {
	if q.Severity != "" {
		sev, ok := sqlrow.SeverityAtLeast(q.Severity)
		if !ok {
			return fmt.Errorf("store: unknown severity %q", q.Severity)
		}
		f.Add(true, "a.severity = ANY(?)", sev)
	}
	for k, v := range q.Labels {
		// labels is a flat JSON object as encoding/json writes it (no
		// spaces, every quote in a string escaped), so "k":"v" occurs in
		// it exactly when member k is v: a raw quote only ever delimits a
		// string. json/jsonb operators would refuse the whole table for
		// one \u0000 in any alert's labels.
		pair, err := labelPair(k, v)
		if err != nil {
			return err
		}
		f.Add(true, "strpos(a.labels, ?) > 0", pair)
	}
	return nil
}

// labelPair is member k: v as encodeAlert writes it in labels.
func labelPair(k, v string) (string, error) {
	kj, err := json.Marshal(k)
	if err != nil {
		return "", err
	}
	vj, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(kj) + ":" + string(vj), nil
}
