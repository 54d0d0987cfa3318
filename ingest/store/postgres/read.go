package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// Head implements store.Ingester.
func (s *Store) Head(ctx context.Context, device string) (store.Head, error) {
	var seq int64
	var hash []byte
	err := pgQueryRow(ctx, s.pool, `SELECT head_seq, head_hash FROM devices WHERE name = $1`, device).Scan(&seq, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Head{}, nil
	}
	if err != nil {
		return store.Head{}, fmt.Errorf("store: head of %s: %w", device, err)
	}
	return store.Head{Seq: uint64(seq), Hash: hash}, nil
}

// Checkpoints implements store.Ingester.
func (s *Store) Checkpoints(ctx context.Context, device string) ([]store.Checkpoint, error) {
	rows, err := pgQuery(ctx, s.pool, `SELECT c.source, c.file_dev, c.file_inode, c.fp_len, c.fp, c."offset"
		FROM checkpoints c JOIN devices d ON d.id = c.device_id WHERE d.name = $1 ORDER BY c.source COLLATE "C"`, device)
	if err != nil {
		return nil, fmt.Errorf("store: checkpoints of %s: %w", device, err)
	}
	defer rows.Close()
	var cps []store.Checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		cps = append(cps, cp)
	}
	return cps, rows.Err()
}

// BatchDigest implements store.Ingester. batch_log says which partition
// holds the batch, so only that one is searched.
func (s *Store) BatchDigest(ctx context.Context, device string, seq uint64) ([32]byte, bool, error) {
	var d []byte
	err := pgQueryRow(ctx, s.pool, `SELECT b.digest FROM batch_log l JOIN devices d ON d.id = l.device_id
		JOIN batches b ON b.device_id = l.device_id AND b.seq = l.seq AND b.received_ns = l.received_ns
		WHERE d.name = $1 AND l.seq = $2`, device, int64(seq)).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return [32]byte{}, false, nil
	}
	if err != nil {
		return [32]byte{}, false, fmt.Errorf("store: digest of %s seq %d: %w", device, seq, err)
	}
	var out [32]byte
	if len(d) != len(out) {
		return out, false, fmt.Errorf("store: digest of %s seq %d has %d bytes", device, seq, len(d))
	}
	copy(out[:], d)
	return out, true, nil
}

// Devices implements store.Reader.
func (s *Store) Devices(ctx context.Context) ([]store.Device, error) {
	rows, err := pgQuery(ctx, s.pool, `SELECT name, first_seen_ns, last_seen_ns, head_seq, head_hash FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: devices: %w", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		var d store.Device
		var first, last, seq int64
		if err := rows.Scan(&d.Name, &first, &last, &seq, &d.Head.Hash); err != nil {
			return nil, err
		}
		d.FirstSeen, d.LastSeen, d.Head.Seq = nsTime(first), nsTime(last), uint64(seq)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Keys implements store.Reader.
func (s *Store) Keys(ctx context.Context, device string) ([]store.Key, error) {
	rows, err := pgQuery(ctx, s.pool, `SELECT k.key_id, k.cert_der, k.first_seen_ns
		FROM keys k JOIN devices d ON d.id = k.device_id WHERE d.name = $1 ORDER BY k.first_seen_ns`, device)
	if err != nil {
		return nil, fmt.Errorf("store: keys of %s: %w", device, err)
	}
	defer rows.Close()
	var out []store.Key
	for rows.Next() {
		k := store.Key{Device: device}
		var seen int64
		if err := rows.Scan(&k.KeyID, &k.CertDER, &seen); err != nil {
			return nil, err
		}
		k.FirstSeen = nsTime(seen)
		out = append(out, k)
	}
	return out, rows.Err()
}

// IntegrityEvents implements store.Reader.
func (s *Store) IntegrityEvents(ctx context.Context, q store.EventQuery) ([]store.IntegrityEvent, error) {
	var f filter
	f.add(q.Device != "", "d.name = ?", q.Device)
	f.add(q.Kind != "", "e.kind = ?", q.Kind)
	f.add(!q.Since.IsZero(), "e.time_ns >= ?", q.Since.UnixNano())
	f.add(!q.Until.IsZero(), "e.time_ns < ?", q.Until.UnixNano())
	return s.events(ctx, &f, 0)
}

// events returns at most limit (0: all) integrity events f selects, in
// ID order.
func (s *Store) events(ctx context.Context, f *filter, limit int) ([]store.IntegrityEvent, error) {
	where := f.where()
	rows, err := pgQuery(ctx, s.pool, `SELECT e.id, d.name, e.time_ns, e.kind, e.seq, e.detail, e.boot_id
		FROM integrity_events e JOIN devices d ON d.id = e.device_id`+where+` ORDER BY e.id`+f.limit(limit), f.args...)
	if err != nil {
		return nil, fmt.Errorf("store: integrity events: %w", err)
	}
	defer rows.Close()
	var out []store.IntegrityEvent
	for rows.Next() {
		var e store.IntegrityEvent
		var t, seq int64
		if err := rows.Scan(&e.ID, &e.Device, &t, &e.Kind, &seq, &e.Detail, &e.BootID); err != nil {
			return nil, err
		}
		e.Time, e.Seq = nsTime(t), uint64(seq)
		out = append(out, e)
	}
	return out, rows.Err()
}

// filter builds a WHERE clause from the conditions that apply. Conditions
// are written with ? for their one argument; where and limit number them
// ($1, $2, ...) in the order the arguments were added.
type filter struct {
	conds []string
	args  []any
}

func (f *filter) add(applies bool, cond string, arg any) {
	if applies {
		f.conds = append(f.conds, cond)
		f.args = append(f.args, arg)
	}
}

// limit is a LIMIT clause for n rows (none when n is 0), its argument
// appended after those of the conditions; call it after where.
func (f *filter) limit(n int) string {
	if n == 0 {
		return ""
	}
	f.args = append(f.args, n)
	return " LIMIT $" + strconv.Itoa(len(f.args))
}

func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	var b strings.Builder
	n := 0
	for i, c := range f.conds {
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

// segmentFilter selects the segments that may hold records matching q: a
// segment overlaps the time bounds when its newest record is not before
// Since and its oldest is before Until.
func segmentFilter(q *store.RecordQuery) *filter {
	var f filter
	f.add(q.Device != "", "s.device_id = (SELECT id FROM devices WHERE name = ?)", q.Device)
	f.add(q.Source != "", "s.source = ?", q.Source)
	f.add(q.Kind != offboxv1.Kind_KIND_UNSPECIFIED, "s.kind = ?", int64(q.Kind))
	f.add(!q.Since.IsZero(), "s.max_time_ns >= ?", q.Since.UnixNano())
	f.add(!q.Until.IsZero(), "s.min_time_ns < ?", q.Until.UnixNano())
	return &f
}

// Records implements store.Reader.
func (s *Store) Records(ctx context.Context, q store.RecordQuery) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		f := segmentFilter(&q)
		rows, err := pgQuery(ctx, s.pool, `SELECT s.device_id, d.name, s.batch_seq, s.first_index, s.count, s.received_ns
			FROM segments s JOIN devices d ON d.id = s.device_id`+f.where()+
			` ORDER BY s.device_id, s.batch_seq, s.first_index`, f.args...)
		if err != nil {
			yield(store.Record{}, fmt.Errorf("store: records: %w", err))
			return
		}
		defer rows.Close()
		var cur openBatch
		for rows.Next() {
			var dev, seq, recv int64
			var name string
			var first, count int
			if err := rows.Scan(&dev, &name, &seq, &first, &count, &recv); err != nil {
				yield(store.Record{}, err)
				return
			}
			recs, err := cur.records(ctx, s, dev, seq, recv, first, count)
			if err != nil {
				yield(store.Record{}, err)
				return
			}
			for i, r := range recs {
				if !q.MatchTime(r.GetTimeNs()) {
					continue
				}
				rec := store.Record{Device: name, Seq: uint64(seq), Index: first + i, Received: nsTime(recv), Record: r}
				if !yield(rec, nil) {
					return
				}
			}
		}
		if err := rows.Err(); err != nil {
			yield(store.Record{}, err)
		}
	}
}

// CountRecords implements store.Reader.
func (s *Store) CountRecords(ctx context.Context, q store.RecordQuery) (int64, error) {
	f := segmentFilter(&q)
	if q.Since.IsZero() && q.Until.IsZero() {
		var n int64
		err := pgQueryRow(ctx, s.pool, `SELECT COALESCE(SUM(s.count), 0)::bigint FROM segments s`+f.where(), f.args...).Scan(&n)
		return n, err
	}
	rows, err := pgQuery(ctx, s.pool, `SELECT s.device_id, s.batch_seq, s.received_ns, s.first_index, s.count, s.min_time_ns, s.max_time_ns
		FROM segments s`+f.where()+` ORDER BY s.device_id, s.batch_seq, s.first_index`, f.args...)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	type part struct{ dev, seq, recv, first, count int64 }
	var n int64
	var straddling []part
	for rows.Next() {
		var p part
		var lo, hi int64
		if err := rows.Scan(&p.dev, &p.seq, &p.recv, &p.first, &p.count, &lo, &hi); err != nil {
			rows.Close()
			return 0, err
		}
		if q.MatchTime(lo) && q.MatchTime(hi) {
			n += p.count // every record of the run is within the bounds
		} else {
			straddling = append(straddling, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	var cur openBatch
	for _, p := range straddling {
		recs, err := cur.records(ctx, s, p.dev, p.seq, p.recv, int(p.first), int(p.count))
		if err != nil {
			return 0, err
		}
		for _, r := range recs {
			if q.MatchTime(r.GetTimeNs()) {
				n++
			}
		}
	}
	return n, nil
}

// openBatch keeps the last decoded batch so consecutive segments of one
// batch decode it once.
type openBatch struct {
	dev, seq int64
	b        *offboxv1.Batch
}

// records returns records [first, first+count) of batch (dev, seq),
// received at recv (which names its partition).
func (o *openBatch) records(ctx context.Context, s *Store, dev, seq, recv int64, first, count int) ([]*offboxv1.Record, error) {
	if err := o.load(ctx, s, dev, seq, recv); err != nil {
		return nil, err
	}
	recs := o.b.GetRecords()
	if first < 0 || count < 0 || first+count > len(recs) {
		return nil, fmt.Errorf("store: index of batch %d of device %d names records [%d, %d) of %d; run verify", seq, dev, first, first+count, len(recs))
	}
	return recs[first : first+count], nil
}

// load decodes batch (dev, seq) unless it is the one already open.
func (o *openBatch) load(ctx context.Context, s *Store, dev, seq, recv int64) error {
	if o.b != nil && o.dev == dev && o.seq == seq {
		return nil
	}
	var raw []byte
	err := pgQueryRow(ctx, s.pool, `SELECT bytes FROM batches WHERE device_id = $1 AND seq = $2 AND received_ns = $3`,
		dev, seq, recv).Scan(&raw)
	if err != nil {
		return fmt.Errorf("store: batch %d of device %d: %w", seq, dev, err)
	}
	b, err := seal.Open(raw)
	if err != nil {
		return fmt.Errorf("store: batch %d of device %d: %w", seq, dev, err)
	}
	o.dev, o.seq, o.b = dev, seq, b
	return nil
}

// Batches implements store.Reader.
func (s *Store) Batches(ctx context.Context, device string) iter.Seq2[*store.StoredBatch, error] {
	return func(yield func(*store.StoredBatch, error) bool) {
		var dev int64
		err := pgQueryRow(ctx, s.pool, `SELECT id FROM devices WHERE name = $1`, device).Scan(&dev)
		if errors.Is(err, pgx.ErrNoRows) {
			return
		}
		if err != nil {
			yield(nil, err)
			return
		}
		rows, err := pgQuery(ctx, s.pool, batchSelect+` WHERE l.device_id = $1 ORDER BY l.seq`, dev)
		if err != nil {
			yield(nil, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			b, err := s.scanBatch(ctx, rows)
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

// batchSelect reads the columns scanBatch scans: batch_log l, batches b.
const batchSelect = `SELECT l.row, b.device_id, d.name, b.seq, b.digest, b.prev_hash, b.key_id, b.signature,
	b.received_ns, b.sealed_ns, b.boot_id, b.session_id, b.record_count, b.dropped_records, b.dropped_bytes, b.bytes
	FROM batch_log l JOIN batches b ON b.device_id = l.device_id AND b.seq = l.seq AND b.received_ns = l.received_ns
	JOIN devices d ON d.id = l.device_id`

// scanBatch scans a batchSelect row and reads the batch's segments.
func (s *Store) scanBatch(ctx context.Context, r scanner) (*store.StoredBatch, error) {
	b, dev, err := scanBatchRow(r)
	if err != nil {
		return nil, err
	}
	if b.Segments, err = s.segments(ctx, dev, int64(b.Seq), b.Received.UnixNano()); err != nil {
		return nil, fmt.Errorf("store: segments of %s seq %d: %w", b.Device, b.Seq, err)
	}
	return b, nil
}

// scanBatchRow scans a batchSelect row; dev is the device's row id.
func scanBatchRow(r scanner) (*store.StoredBatch, int64, error) {
	b := &store.StoredBatch{}
	var dev, seq, recv, count, dropRecs, dropBytes int64
	if err := r.Scan(&b.Row, &dev, &b.Device, &seq, &b.Digest, &b.PrevHash, &b.KeyID, &b.Signature, &recv, &b.SealedNs,
		&b.BootID, &b.SessionID, &count, &dropRecs, &dropBytes, &b.Bytes); err != nil {
		return nil, 0, fmt.Errorf("store: batch: %w", err)
	}
	b.Seq, b.Received, b.RecordCount = uint64(seq), nsTime(recv), int(count)
	b.DroppedRecords, b.DroppedBytes = uint64(dropRecs), uint64(dropBytes)
	return b, dev, nil
}

func (s *Store) segments(ctx context.Context, dev, seq, recv int64) ([]store.Segment, error) {
	rows, err := pgQuery(ctx, s.pool, `SELECT first_index, count, source, kind, min_time_ns, max_time_ns, received_ns,
		file_dev, file_inode, file_start, file_end FROM segments
		WHERE device_id = $1 AND batch_seq = $2 AND received_ns = $3 ORDER BY first_index`, dev, seq, recv)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Segment
	for rows.Next() {
		var g store.Segment
		var kind int64
		var fdev, fino, fstart, fend *int64
		if err := rows.Scan(&g.First, &g.Count, &g.Source, &kind, &g.MinTimeNs, &g.MaxTimeNs, &g.ReceivedNs,
			&fdev, &fino, &fstart, &fend); err != nil {
			return nil, err
		}
		g.Kind = offboxv1.Kind(kind)
		if fdev != nil || fino != nil || fstart != nil || fend != nil {
			g.File = &store.FileSpan{Dev: uint64(deref(fdev)), Inode: uint64(deref(fino)), Start: deref(fstart), End: deref(fend)}
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }
