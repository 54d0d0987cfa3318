package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// Tx is a write transaction of either engine, for the writes whose
// statements differ between the engines only in their text.
type Tx interface {
	DB
	// Exec runs a statement and returns the number of rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// SaveSQL is an engine's statements for SaveAlerts.
type SaveSQL struct {
	// Cursor selects batch_row, event_id, access_id, saves of the detect
	// cursor so that no other save can come between this check and this
	// save's own cursor move (PostgreSQL locks the row; SQLite has one
	// writer).
	Cursor string
	// State upserts (device, state); MoveCursor upserts (batch_row,
	// event_id, access_id), counting the save.
	State, MoveCursor string
	// Delivery upserts (alert_id, sink, state, next_ns).
	Delivery string
	// Reopen inserts a reopen transition by store.SystemWho at (at_ns)
	// of alert (id) if it is resolved; ReopenState then opens it (id).
	Reopen, ReopenState string
	// AlertRows upserts n alert rows in one statement (group_id, kind,
	// severity, device, key, summary, fields, labels, evidence, first_ns,
	// last_ns, count, created_ns, updated_ns, first_recv_ns, last_recv_ns
	// each), returning group_id, id and state (AlertRowsSQL builds it): a
	// save of a thousand alerts is then a few statements, not a thousand.
	AlertRows func(n int) string
	// UpdateRows and InsertRows, when set, take AlertRows' place (SQLite):
	// UpdateRows(n) updates the stored ones of n alert rows (the same 16
	// values each, matched by group_id), InsertRows(n) inserts n rows,
	// both returning group_id, id and state; a save updates its chunk,
	// then inserts what the update did not find. Both are OR ROLLBACK:
	// SQLite copies each page an upsert changes into a statement journal
	// (the upsert's update half may abort), a statement that rolls the
	// transaction back on a constraint needs none (BenchmarkSaveAlerts).
	UpdateRows, InsertRows func(n int) string
}

// alertCols is the number of values of an alert row.
const alertCols = 16

// alertChunk is the most alert rows one AlertRows statement upserts
// (16 × 1,024 = 16,384 parameters, below both engines' limits: SQLite's
// 32,766, PostgreSQL's 65,535). Fewer, larger statements journal each
// page they change fewer times (SQLite copies a page to the statement
// journal once per statement that changes it).
const alertChunk = 1024

// AlertSizes are the row counts of UpdateRows and InsertRows statements,
// largest first: a chunk takes the largest that fits, so a few texts
// repeat and an engine can prepare them once (PreparedQuerier).
var AlertSizes = []int{alertChunk, 256, 64, 16, 4, 1}

// alertSize is the largest of AlertSizes at most n (n >= 1).
func alertSize(n int) int {
	for _, s := range AlertSizes {
		if s <= n {
			return s
		}
	}
	return 1
}

// A PreparedQuerier runs a query through a statement prepared once for
// its text when it has one (SQLite's writer prepares UpdateRows and
// InsertRows of AlertSizes: parsing a statement of a thousand rows anew
// was a sixth of a save's time), else as Query does.
type PreparedQuerier interface {
	QueryPrepared(ctx context.Context, query string, args ...any) (Rows, error)
}

// AlertRowsSQL builds AlertRows' statement: insert (ending in VALUES),
// n rows of placeholders numbered from 1 by ph, conflict (the upsert) and
// RETURNING group_id, id, state.
func AlertRowsSQL(insert, conflict string, n int, ph func(i int) string) string {
	var b strings.Builder
	b.WriteString(insert)
	valuesSQL(&b, n, ph)
	b.WriteString(conflict)
	b.WriteString(" RETURNING group_id, id, state")
	return b.String()
}

// valuesSQL writes n rows of alertCols placeholders.
func valuesSQL(b *strings.Builder, n int, ph func(i int) string) {
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range alertCols {
			if c > 0 {
				b.WriteString(", ")
			}
			b.WriteString(ph(r*alertCols + c + 1))
		}
		b.WriteByte(')')
	}
}

// SaveAlerts writes save, whose alerts EncodeSave encoded as rows, in tx.
func SaveAlerts(ctx context.Context, tx Tx, q *SaveSQL, save *store.AlertSave, rows []AlertRow, now int64) error {
	if from := save.From; from != nil {
		var c store.Cursor
		err := tx.QueryRow(ctx, q.Cursor).Scan(&c.BatchRow, &c.EventID, &c.AccessID, &c.Saves)
		if err != nil && !errors.Is(err, ErrNoRows) {
			return fmt.Errorf("store: detect cursor: %w", err)
		}
		if c != *from {
			return fmt.Errorf("%w: stored %+v, expected %+v", store.ErrCursorMoved, c, *from)
		}
	}
	if err := saveAlertRows(ctx, tx, q, save.Alerts, rows, now); err != nil {
		return err
	}
	for dev, state := range save.States {
		if _, err := tx.Exec(ctx, q.State, dev, NotNull(state)); err != nil {
			return fmt.Errorf("store: detect state of %s: %w", dev, err)
		}
	}
	if c := save.Cursor; c != nil {
		if _, err := tx.Exec(ctx, q.MoveCursor, c.BatchRow, c.EventID, c.AccessID); err != nil {
			return fmt.Errorf("store: detect cursor: %w", err)
		}
	}
	return nil
}

// saveAlertRows upserts the alerts alertChunk at a time, a group id at
// most once per statement (an upsert may not touch a row twice), then
// queues the deliveries by the ids returned.
func saveAlertRows(ctx context.Context, tx Tx, q *SaveSQL, alerts []store.AlertUpsert, rows []AlertRow, now int64) error {
	for start := 0; start < len(alerts); {
		end, seen := start, map[string]bool{}
		for end < len(alerts) && end-start < alertChunk && !seen[alerts[end].Alert.GroupID] {
			seen[alerts[end].Alert.GroupID] = true
			end++
		}
		if q.UpdateRows != nil {
			end = start + alertSize(end-start)
		}
		args := make([]any, 0, (end-start)*alertCols)
		for i := start; i < end; i++ {
			r, a := &rows[i], rows[i].Alert
			firstRecv, lastRecv := r.Received(now)
			args = append(args, a.GroupID, a.Kind, a.Severity, a.Device, a.Key, a.Summary, r.Fields, r.Labels, r.Evidence,
				r.First, r.Last, a.Count, now, now, firstRecv, lastRecv)
		}
		ids := make(map[string]int64, end-start)
		var resolved []int64 // upserted alerts an operator had resolved: they fired again
		var err error
		if q.UpdateRows == nil {
			err = alertRowsReturning(ctx, tx, q.AlertRows(end-start), args, ids, &resolved)
		} else if err = alertRowsReturning(ctx, tx, q.UpdateRows(end-start), args, ids, &resolved); err == nil && len(ids) < end-start {
			var add []any
			for i := start; i < end; i++ {
				if _, ok := ids[alerts[i].Alert.GroupID]; !ok {
					k := (i - start) * alertCols
					add = append(add, args[k:k+alertCols]...)
				}
			}
			for err == nil && len(add) > 0 {
				n := alertSize(len(add) / alertCols)
				err = alertRowsReturning(ctx, tx, q.InsertRows(n), add[:n*alertCols], ids, &resolved)
				add = add[n*alertCols:]
			}
		}
		if err != nil {
			return fmt.Errorf("store: alerts: %w", err)
		}
		for _, id := range resolved {
			if err := reopen(ctx, tx, q, id, now); err != nil {
				return fmt.Errorf("store: alert %d: reopen: %w", id, err)
			}
		}
		for i := start; i < end; i++ {
			g := alerts[i].Alert.GroupID
			id, ok := ids[g]
			if !ok {
				return fmt.Errorf("store: alert %s: no id returned", g)
			}
			for _, sink := range alerts[i].Sinks {
				if _, err := tx.Exec(ctx, q.Delivery, id, sink, store.DeliveryPending, now); err != nil {
					return fmt.Errorf("store: alert %s to %s: %w", g, sink, err)
				}
			}
		}
		start = end
	}
	return nil
}

// alertRowsReturning runs query, an alert rows statement returning
// group_id, id and state, recording each id by group and the resolved.
func alertRowsReturning(ctx context.Context, tx Tx, query string, args []any, ids map[string]int64, resolved *[]int64) error {
	var res Rows
	var err error
	if p, ok := tx.(PreparedQuerier); ok {
		res, err = p.QueryPrepared(ctx, query, args...)
	} else {
		res, err = tx.Query(ctx, query, args...)
	}
	if err != nil {
		return err
	}
	for res.Next() {
		var g, state string
		var id int64
		if err := res.Scan(&g, &id, &state); err != nil {
			res.Close()
			return err
		}
		ids[g] = id
		if state == store.StateResolved {
			*resolved = append(*resolved, id)
		}
	}
	return errors.Join(res.Err(), res.Close())
}

// AlertUpdateRowsSQL builds UpdateRows' statement: update (ending in
// SET) the columns an upsert sets from n rows of Alert's 16 values (ph
// numbers the placeholders from 1), matched by group_id, returning
// group_id, id, state.
func AlertUpdateRowsSQL(update string, n int, ph func(i int) string) string {
	var b strings.Builder
	b.WriteString(update)
	b.WriteString(` kind = v.column2, severity = v.column3, device = v.column4, key = v.column5,
		summary = v.column6, fields = v.column7, labels = v.column8, evidence = v.column9, first_ns = v.column10,
		last_ns = v.column11, count = v.column12, updated_ns = v.column14, first_recv_ns = v.column15,
		last_recv_ns = v.column16 FROM (VALUES `)
	valuesSQL(&b, n, ph)
	b.WriteString(") AS v WHERE alerts.group_id = v.column1 RETURNING group_id, id, state")
	return b.String()
}

// FinishDelivery records d's outcome in tx. update sets state, attempts,
// next_ns, last_error, delivered_ns of (alert_id, sink); queued is the
// condition added, with one argument, when d.Queued is set; exists counts
// the rows of (alert_id, sink).
func FinishDelivery(ctx context.Context, tx Tx, update, queued, exists string, d *store.Delivery) error {
	args := []any{d.State, d.Attempts, UnixNs(d.NextAttempt), d.LastError, UnixNs(d.Delivered), d.AlertID, d.Sink}
	if !d.Queued.IsZero() {
		// Queued again meanwhile (SaveAlerts moved next_ns): leave it.
		update += queued
		args = append(args, UnixNs(d.Queued))
	}
	n, err := tx.Exec(ctx, update, args...)
	if err != nil {
		return fmt.Errorf("store: delivery of alert %d to %s: %w", d.AlertID, d.Sink, err)
	}
	if n != 1 {
		var count int
		if qerr := tx.QueryRow(ctx, exists, d.AlertID, d.Sink).Scan(&count); qerr == nil && count == 1 {
			return nil // queued again since: the newer version will be delivered
		}
		return fmt.Errorf("store: no delivery of alert %d to %s", d.AlertID, d.Sink)
	}
	return nil
}

// UseToken marks the enrollment token hash used at now in tx, if it may
// be: find selects device, labels, created_ns, expires_ns, used_ns,
// revoked_ns by hash, and mark sets used_ns of (hash) where it is 0.
func UseToken(ctx context.Context, tx Tx, find, mark string, hash []byte, now time.Time) (store.EnrollToken, error) {
	var t store.EnrollToken
	var r TokenRow
	err := tx.QueryRow(ctx, find, hash).Scan(&t.Device, &r.Labels, &r.Created, &r.Expires, &r.Used, &r.Revoked)
	switch {
	case errors.Is(err, ErrNoRows):
		return t, store.ErrTokenUnknown
	case err != nil:
		return t, fmt.Errorf("store: enrollment token: %w", err)
	}
	if err := r.Use(&t, hash, now); err != nil {
		return t, err
	}
	_, err = tx.Exec(ctx, mark, now.UnixNano(), hash)
	return t, err
}

// Record reads record index of batch seq of device: locate selects
// device_id, received_ns of the batch by (device name, seq), read reads
// its bytes. A batch or record not stored is not found, not an error.
func Record(ctx context.Context, db DB, locate string, read ReadBatch, device string, seq uint64, index int) (store.Record, bool, error) {
	if seq > 1<<63-1 || index < 0 {
		return store.Record{}, false, nil
	}
	var dev, recv int64
	err := db.QueryRow(ctx, locate, device, int64(seq)).Scan(&dev, &recv)
	if errors.Is(err, ErrNoRows) {
		return store.Record{}, false, nil
	}
	if err != nil {
		return store.Record{}, false, fmt.Errorf("store: batch %d of %s: %w", seq, device, err)
	}
	var o OpenBatch
	if err := o.Load(ctx, read, dev, int64(seq), recv); err != nil {
		return store.Record{}, false, err
	}
	recs := o.Batch().GetRecords()
	if index >= len(recs) {
		return store.Record{}, false, nil
	}
	return store.Record{Device: device, Seq: seq, Index: index, Received: NsTime(recv), Record: recs[index],
		Via: o.Batch().GetHeader().GetRelay()}, true, nil
}

// RevokeDevice stores revocation r in tx, its key ids encoded as keys and
// its time at (Unix ns), and revokes the device's unused enrollment
// tokens with it: insert inserts (device, time_ns, key_ids, reason, by);
// revokeTokens sets revoked_ns of the tokens of (device) that are neither
// used nor revoked.
func RevokeDevice(ctx context.Context, tx Tx, insert, revokeTokens string, r *store.Revocation, keys string, at int64) error {
	if _, err := tx.Exec(ctx, insert, r.Device, at, keys, r.Reason, r.By); err != nil {
		return fmt.Errorf("store: revocation: %w", err)
	}
	if _, err := tx.Exec(ctx, revokeTokens, at, r.Device); err != nil {
		return fmt.Errorf("store: revocation: enrollment tokens of %s: %w", r.Device, err)
	}
	return nil
}

// Write runs fn in a transaction as one write of its own on the
// engine's queue.
type Write func(ctx context.Context, fn func(context.Context, Tx) error) error

// Exec runs query as one write of its own; what names it in errors. It
// returns the number of rows changed.
func Exec(ctx context.Context, write Write, what, query string, args ...any) (n int64, err error) {
	err = write(ctx, func(ctx context.Context, tx Tx) (err error) {
		n, err = tx.Exec(ctx, query, args...)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, err)
	}
	return n, nil
}

// CreateToken stores enrollment token t, created at created: insert
// inserts (hash, device, labels, created_ns, expires_ns).
func CreateToken(ctx context.Context, write Write, insert string, t *store.EnrollToken, created time.Time) error {
	if len(t.Hash) == 0 || t.Device == "" {
		return errors.New("store: enrollment token without hash or device")
	}
	labels, err := EncodeLabels(t.Labels)
	if err != nil {
		return err
	}
	_, err = Exec(ctx, write, "enrollment token", insert, t.Hash, t.Device, labels, created.UnixNano(), UnixNs(t.Expires))
	return err
}

// Revoke stores revocation r at at with RevokeDevice.
func Revoke(ctx context.Context, write Write, insert, revokeTokens string, r *store.Revocation, at time.Time) error {
	if r.Device == "" {
		return errors.New("store: revocation without a device")
	}
	keys, err := EncodeKeyIDs(r.KeyIDs)
	if err != nil {
		return err
	}
	return write(ctx, func(ctx context.Context, tx Tx) error {
		return RevokeDevice(ctx, tx, insert, revokeTokens, r, keys, at.UnixNano())
	})
}

// CreateOperatorToken stores operator token t, created at created:
// insert inserts (hash, name, created_ns, expires_ns).
func CreateOperatorToken(ctx context.Context, write Write, insert string, t *store.OperatorToken, created time.Time) error {
	if len(t.Hash) == 0 || t.Name == "" {
		return errors.New("store: operator token without hash or name")
	}
	_, err := Exec(ctx, write, "operator token", insert, t.Hash, t.Name, created.UnixNano(), UnixNs(t.Expires))
	return err
}

// RevokeOperatorTokens revokes the tokens of operator name at at: update
// sets revoked_ns of (name) where it is 0.
func RevokeOperatorTokens(ctx context.Context, write Write, update, name string, at time.Time) (int, error) {
	n, err := Exec(ctx, write, "revoke operator tokens of "+name, update, at.UnixNano(), name)
	return int(n), err
}
