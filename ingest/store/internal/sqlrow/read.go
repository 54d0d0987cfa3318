package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// Filter collects the conditions of a WHERE clause that apply, each
// written with ? for its one argument, and their arguments in order. An
// engine renders them in its own placeholder syntax.
type Filter struct {
	Conds []string
	Args  []any
}

// Add adds cond with its argument arg if applies.
func (f *Filter) Add(applies bool, cond string, arg any) {
	if applies {
		f.Conds = append(f.Conds, cond)
		f.Args = append(f.Args, arg)
	}
}

// Placeholders is how an engine writes a statement's arguments.
type Placeholders bool

const (
	Question Placeholders = false // ?, ?, ... (SQLite)
	Dollar   Placeholders = true  // $1, $2, ... (PostgreSQL)
)

// Where is a WHERE clause of the conditions (none: ""), its ? written as
// p numbers them in the order the arguments were added.
func (f *Filter) Where(p Placeholders) string {
	if len(f.Conds) == 0 {
		return ""
	}
	if p == Question {
		return " WHERE " + strings.Join(f.Conds, " AND ")
	}
	var b strings.Builder
	n := 0
	for i, c := range f.Conds {
		if i > 0 {
			b.WriteString(" AND ")
		}
		for _, part := range strings.SplitAfter(c, "?") {
			if strings.HasSuffix(part, "?") {
				n++
				b.WriteString(part[:len(part)-1] + "$" + strconv.Itoa(n))
			} else {
				b.WriteString(part)
			}
		}
	}
	return " WHERE " + b.String()
}

// Limit is a LIMIT clause for n rows (none when n is 0), its argument
// appended after those of the conditions; call it after Where.
func (f *Filter) Limit(n int, p Placeholders) string {
	if n == 0 {
		return ""
	}
	f.Args = append(f.Args, n)
	if p == Question {
		return " LIMIT ?"
	}
	return " LIMIT $" + strconv.Itoa(len(f.Args))
}

// EventFilter selects the integrity events e (joined with devices d)
// matching q.
func EventFilter(q *store.EventQuery) Filter {
	var f Filter
	f.Add(q.Device != "", "d.name = ?", q.Device)
	f.Add(q.Kind != "", "e.kind = ?", q.Kind)
	f.Add(!q.Since.IsZero(), "e.time_ns >= ?", q.Since.UnixNano())
	f.Add(!q.Until.IsZero(), "e.time_ns < ?", q.Until.UnixNano())
	return f
}

// SegmentFilter selects the segments s that may hold records matching q:
// a segment overlaps the time bounds when its newest record is not before
// Since and its oldest is before Until.
func SegmentFilter(q *store.RecordQuery) Filter {
	var f Filter
	f.Add(q.Device != "", "s.device_id = (SELECT id FROM devices WHERE name = ?)", q.Device)
	f.Add(q.Source != "", "s.source = ?", q.Source)
	f.Add(q.Kind != offboxv1.Kind_KIND_UNSPECIFIED, "s.kind = ?", int64(q.Kind))
	f.Add(!q.Since.IsZero(), "s.max_time_ns >= ?", q.Since.UnixNano())
	f.Add(!q.Until.IsZero(), "s.min_time_ns < ?", q.Until.UnixNano())
	return f
}

// OpenBatch keeps the last decoded batch so consecutive segments of one
// batch decode it once. The engine reads the bytes (Holds says when it
// need not).
type OpenBatch struct {
	dev, seq int64
	b        *offboxv1.Batch
}

// Holds reports whether batch (dev, seq) is the one open.
func (o *OpenBatch) Holds(dev, seq int64) bool {
	return o.b != nil && o.dev == dev && o.seq == seq
}

// Open decodes raw, the stored bytes of batch (dev, seq), as the open
// batch.
func (o *OpenBatch) Open(dev, seq int64, raw []byte) error {
	b, err := seal.Open(raw)
	if err != nil {
		return fmt.Errorf("store: batch %d of device %d: %w", seq, dev, err)
	}
	o.dev, o.seq, o.b = dev, seq, b
	return nil
}

// Batch is the open batch (nil before Open).
func (o *OpenBatch) Batch() *offboxv1.Batch { return o.b }

// Records returns records [first, first+count) of the open batch. A
// segment naming records the batch lacks is an index that no longer
// matches the bytes, an error rather than a short read.
func (o *OpenBatch) Records(first, count int) ([]*offboxv1.Record, error) {
	recs := o.b.GetRecords()
	if first < 0 || count < 0 || first+count > len(recs) {
		return nil, fmt.Errorf("store: index of batch %d of device %d names records [%d, %d) of %d; run verify",
			o.seq, o.dev, first, first+count, len(recs))
	}
	return recs[first : first+count], nil
}

// YieldSegment yields the records of one segment row that match q's time
// bounds: recs are the records of batch seq of device name, received at
// recv (Unix ns), from index first. It returns false once yield does.
func YieldSegment(q *store.RecordQuery, name string, seq, recv int64, first int, recs []*offboxv1.Record,
	yield func(store.Record, error) bool) bool {
	for i, r := range recs {
		if !q.MatchTime(r.GetTimeNs()) {
			continue
		}
		rec := store.Record{Device: name, Seq: uint64(seq), Index: first + i, Received: NsTime(recv), Record: r}
		if !yield(rec, nil) {
			return false
		}
	}
	return true
}

// SegmentRef names one segment row's records: [First, First+Count) of
// batch (Dev, Seq), received at Recv (Unix ns; an engine whose batches
// need not be found by it leaves it 0).
type SegmentRef struct{ Dev, Seq, Recv, First, Count int64 }

// SegmentCount counts the records matching a query's time bounds from
// segment rows, decoding only the batches it must: a segment whose oldest
// and newest records are both within the bounds counts whole, and only a
// segment that straddles a bound is kept to be counted record by record.
type SegmentCount struct {
	N          int64
	Straddling []SegmentRef // in the order added, for the engine to decode and pass to AddRecords
}

// Add counts segment g, whose records' times run from minNs to maxNs.
func (c *SegmentCount) Add(q *store.RecordQuery, g SegmentRef, minNs, maxNs int64) {
	if q.MatchTime(minNs) && q.MatchTime(maxNs) {
		c.N += g.Count
	} else {
		c.Straddling = append(c.Straddling, g)
	}
}

// AddRecords counts the records of a straddling segment that match q.
func (c *SegmentCount) AddRecords(q *store.RecordQuery, recs []*offboxv1.Record) {
	for _, r := range recs {
		if q.MatchTime(r.GetTimeNs()) {
			c.N++
		}
	}
}

// ScanBatch scans a stored batch's columns (row, device_id, name, seq,
// digest, prev_hash, key_id, signature, received_ns, sealed_ns, boot_id,
// session_id, record_count, dropped_records, dropped_bytes, bytes),
// leaving Segments to the engine; dev is the device's row id.
func ScanBatch(r Scanner) (b *store.StoredBatch, dev int64, err error) {
	b = &store.StoredBatch{}
	var seq, recv, count, dropRecs, dropBytes int64
	if err := r.Scan(&b.Row, &dev, &b.Device, &seq, &b.Digest, &b.PrevHash, &b.KeyID, &b.Signature, &recv, &b.SealedNs,
		&b.BootID, &b.SessionID, &count, &dropRecs, &dropBytes, &b.Bytes); err != nil {
		return nil, 0, fmt.Errorf("store: batch: %w", err)
	}
	b.Seq, b.Received, b.RecordCount = uint64(seq), NsTime(recv), int(count)
	b.DroppedRecords, b.DroppedBytes = uint64(dropRecs), uint64(dropBytes)
	return b, dev, nil
}

// ReadBatch reads the stored bytes of batch (dev, seq), received at recv
// (Unix ns; an engine that finds batches without it ignores it).
type ReadBatch func(ctx context.Context, dev, seq, recv int64) ([]byte, error)

// Load makes batch (dev, seq) the open one, reading it with read unless
// it already is.
func (o *OpenBatch) Load(ctx context.Context, read ReadBatch, dev, seq, recv int64) error {
	if o.Holds(dev, seq) {
		return nil
	}
	raw, err := read(ctx, dev, seq, recv)
	if err != nil {
		return fmt.Errorf("store: batch %d of device %d: %w", seq, dev, err)
	}
	return o.Open(dev, seq, raw)
}

// SegmentRecords returns records [first, first+count) of batch (dev, seq),
// received at recv, loading it with read unless it is open.
func (o *OpenBatch) SegmentRecords(ctx context.Context, read ReadBatch, dev, seq, recv int64, first, count int) ([]*offboxv1.Record, error) {
	if err := o.Load(ctx, read, dev, seq, recv); err != nil {
		return nil, err
	}
	return o.Records(first, count)
}

// WalkRecords yields the records matching q of the segment rows, which
// hold device_id, device name, batch_seq, first_index, count, received_ns
// in the order the records are to be yielded; read reads a batch's bytes.
// It closes rows.
func WalkRecords(ctx context.Context, q *store.RecordQuery, rows Rows, read ReadBatch, yield func(store.Record, error) bool) {
	defer rows.Close()
	var cur OpenBatch
	for rows.Next() {
		var dev, seq, recv int64
		var name string
		var first, count int
		if err := rows.Scan(&dev, &name, &seq, &first, &count, &recv); err != nil {
			yield(store.Record{}, err)
			return
		}
		recs, err := cur.SegmentRecords(ctx, read, dev, seq, recv, first, count)
		if err != nil {
			yield(store.Record{}, err)
			return
		}
		via := cur.Batch().GetHeader().GetRelay()
		if !YieldSegment(q, name, seq, recv, first, recs, func(r store.Record, err error) bool {
			r.Via = via
			return yield(r, err)
		}) {
			return
		}
	}
	if err := rows.Err(); err != nil {
		yield(store.Record{}, err)
	}
}

// CountSegments counts the records matching q's time bounds in the
// segment rows, which hold device_id, batch_seq, received_ns, first_index,
// count, min_time_ns, max_time_ns. rows are closed before any batch is
// read, so a count holds one connection at a time.
func CountSegments(ctx context.Context, q *store.RecordQuery, rows Rows, read ReadBatch) (int64, error) {
	var n SegmentCount
	for rows.Next() {
		var g SegmentRef
		var lo, hi int64
		if err := rows.Scan(&g.Dev, &g.Seq, &g.Recv, &g.First, &g.Count, &lo, &hi); err != nil {
			rows.Close()
			return 0, err
		}
		n.Add(q, g, lo, hi)
	}
	if err := closeRows(rows); err != nil {
		return 0, err
	}
	var cur OpenBatch
	for _, g := range n.Straddling {
		recs, err := cur.SegmentRecords(ctx, read, g.Dev, g.Seq, g.Recv, int(g.First), int(g.Count))
		if err != nil {
			return 0, err
		}
		n.AddRecords(q, recs)
	}
	return n.N, nil
}

// Segments reads the segment rows of batch (dev, seq), received at recv.
type Segments func(ctx context.Context, dev, seq, recv int64) ([]store.Segment, error)

// ScanStoredBatch scans a batch row (ScanBatch) and reads its segments.
func ScanStoredBatch(ctx context.Context, r Scanner, segments Segments) (*store.StoredBatch, error) {
	b, dev, err := ScanBatch(r)
	if err != nil {
		return nil, err
	}
	if b.Segments, err = segments(ctx, dev, int64(b.Seq), b.Received.UnixNano()); err != nil {
		return nil, fmt.Errorf("store: segments of %s seq %d: %w", b.Device, b.Seq, err)
	}
	return b, nil
}

// Batches yields the stored batches of device in sequence order: idQuery
// selects the device's row id by name, listQuery the batch rows of that
// id, which scan scans. An unknown device has none.
func Batches(ctx context.Context, db DB, idQuery, listQuery, device string,
	scan func(context.Context, Scanner) (*store.StoredBatch, error)) iter.Seq2[*store.StoredBatch, error] {
	return func(yield func(*store.StoredBatch, error) bool) {
		var dev int64
		err := db.QueryRow(ctx, idQuery, device).Scan(&dev)
		if errors.Is(err, ErrNoRows) {
			return
		}
		if err != nil {
			yield(nil, err)
			return
		}
		rows, err := db.Query(ctx, listQuery, dev)
		if err != nil {
			yield(nil, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scan(ctx, rows)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(b, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// Records yields the records matching q: query selects the segment rows
// WalkRecords reads, with args.
func Records(ctx context.Context, db DB, q *store.RecordQuery, read ReadBatch, query string, args ...any) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		rows, err := db.Query(ctx, query, args...)
		if err != nil {
			yield(store.Record{}, fmt.Errorf("store: records: %w", err))
			return
		}
		WalkRecords(ctx, q, rows, read, yield)
	}
}

// CountRecords counts the records matching q: without time bounds sum
// selects the sum of the matching segments' counts; with them, segs
// selects the segment rows CountSegments reads. Both take args.
func CountRecords(ctx context.Context, db DB, q *store.RecordQuery, read ReadBatch, sum, segs string, args ...any) (int64, error) {
	if q.Since.IsZero() && q.Until.IsZero() {
		var n int64
		err := db.QueryRow(ctx, sum, args...).Scan(&n)
		return n, err
	}
	rows, err := db.Query(ctx, segs, args...)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return CountSegments(ctx, q, rows, read)
}
