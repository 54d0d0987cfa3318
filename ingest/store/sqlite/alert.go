package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// DetectCursor implements store.AlertStore.
func (s *Store) DetectCursor(ctx context.Context) (store.Cursor, error) {
	var c store.Cursor
	err := s.read.QueryRowContext(ctx, `SELECT batch_row, event_id, access_id, saves FROM detect_cursor WHERE id = 1`).
		Scan(&c.BatchRow, &c.EventID, &c.AccessID, &c.Saves)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Cursor{}, nil
	}
	if err != nil {
		return store.Cursor{}, fmt.Errorf("store: detect cursor: %w", err)
	}
	return c, nil
}

// DetectStates implements store.AlertStore.
func (s *Store) DetectStates(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT device, state FROM detect_state`)
	if err != nil {
		return nil, fmt.Errorf("store: detect states: %w", err)
	}
	defer rows.Close()
	out := make(map[string][]byte)
	for rows.Next() {
		var dev string
		var state []byte
		if err := rows.Scan(&dev, &state); err != nil {
			return nil, fmt.Errorf("store: detect state: %w", err)
		}
		out[dev] = state
	}
	return out, rows.Err()
}

// BatchesAfter implements store.AlertStore.
func (s *Store) BatchesAfter(ctx context.Context, after int64, limit int) ([]*store.StoredBatch, error) {
	rows, err := s.read.QueryContext(ctx, batchSelect+` WHERE b.id > ? ORDER BY b.id LIMIT ?`, after, sqlrow.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: batches after %d: %w", after, err)
	}
	defer rows.Close()
	var out []*store.StoredBatch
	for rows.Next() {
		b, err := s.scanBatch(ctx, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
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
	rows, err := s.read.QueryContext(ctx, `SELECT id, time_ns, who, via, remote, what FROM accesses
		WHERE id > ? ORDER BY id LIMIT ?`, after, sqlrow.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: accesses after %d: %w", after, err)
	}
	defer rows.Close()
	var out []store.Access
	for rows.Next() {
		var a store.Access
		var t int64
		if err := rows.Scan(&a.ID, &t, &a.Who, &a.Via, &a.Remote, &a.What); err != nil {
			return nil, fmt.Errorf("store: access: %w", err)
		}
		a.Time = sqlrow.NsTime(t)
		out = append(out, a)
	}
	return out, rows.Err()
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
		if from := save.From; from != nil {
			// Read in the write transaction: no other save can come between.
			var c store.Cursor
			err := tx.QueryRowContext(ctx, `SELECT batch_row, event_id, access_id, saves FROM detect_cursor WHERE id = 1`).
				Scan(&c.BatchRow, &c.EventID, &c.AccessID, &c.Saves)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: detect cursor: %w", err)
			}
			if c != *from {
				return fmt.Errorf("%w: stored %+v, read %+v", store.ErrCursorMoved, c, *from)
			}
		}
		for i, u := range save.Alerts {
			if err := saveAlert(ctx, tx, &rows[i], u.Sinks, now); err != nil {
				return err
			}
		}
		for dev, state := range save.States {
			_, err := tx.ExecContext(ctx, `INSERT INTO detect_state (device, state) VALUES (?, ?)
				ON CONFLICT (device) DO UPDATE SET state = excluded.state`, dev, sqlrow.NotNull(state))
			if err != nil {
				return fmt.Errorf("store: detect state of %s: %w", dev, err)
			}
		}
		if c := save.Cursor; c != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO detect_cursor (id, batch_row, event_id, access_id, saves) VALUES (1, ?, ?, ?, 1)
				ON CONFLICT (id) DO UPDATE SET batch_row = excluded.batch_row, event_id = excluded.event_id,
				access_id = excluded.access_id, saves = detect_cursor.saves + 1`, c.BatchRow, c.EventID, c.AccessID)
			if err != nil {
				return fmt.Errorf("store: detect cursor: %w", err)
			}
		}
		return nil
	})
}

func saveAlert(ctx context.Context, tx *sql.Tx, r *sqlrow.AlertRow, sinks []string, now int64) error {
	a := r.Alert
	firstRecv, lastRecv := r.Received(now)
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO alerts (group_id, kind, severity, device, key, summary, fields, labels,
		evidence, first_ns, last_ns, count, created_ns, updated_ns, first_recv_ns, last_recv_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (group_id) DO UPDATE SET kind = excluded.kind, severity = excluded.severity,
		device = excluded.device, key = excluded.key, summary = excluded.summary, fields = excluded.fields,
		labels = excluded.labels, evidence = excluded.evidence, first_ns = excluded.first_ns,
		last_ns = excluded.last_ns, count = excluded.count, updated_ns = excluded.updated_ns,
		first_recv_ns = excluded.first_recv_ns, last_recv_ns = excluded.last_recv_ns
		RETURNING id`, a.GroupID, a.Kind, a.Severity, a.Device, a.Key, a.Summary, r.Fields, r.Labels, r.Evidence,
		r.First, r.Last, a.Count, now, now, firstRecv, lastRecv).Scan(&id)
	if err != nil {
		return fmt.Errorf("store: alert %s: %w", a.GroupID, err)
	}
	for _, sink := range sinks {
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_deliveries (alert_id, sink, state, attempts, next_ns,
			last_error, delivered_ns) VALUES (?, ?, ?, 0, ?, '', 0)
			ON CONFLICT (alert_id, sink) DO UPDATE SET state = excluded.state, next_ns = excluded.next_ns,
			delivered_ns = 0`, id, sink, store.DeliveryPending, now)
		if err != nil {
			return fmt.Errorf("store: alert %s to %s: %w", a.GroupID, sink, err)
		}
	}
	return nil
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
	rows, err := s.read.QueryContext(ctx, `SELECT x.sink, x.state, x.attempts, x.next_ns, x.last_error, x.delivered_ns, `+
		alertSelect+` FROM alert_deliveries x JOIN alerts a ON a.id = x.alert_id
		WHERE x.sink = ? AND x.state = 'pending' AND x.next_ns <= ? ORDER BY x.next_ns, x.alert_id LIMIT ?`,
		sink, sqlrow.UnixNs(now), sqlrow.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries to %s: %w", sink, err)
	}
	defer rows.Close()
	var out []store.Delivery
	for rows.Next() {
		var d store.Delivery
		var next, delivered int64
		if err := sqlrow.ScanAlert(rows, &d.Alert, &d.Sink, &d.State, &d.Attempts, &next, &d.LastError, &delivered); err != nil {
			return nil, err
		}
		d.AlertID, d.NextAttempt, d.Delivered, d.Queued = d.Alert.ID, sqlrow.TimeNs(next), sqlrow.TimeNs(delivered), sqlrow.TimeNs(next)
		out = append(out, d)
	}
	return out, rows.Err()
}

// FinishDelivery implements store.AlertStore.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	return w.do(ctx, 0, func(ctx context.Context, tx *sql.Tx) error {
		q := `UPDATE alert_deliveries SET state = ?, attempts = ?, next_ns = ?, last_error = ?, delivered_ns = ?
			WHERE alert_id = ? AND sink = ?`
		args := []any{d.State, d.Attempts, sqlrow.UnixNs(d.NextAttempt), d.LastError, sqlrow.UnixNs(d.Delivered), d.AlertID, d.Sink}
		if !d.Queued.IsZero() {
			// Queued again meanwhile (SaveAlerts moved next_ns): leave it.
			q += ` AND state = 'pending' AND next_ns = ?`
			args = append(args, sqlrow.UnixNs(d.Queued))
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: delivery of alert %d to %s: %w", d.AlertID, d.Sink, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			var exists int
			if qerr := tx.QueryRowContext(ctx, `SELECT count(*) FROM alert_deliveries WHERE alert_id = ? AND sink = ?`,
				d.AlertID, d.Sink).Scan(&exists); qerr == nil && exists == 1 && err == nil {
				return nil // queued again since: the newer version will be delivered
			}
			return errors.Join(fmt.Errorf("store: no delivery of alert %d to %s", d.AlertID, d.Sink), err)
		}
		return nil
	})
}

// PendingDeliveries implements store.AlertStore.
func (s *Store) PendingDeliveries(ctx context.Context) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT sink, count(*) FROM alert_deliveries WHERE state = 'pending' GROUP BY sink`)
	if err != nil {
		return nil, fmt.Errorf("store: pending deliveries: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var sink string
		var n int
		if err := rows.Scan(&sink, &n); err != nil {
			return nil, err
		}
		out[sink] = n
	}
	return out, rows.Err()
}

// Record implements store.AlertStore.
func (s *Store) Record(ctx context.Context, device string, seq uint64, index int) (store.Record, bool, error) {
	if seq > math.MaxInt64 || index < 0 {
		return store.Record{}, false, nil
	}
	var dev, recv int64
	err := s.read.QueryRowContext(ctx, `SELECT b.device_id, b.received_ns FROM batches b JOIN devices d ON d.id = b.device_id
		WHERE d.name = ? AND b.seq = ?`, device, int64(seq)).Scan(&dev, &recv)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Record{}, false, nil
	}
	if err != nil {
		return store.Record{}, false, fmt.Errorf("store: batch %d of %s: %w", seq, device, err)
	}
	var o openBatch
	if err := o.load(ctx, s, dev, int64(seq)); err != nil {
		return store.Record{}, false, err
	}
	recs := o.Batch().GetRecords()
	if index >= len(recs) {
		return store.Record{}, false, nil
	}
	return store.Record{Device: device, Seq: seq, Index: index, Received: sqlrow.NsTime(recv), Record: recs[index]}, true, nil
}
