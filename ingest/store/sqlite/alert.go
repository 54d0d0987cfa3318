package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

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

// EventsAfter implements store.AlertStore.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]store.IntegrityEvent, error) {
	f := filter{sqlrow.Filter{Conds: []string{"e.id > ?"}, Args: []any{after}}}
	return s.events(ctx, &f, sqlrow.Limit(limit))
}

// RecordAccess implements store.AlertStore.
func (s *Store) RecordAccess(ctx context.Context, a store.Access) error {
	return s.exec(ctx, "access", `INSERT INTO accesses (time_ns, who, via, remote, what) VALUES (?, ?, ?, ?, ?)`,
		s.timeOr(a.Time).UnixNano(), a.Who, a.Via, a.Remote, a.What)
}

// AccessesAfter implements store.AlertStore.
func (s *Store) AccessesAfter(ctx context.Context, after int64, limit int) ([]store.Access, error) {
	return sqlrow.All(ctx, s.db(), fmt.Sprint("accesses after ", after), sqlrow.ScanAccess, `SELECT id, time_ns, who, via, remote, what FROM accesses
		WHERE id > ? ORDER BY id LIMIT ?`, after, sqlrow.Limit(limit))
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
	Alert: `INSERT INTO alerts (group_id, kind, severity, device, key, summary, fields, labels,
		evidence, first_ns, last_ns, count, created_ns, updated_ns, first_recv_ns, last_recv_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (group_id) DO UPDATE SET kind = excluded.kind, severity = excluded.severity,
		device = excluded.device, key = excluded.key, summary = excluded.summary, fields = excluded.fields,
		labels = excluded.labels, evidence = excluded.evidence, first_ns = excluded.first_ns,
		last_ns = excluded.last_ns, count = excluded.count, updated_ns = excluded.updated_ns,
		first_recv_ns = excluded.first_recv_ns, last_recv_ns = excluded.last_recv_ns
		RETURNING id`,
	Delivery: `INSERT INTO alert_deliveries (alert_id, sink, state, attempts, next_ns,
		last_error, delivered_ns) VALUES (?, ?, ?, 0, ?, '', 0)
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
	return w.do(ctx, size, func(ctx context.Context, tx *sql.Tx) error {
		return sqlrow.SaveAlerts(ctx, sqlDB{tx}, &saveSQL, &save, rows, now)
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
		f.Conds = append(f.Conds, "a.severity IN (?"+strings.Repeat(", ?", len(sev)-1)+")")
		for _, v := range sev {
			f.Args = append(f.Args, v)
		}
	}
	for k, v := range q.Labels {
		f.Conds = append(f.Conds, "json_extract(a.labels, ?) IS ?")
		f.Args = append(f.Args, labelPath(k), v)
	}
	// The collector's clock, not the device's (store.AlertQuery).
	f.Add(!q.Since.IsZero(), "a.last_recv_ns >= ?", sqlrow.UnixNs(q.Since))
	f.Add(!q.Until.IsZero(), "a.last_recv_ns < ?", sqlrow.UnixNs(q.Until))
	if q.Limit < 0 {
		return nil, fmt.Errorf("store: alert query limit %d", q.Limit)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT `+alertSelect+` FROM alerts a`+f.where()+
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

// labelPath is the JSON path of the member k of an object, quoted so a key
// holding '.', '[' or '$' names that member and not a deeper one.
func labelPath(k string) string {
	return `$."` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
}

// DueDeliveries implements store.AlertStore.
func (s *Store) DueDeliveries(ctx context.Context, sink string, now time.Time, limit int) ([]store.Delivery, error) {
	// state is a literal so the partial index alert_deliveries_due applies.
	return sqlrow.All(ctx, s.db(), "due deliveries to "+sink, sqlrow.ScanDelivery, `SELECT x.sink, x.state, x.attempts, x.next_ns, x.last_error, x.delivered_ns, `+
		alertSelect+` FROM alert_deliveries x JOIN alerts a ON a.id = x.alert_id
		WHERE x.sink = ? AND x.state = 'pending' AND x.next_ns <= ? ORDER BY x.next_ns, x.alert_id LIMIT ?`,
		sink, sqlrow.UnixNs(now), sqlrow.Limit(limit))
}

// FinishDelivery implements store.AlertStore.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	return w.do(ctx, 0, func(ctx context.Context, tx *sql.Tx) error {
		return sqlrow.FinishDelivery(ctx, sqlDB{tx}, `UPDATE alert_deliveries SET state = ?, attempts = ?, next_ns = ?, last_error = ?, delivered_ns = ?
			WHERE alert_id = ? AND sink = ?`, ` AND state = 'pending' AND next_ns = ?`,
			`SELECT count(*) FROM alert_deliveries WHERE alert_id = ? AND sink = ?`, &d)
	})
}

// PendingDeliveries implements store.AlertStore.
func (s *Store) PendingDeliveries(ctx context.Context) (map[string]int, error) {
	return sqlrow.Map[string, int](ctx, s.db(), "pending deliveries", `SELECT sink, count(*) FROM alert_deliveries WHERE state = 'pending' GROUP BY sink`)
}

// Record implements store.AlertStore.
func (s *Store) Record(ctx context.Context, device string, seq uint64, index int) (store.Record, bool, error) {
	return sqlrow.Record(ctx, s.db(), `SELECT b.device_id, b.received_ns FROM batches b JOIN devices d ON d.id = b.device_id
		WHERE d.name = ? AND b.seq = ?`, s.readBatch, device, seq, index)
}
