package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Head implements store.Ingester.
func (s *Store) Head(ctx context.Context, device string) (store.Head, error) {
	var seq int64
	var hash []byte
	err := s.read.QueryRowContext(ctx, `SELECT head_seq, head_hash FROM devices WHERE name = ?`, device).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Head{}, nil
	}
	if err != nil {
		return store.Head{}, fmt.Errorf("store: head of %s: %w", device, err)
	}
	return store.Head{Seq: uint64(seq), Hash: hash}, nil
}

// Checkpoints implements store.Ingester.
func (s *Store) Checkpoints(ctx context.Context, device string) ([]store.Checkpoint, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT c.source, c.file_dev, c.file_inode, c.fp_len, c.fp, c.offset
		FROM checkpoints c JOIN devices d ON d.id = c.device_id WHERE d.name = ? ORDER BY c.source`, device)
	if err != nil {
		return nil, fmt.Errorf("store: checkpoints of %s: %w", device, err)
	}
	defer rows.Close()
	var cps []store.Checkpoint
	for rows.Next() {
		cp, err := sqlrow.ScanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		cps = append(cps, cp)
	}
	return cps, rows.Err()
}

// BatchDigest implements store.Ingester.
func (s *Store) BatchDigest(ctx context.Context, device string, seq uint64) ([32]byte, bool, error) {
	var d []byte
	err := s.read.QueryRowContext(ctx, `SELECT b.digest FROM batches b JOIN devices d ON d.id = b.device_id
		WHERE d.name = ? AND b.seq = ?`, device, int64(seq)).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
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
	rows, err := s.read.QueryContext(ctx, `SELECT name, first_seen_ns, last_seen_ns, head_seq, head_hash FROM devices ORDER BY id`)
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
		d.FirstSeen, d.LastSeen, d.Head.Seq = sqlrow.NsTime(first), sqlrow.NsTime(last), uint64(seq)
		out = append(out, d)
	}
	return out, rows.Err()
}

// Keys implements store.Reader.
func (s *Store) Keys(ctx context.Context, device string) ([]store.Key, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT k.key_id, k.cert_der, k.first_seen_ns
		FROM keys k JOIN devices d ON d.id = k.device_id WHERE d.name = ? ORDER BY k.first_seen_ns`, device)
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
		k.FirstSeen = sqlrow.NsTime(seen)
		out = append(out, k)
	}
	return out, rows.Err()
}

// IntegrityEvents implements store.Reader.
func (s *Store) IntegrityEvents(ctx context.Context, q store.EventQuery) ([]store.IntegrityEvent, error) {
	var f filter
	f.Add(q.Device != "", "d.name = ?", q.Device)
	f.Add(q.Kind != "", "e.kind = ?", q.Kind)
	f.Add(!q.Since.IsZero(), "e.time_ns >= ?", q.Since.UnixNano())
	f.Add(!q.Until.IsZero(), "e.time_ns < ?", q.Until.UnixNano())
	return s.events(ctx, &f, 0)
}

// events returns at most limit (0: all) integrity events f selects, in
// ID order.
func (s *Store) events(ctx context.Context, f *filter, limit int) ([]store.IntegrityEvent, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT e.id, d.name, e.time_ns, e.kind, e.seq, e.detail, e.boot_id
		FROM integrity_events e JOIN devices d ON d.id = e.device_id`+f.where()+` ORDER BY e.id`+f.limit(limit), f.Args...)
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
		e.Time, e.Seq = sqlrow.NsTime(t), uint64(seq)
		out = append(out, e)
	}
	return out, rows.Err()
}

// filter builds a WHERE clause from the conditions that apply.
type filter struct{ sqlrow.Filter }

// limit is a LIMIT clause for n rows (none when n is 0), its argument
// appended after those of the conditions.
func (f *filter) limit(n int) string {
	if n == 0 {
		return ""
	}
	f.Args = append(f.Args, n)
	return " LIMIT ?"
}

func (f *filter) where() string {
	if len(f.Conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.Conds, " AND ")
}

// Records implements store.Reader.
func (s *Store) Records(ctx context.Context, q store.RecordQuery) iter.Seq2[store.Record, error] {
	return func(yield func(store.Record, error) bool) {
		f := filter{sqlrow.SegmentFilter(&q)}
		rows, err := s.read.QueryContext(ctx, `SELECT s.device_id, d.name, s.batch_seq, s.first_index, s.count, s.received_ns
			FROM segments s JOIN devices d ON d.id = s.device_id`+f.where()+
			` ORDER BY s.device_id, s.batch_seq, s.first_index`, f.Args...)
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
			recs, err := cur.records(ctx, s, dev, seq, first, count)
			if err != nil {
				yield(store.Record{}, err)
				return
			}
			if !sqlrow.YieldSegment(&q, name, seq, recv, first, recs, yield) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(store.Record{}, err)
		}
	}
}

// CountRecords implements store.Reader.
func (s *Store) CountRecords(ctx context.Context, q store.RecordQuery) (int64, error) {
	f := filter{sqlrow.SegmentFilter(&q)}
	if q.Since.IsZero() && q.Until.IsZero() {
		var n int64
		err := s.read.QueryRowContext(ctx, `SELECT COALESCE(SUM(s.count), 0) FROM segments s`+f.where(), f.Args...).Scan(&n)
		return n, err
	}
	rows, err := s.read.QueryContext(ctx, `SELECT s.device_id, s.batch_seq, s.first_index, s.count, s.min_time_ns, s.max_time_ns
		FROM segments s`+f.where()+` ORDER BY s.device_id, s.batch_seq, s.first_index`, f.Args...)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	var n sqlrow.SegmentCount
	for rows.Next() {
		var g sqlrow.SegmentRef
		var lo, hi int64
		if err := rows.Scan(&g.Dev, &g.Seq, &g.First, &g.Count, &lo, &hi); err != nil {
			rows.Close()
			return 0, err
		}
		n.Add(&q, g, lo, hi)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	var cur openBatch
	for _, g := range n.Straddling {
		recs, err := cur.records(ctx, s, g.Dev, g.Seq, int(g.First), int(g.Count))
		if err != nil {
			return 0, err
		}
		n.AddRecords(&q, recs)
	}
	return n.N, nil
}

// openBatch is sqlrow.OpenBatch reading the batches of this store.
type openBatch struct{ sqlrow.OpenBatch }

// records returns records [first, first+count) of batch (dev, seq).
func (o *openBatch) records(ctx context.Context, s *Store, dev, seq int64, first, count int) ([]*offboxv1.Record, error) {
	if err := o.load(ctx, s, dev, seq); err != nil {
		return nil, err
	}
	return o.Records(first, count)
}

// load decodes batch (dev, seq) unless it is the one already open.
func (o *openBatch) load(ctx context.Context, s *Store, dev, seq int64) error {
	if o.Holds(dev, seq) {
		return nil
	}
	var raw []byte
	err := s.read.QueryRowContext(ctx, `SELECT bytes FROM batches WHERE device_id = ? AND seq = ?`, dev, seq).Scan(&raw)
	if err != nil {
		return fmt.Errorf("store: batch %d of device %d: %w", seq, dev, err)
	}
	return o.Open(dev, seq, raw)
}

// Batches implements store.Reader.
func (s *Store) Batches(ctx context.Context, device string) iter.Seq2[*store.StoredBatch, error] {
	return func(yield func(*store.StoredBatch, error) bool) {
		var dev int64
		err := s.read.QueryRowContext(ctx, `SELECT id FROM devices WHERE name = ?`, device).Scan(&dev)
		if errors.Is(err, sql.ErrNoRows) {
			return
		}
		if err != nil {
			yield(nil, err)
			return
		}
		rows, err := s.read.QueryContext(ctx, batchSelect+` WHERE b.device_id = ? ORDER BY b.seq`, dev)
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

// batchSelect reads the columns sqlrow.ScanBatch scans, from batches b.
const batchSelect = `SELECT b.id, b.device_id, d.name, b.seq, b.digest, b.prev_hash, b.key_id, b.signature,
	b.received_ns, b.sealed_ns, b.boot_id, b.session_id, b.record_count, b.dropped_records, b.dropped_bytes, b.bytes
	FROM batches b JOIN devices d ON d.id = b.device_id`

// scanBatch scans a batchSelect row and reads the batch's segments.
func (s *Store) scanBatch(ctx context.Context, r sqlrow.Scanner) (*store.StoredBatch, error) {
	b, dev, err := sqlrow.ScanBatch(r)
	if err != nil {
		return nil, err
	}
	if b.Segments, err = s.segments(ctx, dev, int64(b.Seq)); err != nil {
		return nil, fmt.Errorf("store: segments of %s seq %d: %w", b.Device, b.Seq, err)
	}
	return b, nil
}

func (s *Store) segments(ctx context.Context, dev, seq int64) ([]store.Segment, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT first_index, count, source, kind, min_time_ns, max_time_ns, received_ns,
		file_dev, file_inode, file_start, file_end, file_fp_len, file_fp FROM segments WHERE device_id = ? AND batch_seq = ? ORDER BY first_index`, dev, seq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Segment
	for rows.Next() {
		var g store.Segment
		var kind int64
		var fdev, fino, fstart, fend, fplen sql.NullInt64
		var fp []byte
		if err := rows.Scan(&g.First, &g.Count, &g.Source, &kind, &g.MinTimeNs, &g.MaxTimeNs, &g.ReceivedNs,
			&fdev, &fino, &fstart, &fend, &fplen, &fp); err != nil {
			return nil, err
		}
		g.Kind = offboxv1.Kind(kind)
		if fdev.Valid || fino.Valid || fstart.Valid || fend.Valid {
			g.File = &store.FileSpan{Dev: uint64(fdev.Int64), Inode: uint64(fino.Int64), Start: fstart.Int64, End: fend.Int64,
				FPLen: uint32(fplen.Int64), FP: fp}
		}
		out = append(out, g)
	}
	return out, rows.Err()
}
