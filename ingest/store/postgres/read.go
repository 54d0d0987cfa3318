package postgres

import (
	"context"
	"iter"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// Head implements store.Ingester.
func (s *Store) Head(ctx context.Context, device string) (store.Head, error) {
	return sqlrow.Head(ctx, s.db(), `SELECT head_seq, head_hash FROM devices WHERE name = $1`, device)
}

// Checkpoints implements store.Ingester.
func (s *Store) Checkpoints(ctx context.Context, device string) ([]store.Checkpoint, error) {
	return sqlrow.All(ctx, s.db(), "checkpoints of "+device, sqlrow.ScanCheckpoint, `SELECT c.source, c.file_dev, c.file_inode, c.fp_len, c.fp, c."offset"
		FROM checkpoints c JOIN devices d ON d.id = c.device_id WHERE d.name = $1 ORDER BY c.source COLLATE "C"`, device)
}

// BatchDigest implements store.Ingester. batch_log says which partition
// holds the batch, so only that one is searched.
func (s *Store) BatchDigest(ctx context.Context, device string, seq uint64) ([32]byte, bool, error) {
	return sqlrow.Digest(ctx, s.db(), `SELECT b.digest FROM batch_log l JOIN devices d ON d.id = l.device_id
		JOIN batches b ON b.device_id = l.device_id AND b.seq = l.seq AND b.received_ns = l.received_ns
		WHERE d.name = $1 AND l.seq = $2`, device, seq)
}

// Devices implements store.Reader.
func (s *Store) Devices(ctx context.Context) ([]store.Device, error) {
	return sqlrow.All(ctx, s.db(), "devices", sqlrow.ScanDevice,
		`SELECT name, first_seen_ns, last_seen_ns, head_seq, head_hash FROM devices ORDER BY id`)
}

// Keys implements store.Reader.
func (s *Store) Keys(ctx context.Context, device string) ([]store.Key, error) {
	keys, err := sqlrow.All(ctx, s.db(), "keys of "+device, sqlrow.ScanKey, `SELECT k.key_id, k.cert_der, k.first_seen_ns
		FROM keys k JOIN devices d ON d.id = k.device_id WHERE d.name = $1 ORDER BY k.first_seen_ns`, device)
	for i := range keys {
		keys[i].Device = device
	}
	return keys, err
}

// IntegrityEvents implements store.Reader.
func (s *Store) IntegrityEvents(ctx context.Context, q store.EventQuery) ([]store.IntegrityEvent, error) {
	f := filter{sqlrow.EventFilter(&q)}
	return s.events(ctx, &f, 0)
}

// events returns at most limit (0: all) integrity events f selects, in
// ID order.
func (s *Store) events(ctx context.Context, f *filter, limit int) ([]store.IntegrityEvent, error) {
	where := f.where()
	return sqlrow.All(ctx, s.db(), "integrity events", sqlrow.ScanEvent, `SELECT e.id, d.name, e.time_ns, e.kind, e.seq, e.detail, e.boot_id
		FROM integrity_events e JOIN devices d ON d.id = e.device_id`+where+` ORDER BY e.id`+f.limit(limit), f.Args...)
}

// filter is sqlrow.Filter in PostgreSQL's numbered placeholders ($1, $2,
// ...), numbered in the order the arguments were added.
type filter struct{ sqlrow.Filter }

func (f *filter) limit(n int) string { return f.Limit(n, sqlrow.Dollar) }

func (f *filter) where() string { return f.Where(sqlrow.Dollar) }

// Records implements store.Reader.
func (s *Store) Records(ctx context.Context, q store.RecordQuery) iter.Seq2[store.Record, error] {
	f := filter{sqlrow.SegmentFilter(&q)}
	return sqlrow.Records(ctx, s.db(), &q, s.readBatch, `SELECT s.device_id, d.name, s.batch_seq, s.first_index, s.count, s.received_ns
		FROM segments s JOIN devices d ON d.id = s.device_id`+f.where()+
		` ORDER BY s.device_id, s.batch_seq, s.first_index`, f.Args...)
}

// CountRecords implements store.Reader.
func (s *Store) CountRecords(ctx context.Context, q store.RecordQuery) (int64, error) {
	f := filter{sqlrow.SegmentFilter(&q)}
	where := f.where()
	return sqlrow.CountRecords(ctx, s.db(), &q, s.readBatch, `SELECT COALESCE(SUM(s.count), 0)::bigint FROM segments s`+where,
		`SELECT s.device_id, s.batch_seq, s.received_ns, s.first_index, s.count, s.min_time_ns, s.max_time_ns
		FROM segments s`+where+` ORDER BY s.device_id, s.batch_seq, s.first_index`, f.Args...)
}

// readBatch is a sqlrow.ReadBatch: the received time names the batch's
// partition.
func (s *Store) readBatch(ctx context.Context, dev, seq, recv int64) (raw []byte, err error) {
	err = pgQueryRow(ctx, s.pool, `SELECT bytes FROM batches WHERE device_id = $1 AND seq = $2 AND received_ns = $3`,
		dev, seq, recv).Scan(&raw)
	return raw, err
}

// Batches implements store.Reader.
func (s *Store) Batches(ctx context.Context, device string) iter.Seq2[*store.StoredBatch, error] {
	return sqlrow.Batches(ctx, s.db(), `SELECT id FROM devices WHERE name = $1`, batchSelect+` WHERE l.device_id = $1 ORDER BY l.seq`,
		device, s.scanBatch)
}

// batchSelect reads the columns sqlrow.ScanBatch scans: batch_log l, batches b.
const batchSelect = `SELECT l.row, b.device_id, d.name, b.seq, b.digest, b.prev_hash, b.key_id, b.signature,
	b.received_ns, b.sealed_ns, b.boot_id, b.session_id, b.record_count, b.dropped_records, b.dropped_bytes, b.bytes
	FROM batch_log l JOIN batches b ON b.device_id = l.device_id AND b.seq = l.seq AND b.received_ns = l.received_ns
	JOIN devices d ON d.id = l.device_id`

// scanBatch scans a batchSelect row and reads the batch's segments.
func (s *Store) scanBatch(ctx context.Context, r sqlrow.Scanner) (*store.StoredBatch, error) {
	return sqlrow.ScanStoredBatch(ctx, r, s.segments)
}

func (s *Store) segments(ctx context.Context, dev, seq, recv int64) ([]store.Segment, error) {
	return sqlrow.All(ctx, s.db(), "segments", sqlrow.ScanSegment, `SELECT first_index, count, source, kind, min_time_ns, max_time_ns, received_ns,
		file_dev, file_inode, file_start, file_end, file_fp_len, file_fp FROM segments
		WHERE device_id = $1 AND batch_seq = $2 AND received_ns = $3 ORDER BY first_index`, dev, seq, recv)
}
