package sqlite

import (
	"context"
	"iter"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// readBatch is a sqlrow.ReadBatch: (device_id, seq) finds the batch.
func (s *Store) readBatch(ctx context.Context, dev, seq, _ int64) (raw []byte, err error) {
	err = s.read.QueryRowContext(ctx, `SELECT bytes FROM batches WHERE device_id = ? AND seq = ?`, dev, seq).Scan(&raw)
	return raw, err
}

// Batches implements store.Reader.
func (s *Store) Batches(ctx context.Context, device string) iter.Seq2[*store.StoredBatch, error] {
	return sqlrow.Batches(ctx, s.db(), `SELECT id FROM devices WHERE name = ?`, batchSelect+` WHERE b.device_id = ? ORDER BY b.seq`,
		device, s.scanBatch)
}

// batchSelect reads the columns sqlrow.ScanBatch scans, from batches b.
const batchSelect = `SELECT b.id, b.device_id, d.name, b.seq, b.digest, b.prev_hash, b.key_id, b.signature,
	b.received_ns, b.sealed_ns, b.boot_id, b.session_id, b.record_count, b.dropped_records, b.dropped_bytes, b.bytes
	FROM batches b JOIN devices d ON d.id = b.device_id`

// scanBatch scans a batchSelect row and reads the batch's segments.
func (s *Store) scanBatch(ctx context.Context, r sqlrow.Scanner) (*store.StoredBatch, error) {
	return sqlrow.ScanStoredBatch(ctx, r, s.segments)
}

func (s *Store) segments(ctx context.Context, dev, seq, _ int64) ([]store.Segment, error) {
	return sqlrow.All(ctx, s.db(), "segments", sqlrow.ScanSegment, `SELECT first_index, count, source, kind, min_time_ns, max_time_ns, received_ns,
		file_dev, file_inode, file_start, file_end, file_fp_len, file_fp FROM segments WHERE device_id = ? AND batch_seq = ? ORDER BY first_index`, dev, seq)
}
