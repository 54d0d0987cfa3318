package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// DetectCursor implements store.AlertStore.
func (s *Store) DetectCursor(ctx context.Context) (store.Cursor, error) {
	return sqlrow.ScanCursor(s.db().QueryRow(ctx, `SELECT batch_row, event_id, access_id, saves FROM detect_cursor WHERE id = 1`))
}

// DetectStates implements store.AlertStore.
func (s *Store) DetectStates(ctx context.Context) (map[string][]byte, error) {
	return sqlrow.Map[string, []byte](ctx, s.db(), "detect states", `SELECT device, state FROM detect_state`)
}

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

// EventsAfter implements store.AlertStore.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]store.IntegrityEvent, error) {
	f := filter{sqlrow.Filter{Conds: []string{"e.id > ?"}, Args: []any{after}}}
	return s.events(ctx, &f, sqlrow.Limit(limit))
}

// RecordAccess implements store.AlertStore. The id is drawn under the
// commit order lock, so AccessesAfter never skips one committed later.
func (s *Store) RecordAccess(ctx context.Context, a store.Access) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	return w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) error {
		if err := lockOrder(ctx, tx); err != nil {
			return err
		}
		_, err := pgExec(ctx, tx, `INSERT INTO accesses (time_ns, who, via, remote, what) VALUES ($1, $2, $3, $4, $5)`,
			s.timeOr(a.Time).UnixNano(), a.Who, a.Via, a.Remote, a.What)
		if err != nil {
			return fmt.Errorf("store: access: %w", err)
		}
		return nil
	})
}

// AccessesAfter implements store.AlertStore.
func (s *Store) AccessesAfter(ctx context.Context, after int64, limit int) ([]store.Access, error) {
	return sqlrow.All(ctx, s.db(), fmt.Sprint("accesses after ", after), sqlrow.ScanAccess, `SELECT id, time_ns, who, via, remote, what FROM accesses
		WHERE id > $1 ORDER BY id LIMIT $2`, after, sqlrow.Limit(limit))
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
	Alert: `INSERT INTO alerts (group_id, kind, severity, device, key, summary, fields, labels,
		evidence, first_ns, last_ns, count, created_ns, updated_ns, first_recv_ns, last_recv_ns)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (group_id) DO UPDATE SET kind = excluded.kind, severity = excluded.severity,
		device = excluded.device, key = excluded.key, summary = excluded.summary, fields = excluded.fields,
		labels = excluded.labels, evidence = excluded.evidence, first_ns = excluded.first_ns,
		last_ns = excluded.last_ns, count = excluded.count, updated_ns = excluded.updated_ns,
		first_recv_ns = excluded.first_recv_ns, last_recv_ns = excluded.last_recv_ns
		RETURNING id`,
	Delivery: `INSERT INTO alert_deliveries (alert_id, sink, state, attempts, next_ns,
		last_error, delivered_ns) VALUES ($1, $2, $3, 0, $4, '', 0)
		ON CONFLICT (alert_id, sink) DO UPDATE SET state = excluded.state, next_ns = excluded.next_ns,
		delivered_ns = 0`,
}

// SaveAlerts implements store.AlertStore.
func (s *Store) SaveAlerts(ctx context.Context, save store.AlertSave) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	now := s.timeOr(save.Now).UnixNano()
	rows, size, err := sqlrow.EncodeSave(&save)
	if err != nil {
		return err
	}
	return w.do(ctx, size, func(ctx context.Context, tx pgx.Tx) error {
		return sqlrow.SaveAlerts(ctx, pgDB{tx}, &saveSQL, &save, rows, now)
	})
}

// alertSelect reads the columns sqlrow.ScanAlert scans, from alerts a.
const alertSelect = `a.id, a.group_id, a.kind, a.severity, a.device, a.key, a.summary, a.fields, a.labels, a.evidence,
	a.first_ns, a.last_ns, a.count, a.created_ns, a.updated_ns, a.first_recv_ns, a.last_recv_ns`

// Alerts implements store.AlertStore.
func (s *Store) Alerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	var f filter
	f.Add(q.Device != "", "a.device = ?", q.Device)
	f.Add(q.Kind != "", "a.kind = ?", q.Kind)
	if q.Severity != "" {
		sev, ok := sqlrow.SeverityAtLeast(q.Severity)
		if !ok {
			return nil, fmt.Errorf("store: unknown severity %q", q.Severity)
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
			return nil, err
		}
		f.Add(true, "strpos(a.labels, ?) > 0", pair)
	}
	// The collector's clock, not the device's (store.AlertQuery).
	f.Add(!q.Since.IsZero(), "a.last_recv_ns >= ?", sqlrow.UnixNs(q.Since))
	f.Add(!q.Until.IsZero(), "a.last_recv_ns < ?", sqlrow.UnixNs(q.Until))
	if q.Limit < 0 {
		return nil, fmt.Errorf("store: alert query limit %d", q.Limit)
	}
	where := f.where()
	rows, err := pgQuery(ctx, s.pool, `SELECT `+alertSelect+` FROM alerts a`+where+
		` ORDER BY a.last_recv_ns DESC, a.id DESC`+f.limit(q.Limit), f.Args...)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	defer rows.Close()
	var out []store.Alert
	for rows.Next() {
		var a store.Alert
		if err := sqlrow.ScanAlert(rows, &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
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

// DueDeliveries implements store.AlertStore.
func (s *Store) DueDeliveries(ctx context.Context, sink string, now time.Time, limit int) ([]store.Delivery, error) {
	// state is a literal so the partial index alert_deliveries_due applies.
	return sqlrow.All(ctx, s.db(), "due deliveries to "+sink, sqlrow.ScanDelivery, `SELECT x.sink, x.state, x.attempts, x.next_ns, x.last_error, x.delivered_ns, `+
		alertSelect+` FROM alert_deliveries x JOIN alerts a ON a.id = x.alert_id
		WHERE x.sink = $1 AND x.state = 'pending' AND x.next_ns <= $2 ORDER BY x.next_ns, x.alert_id LIMIT $3`,
		sink, sqlrow.UnixNs(now), sqlrow.Limit(limit))
}

// FinishDelivery implements store.AlertStore.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	return w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) error {
		return sqlrow.FinishDelivery(ctx, pgDB{tx}, `UPDATE alert_deliveries SET state = $1, attempts = $2, next_ns = $3, last_error = $4, delivered_ns = $5
			WHERE alert_id = $6 AND sink = $7`, ` AND state = 'pending' AND next_ns = $8`,
			`SELECT count(*) FROM alert_deliveries WHERE alert_id = $1 AND sink = $2`, &d)
	})
}

// PendingDeliveries implements store.AlertStore.
func (s *Store) PendingDeliveries(ctx context.Context) (map[string]int, error) {
	return sqlrow.Map[string, int](ctx, s.db(), "pending deliveries", `SELECT sink, count(*) FROM alert_deliveries WHERE state = 'pending' GROUP BY sink`)
}

// Record implements store.AlertStore.
func (s *Store) Record(ctx context.Context, device string, seq uint64, index int) (store.Record, bool, error) {
	return sqlrow.Record(ctx, s.db(), `SELECT l.device_id, l.received_ns FROM batch_log l JOIN devices d ON d.id = l.device_id
		WHERE d.name = $1 AND l.seq = $2`, s.readBatch, device, seq, index)
}
