package sqlrow

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// SQL is an engine's statements for the methods of Core, each written in
// the engine's own dialect (placeholders, functions, locking clauses).
// Each says what it selects or changes, with its arguments in order; the
// funcs build a statement around a WHERE clause (and LIMIT clause) that
// Core renders in the engine's Placeholders.
type SQL struct {
	Placeholders Placeholders

	Head        string // head_seq, head_hash of the device (name)
	Checkpoints string // ScanCheckpoint's columns of the device (name), by source in byte order
	BatchDigest string // digest of the batch (device name, seq)
	Devices     string // ScanDevice's columns of every device, by id
	Keys        string // ScanKey's columns of the device (name), by first_seen_ns
	LocateBatch string // device_id, received_ns of the batch (device name, seq)

	Events        func(where, limit string) string // ScanEvent's columns, by id
	Records       func(where string) string        // WalkRecords' segment columns, by device_id, batch_seq, first_index
	CountSum      func(where string) string        // the sum of the segments' counts, as a bigint
	CountSegments func(where string) string        // CountSegments' segment columns, by device_id, batch_seq, first_index
	Alerts        func(where, limit string) string // ScanAlert's columns, newest receive time first

	DetectCursor      string // ScanCursor's columns of the detect cursor
	DetectStates      string // device, state of every detect state
	Save              SaveSQL
	InsertAccess      string // inserts (time_ns, who, via, remote, what)
	AccessesAfter     string // ScanAccess's columns of the accesses with id > (after), by id, LIMIT (limit)
	DueDeliveries     string // ScanDelivery's columns of the pending deliveries to (sink) due at (now ns), LIMIT (limit)
	PendingDeliveries string // sink, count of the pending deliveries per sink
	// FinishDelivery, FinishQueued, DeliveryExists are FinishDelivery's
	// update, queued and exists.
	FinishDelivery, FinishQueued, DeliveryExists string

	CreateToken          string // inserts (hash, device, labels, created_ns, expires_ns)
	FindToken, MarkToken string // UseToken's find and mark
	Revoke, RevokeTokens string // RevokeDevice's insert and revokeTokens
	Revocations          string // ScanRevocation's columns of every revocation, by id
	CreateOperatorToken  string // inserts (hash, name, created_ns, expires_ns)
	OperatorToken        string // name, created_ns, expires_ns of the unrevoked token (hash)
	OperatorTokens       string // ScanOperatorToken's columns of every token, by created_ns, name
	RevokeOperatorTokens string // RevokeOperatorTokens' update

	Appliance ApplianceSQL // appliance.go
}

// Engine is what an engine gives its Core: its statements, its read
// handle and write queue, and the steps whose driver calls, transactions
// and locking are its own, each run inside a transaction of type T.
type Engine[T any] struct {
	SQL       *SQL
	Read      DB                             // the read handle
	Queue     func() (*Queue[T], error)      // the write queue, or why there is none (read-only)
	Tx        func(T) Tx                     // a write transaction as a Tx
	Now       func() time.Time               // the collector's clock
	ReadBatch ReadBatch                      // a stored batch's bytes
	DeviceID  DeviceID[T]                    // finds or creates a device row
	LockOrder func(context.Context, T) error // nil: none; taken before an access takes its id

	// Commit stores a batch PrepareCommit readied.
	Commit func(ctx context.Context, tx T, b *store.Batch, dec *offboxv1.Batch) (CommitResult, error)
	// InsertEvent stores e for device row dev (e.Time set).
	InsertEvent func(ctx context.Context, tx T, dev int64, e store.IntegrityEvent) error
	// InsertKey stores k for device row dev, first seen at seen (ns),
	// unless it is there.
	InsertKey func(ctx context.Context, tx T, dev int64, k *store.Key, seen int64) error
	// InsertSession stores ss for device row dev, connected at at (ns),
	// and returns its id.
	InsertSession func(ctx context.Context, tx T, dev int64, ss *store.Session, at int64) (int64, error)
	// EndSession sets the end (ns) and counts of session id.
	EndSession func(ctx context.Context, tx T, id, end, batches, bytes int64) error
	// Prune removes what was received before cutoff, at now, the engine's
	// way, holding or running on q so that Close waits for it.
	Prune func(ctx context.Context, q *Queue[T], cutoff, now time.Time) ([]store.Pruned, error)
	// AlertConds adds to f the conditions of q that each engine writes
	// its own way: severity and labels.
	AlertConds func(f *Filter, q *store.AlertQuery) error
	// Triage is the statements of triage and escalation.
	Triage *TriageSQL
}

// Core is the part of a store both engines share whole: the methods of
// store.Store whose logic is the same on either, run on the statements
// and steps of the engine that embeds it.
type Core[T any] struct{ e Engine[T] }

// NewCore is the Core of engine e.
func NewCore[T any](e Engine[T]) Core[T] { return Core[T]{e} }

// TimeOr is t, or now() for the zero time: a time the caller does not
// give is the collector's.
func TimeOr(t time.Time, now func() time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t
}

func (c *Core[T]) timeOr(t time.Time) time.Time { return TimeOr(t, c.e.Now) }

// do runs fn as one write of its own, size bytes against the group limit.
func (c *Core[T]) do(ctx context.Context, size int, fn func(context.Context, T) error) error {
	q, err := c.e.Queue()
	if err != nil {
		return err
	}
	return q.Do(ctx, size, fn)
}

// write is a Write on the engine's queue.
func (c *Core[T]) write(ctx context.Context, fn func(context.Context, Tx) error) error {
	return c.do(ctx, 0, func(ctx context.Context, tx T) error { return fn(ctx, c.e.Tx(tx)) })
}

func (c *Core[T]) filter(f *Filter, limit int) (where, lim string) {
	where = f.Where(c.e.SQL.Placeholders)
	return where, f.Limit(limit, c.e.SQL.Placeholders)
}

// CommitBatch implements store.Ingester. Concurrent calls (other devices'
// streams) are committed together by the writer.
func (c *Core[T]) CommitBatch(ctx context.Context, b *store.Batch) error {
	q, err := c.e.Queue()
	if err != nil {
		return err
	}
	return Commit(ctx, q, b, c.e.Commit)
}

// AddIntegrityEvent implements store.Ingester.
func (c *Core[T]) AddIntegrityEvent(ctx context.Context, e store.IntegrityEvent) error {
	q, err := c.e.Queue()
	if err != nil {
		return err
	}
	return OnDevice(ctx, q, c.e.DeviceID, e.Device, c.timeOr(e.Time), func(ctx context.Context, tx T, dev int64) error {
		return c.e.InsertEvent(ctx, tx, dev, e)
	})
}

// PutKey implements store.Ingester.
func (c *Core[T]) PutKey(ctx context.Context, k store.Key) error {
	q, err := c.e.Queue()
	if err != nil {
		return err
	}
	seen := c.timeOr(k.FirstSeen)
	return OnDevice(ctx, q, c.e.DeviceID, k.Device, seen, func(ctx context.Context, tx T, dev int64) error {
		if err := c.e.InsertKey(ctx, tx, dev, &k, seen.UnixNano()); err != nil {
			return fmt.Errorf("store: key: %w", err)
		}
		return nil
	})
}

// StartSession implements store.Ingester.
func (c *Core[T]) StartSession(ctx context.Context, ss store.Session) (id int64, err error) {
	at := c.timeOr(ss.Connected)
	err = c.do(ctx, 0, func(ctx context.Context, tx T) error {
		dev, err := c.e.DeviceID(ctx, tx, ss.Device, at)
		if err != nil {
			return err
		}
		if id, err = c.e.InsertSession(ctx, tx, dev, &ss, at.UnixNano()); err != nil {
			return fmt.Errorf("store: session: %w", err)
		}
		return nil
	})
	return id, err
}

// EndSession implements store.Ingester.
func (c *Core[T]) EndSession(ctx context.Context, id int64, end time.Time, batches, bytes int64) error {
	at := c.timeOr(end).UnixNano()
	return c.do(ctx, 0, func(ctx context.Context, tx T) error {
		return c.e.EndSession(ctx, tx, id, at, batches, bytes)
	})
}

// Prune implements store.Retention.
func (c *Core[T]) Prune(ctx context.Context, cutoff, now time.Time) ([]store.Pruned, error) {
	q, err := c.e.Queue()
	if err != nil {
		return nil, err
	}
	return c.e.Prune(ctx, q, cutoff, c.timeOr(now))
}

// Head implements store.Ingester.
func (c *Core[T]) Head(ctx context.Context, device string) (store.Head, error) {
	return Head(ctx, c.e.Read, c.e.SQL.Head, device)
}

// Checkpoints implements store.Ingester.
func (c *Core[T]) Checkpoints(ctx context.Context, device string) ([]store.Checkpoint, error) {
	return All(ctx, c.e.Read, "checkpoints of "+device, ScanCheckpoint, c.e.SQL.Checkpoints, device)
}

// BatchDigest implements store.Ingester.
func (c *Core[T]) BatchDigest(ctx context.Context, device string, seq uint64) ([32]byte, bool, error) {
	return Digest(ctx, c.e.Read, c.e.SQL.BatchDigest, device, seq)
}

// Devices implements store.Reader.
func (c *Core[T]) Devices(ctx context.Context) ([]store.Device, error) {
	return All(ctx, c.e.Read, "devices", ScanDevice, c.e.SQL.Devices)
}

// Keys implements store.Reader.
func (c *Core[T]) Keys(ctx context.Context, device string) ([]store.Key, error) {
	keys, err := All(ctx, c.e.Read, "keys of "+device, ScanKey, c.e.SQL.Keys, device)
	for i := range keys {
		keys[i].Device = device
	}
	return keys, err
}

// IntegrityEvents implements store.Reader.
func (c *Core[T]) IntegrityEvents(ctx context.Context, q store.EventQuery) ([]store.IntegrityEvent, error) {
	f := EventFilter(&q)
	return c.events(ctx, &f, 0)
}

// EventsAfter implements store.AlertStore.
func (c *Core[T]) EventsAfter(ctx context.Context, after int64, limit int) ([]store.IntegrityEvent, error) {
	f := Filter{Conds: []string{"e.id > ?"}, Args: []any{after}}
	return c.events(ctx, &f, Limit(limit))
}

// events returns at most limit (0: all) integrity events f selects, in
// ID order.
func (c *Core[T]) events(ctx context.Context, f *Filter, limit int) ([]store.IntegrityEvent, error) {
	query := c.e.SQL.Events(c.filter(f, limit))
	return All(ctx, c.e.Read, "integrity events", ScanEvent, query, f.Args...)
}

// Records implements store.Reader.
func (c *Core[T]) Records(ctx context.Context, q store.RecordQuery) iter.Seq2[store.Record, error] {
	f := SegmentFilter(&q)
	return Records(ctx, c.e.Read, &q, c.e.ReadBatch, c.e.SQL.Records(f.Where(c.e.SQL.Placeholders)), f.Args...)
}

// CountRecords implements store.Reader.
func (c *Core[T]) CountRecords(ctx context.Context, q store.RecordQuery) (int64, error) {
	f := SegmentFilter(&q)
	where := f.Where(c.e.SQL.Placeholders)
	return CountRecords(ctx, c.e.Read, &q, c.e.ReadBatch, c.e.SQL.CountSum(where), c.e.SQL.CountSegments(where), f.Args...)
}

// Record implements store.AlertStore.
func (c *Core[T]) Record(ctx context.Context, device string, seq uint64, index int) (store.Record, bool, error) {
	return Record(ctx, c.e.Read, c.e.SQL.LocateBatch, c.e.ReadBatch, device, seq, index)
}

// DetectCursor implements store.AlertStore.
func (c *Core[T]) DetectCursor(ctx context.Context) (store.Cursor, error) {
	return ScanCursor(c.e.Read.QueryRow(ctx, c.e.SQL.DetectCursor))
}

// DetectStates implements store.AlertStore.
func (c *Core[T]) DetectStates(ctx context.Context) (map[string][]byte, error) {
	return Map[string, []byte](ctx, c.e.Read, "detect states", c.e.SQL.DetectStates)
}

// RecordAccess implements store.AlertStore. The engine's LockOrder, if
// any, is taken before the access takes its id, so AccessesAfter never
// skips one committed later.
func (c *Core[T]) RecordAccess(ctx context.Context, a store.Access) error {
	at := c.timeOr(a.Time).UnixNano()
	err := c.do(ctx, 0, func(ctx context.Context, tx T) error {
		if c.e.LockOrder != nil {
			if err := c.e.LockOrder(ctx, tx); err != nil {
				return err
			}
		}
		_, err := c.e.Tx(tx).Exec(ctx, c.e.SQL.InsertAccess, at, a.Who, a.Via, a.Remote, a.What)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: access: %w", err)
	}
	return nil
}

// AccessesAfter implements store.AlertStore.
func (c *Core[T]) AccessesAfter(ctx context.Context, after int64, limit int) ([]store.Access, error) {
	return All(ctx, c.e.Read, fmt.Sprint("accesses after ", after), ScanAccess, c.e.SQL.AccessesAfter, after, Limit(limit))
}

// SaveAlerts implements store.AlertStore.
func (c *Core[T]) SaveAlerts(ctx context.Context, save store.AlertSave) error {
	if _, err := c.e.Queue(); err != nil {
		return err
	}
	now := c.timeOr(save.Now).UnixNano()
	rows, size, err := EncodeSave(&save)
	if err != nil {
		return err
	}
	return c.do(ctx, size, func(ctx context.Context, tx T) error {
		return SaveAlerts(ctx, c.e.Tx(tx), &c.e.SQL.Save, &save, rows, now)
	})
}

// AlertFilter selects the alerts a matching q, the engine adding its
// conditions on severity and labels (conds); the receive times are the
// collector's clock, not the device's (store.AlertQuery).
func AlertFilter(q *store.AlertQuery, conds func(*Filter, *store.AlertQuery) error) (Filter, error) {
	var f Filter
	f.Add(q.Device != "", "a.device = ?", q.Device)
	f.Add(q.Kind != "", "a.kind = ?", q.Kind)
	f.Add(q.State != "", "a.state = ?", q.State)
	if len(q.Kinds) > 0 {
		f.Conds = append(f.Conds, "("+strings.TrimSuffix(strings.Repeat("a.kind = ? OR ", len(q.Kinds)), " OR ")+")")
		for _, k := range q.Kinds {
			f.Args = append(f.Args, k)
		}
	}
	if len(q.IDs) > 0 {
		f.Conds = append(f.Conds, "("+strings.TrimSuffix(strings.Repeat("a.id = ? OR ", len(q.IDs)), " OR ")+")")
		for _, id := range q.IDs {
			f.Args = append(f.Args, id)
		}
	}
	if err := conds(&f, q); err != nil {
		return f, err
	}
	f.Add(!q.Since.IsZero(), "a.last_recv_ns >= ?", UnixNs(q.Since))
	f.Add(!q.Until.IsZero(), "a.last_recv_ns < ?", UnixNs(q.Until))
	if q.Limit < 0 {
		return f, fmt.Errorf("store: alert query limit %d", q.Limit)
	}
	return f, nil
}

// Alerts implements store.AlertStore.
func (c *Core[T]) Alerts(ctx context.Context, q store.AlertQuery) ([]store.Alert, error) {
	f, err := AlertFilter(&q, c.e.AlertConds)
	if err != nil {
		return nil, err
	}
	return All(ctx, c.e.Read, "alerts", ScanAlertRow, c.e.SQL.Alerts(c.filter(&f, q.Limit)), f.Args...)
}

// DueDeliveries implements store.AlertStore.
func (c *Core[T]) DueDeliveries(ctx context.Context, sink string, now time.Time, limit int) ([]store.Delivery, error) {
	return All(ctx, c.e.Read, "due deliveries to "+sink, ScanDelivery, c.e.SQL.DueDeliveries, sink, UnixNs(now), Limit(limit))
}

// FinishDelivery implements store.AlertStore.
func (c *Core[T]) FinishDelivery(ctx context.Context, d store.Delivery) error {
	update, queued, exists := c.e.SQL.FinishDelivery, c.e.SQL.FinishQueued, c.e.SQL.DeliveryExists
	if d.Escalation {
		update, queued, exists = c.e.Triage.FinishEscalation, c.e.Triage.FinishEscalationQueued, c.e.Triage.EscalationExists
	}
	return c.write(ctx, func(ctx context.Context, tx Tx) error {
		return FinishDelivery(ctx, tx, update, queued, exists, &d)
	})
}

// PendingDeliveries implements store.AlertStore.
func (c *Core[T]) PendingDeliveries(ctx context.Context) (map[string]int, error) {
	return Map[string, int](ctx, c.e.Read, "pending deliveries", c.e.SQL.PendingDeliveries)
}

// CreateToken implements store.TrustStore.
func (c *Core[T]) CreateToken(ctx context.Context, t store.EnrollToken) error {
	return CreateToken(ctx, c.write, c.e.SQL.CreateToken, &t, c.timeOr(t.Created))
}

// UseToken implements store.TrustStore. The engine's FindToken and
// MarkToken run in one write transaction, which the engine makes safe
// against two enrollments racing with one token.
func (c *Core[T]) UseToken(ctx context.Context, hash []byte, now time.Time) (t store.EnrollToken, err error) {
	err = c.write(ctx, func(ctx context.Context, tx Tx) (err error) {
		t, err = UseToken(ctx, tx, c.e.SQL.FindToken, c.e.SQL.MarkToken, hash, now)
		return err
	})
	if err != nil {
		return store.EnrollToken{}, err
	}
	return t, nil
}

// Revoke implements store.TrustStore.
func (c *Core[T]) Revoke(ctx context.Context, r store.Revocation) error {
	return Revoke(ctx, c.write, c.e.SQL.Revoke, c.e.SQL.RevokeTokens, &r, c.timeOr(r.Time))
}

// Revocations implements store.TrustStore.
func (c *Core[T]) Revocations(ctx context.Context) ([]store.Revocation, error) {
	return All(ctx, c.e.Read, "revocations", ScanRevocation, c.e.SQL.Revocations)
}

// CreateOperatorToken implements store.TrustStore.
func (c *Core[T]) CreateOperatorToken(ctx context.Context, t store.OperatorToken) error {
	return CreateOperatorToken(ctx, c.write, c.e.SQL.CreateOperatorToken, &t, c.timeOr(t.Created))
}

// OperatorToken implements store.TrustStore.
func (c *Core[T]) OperatorToken(ctx context.Context, hash []byte) (store.OperatorToken, bool, error) {
	return OperatorToken(ctx, c.e.Read, c.e.SQL.OperatorToken, hash)
}

// OperatorTokens implements store.TrustStore.
func (c *Core[T]) OperatorTokens(ctx context.Context) ([]store.OperatorToken, error) {
	return All(ctx, c.e.Read, "operator tokens", ScanOperatorToken, c.e.SQL.OperatorTokens)
}

// RevokeOperatorTokens implements store.TrustStore.
func (c *Core[T]) RevokeOperatorTokens(ctx context.Context, name string, at time.Time) (int, error) {
	return RevokeOperatorTokens(ctx, c.write, c.e.SQL.RevokeOperatorTokens, name, c.timeOr(at))
}
