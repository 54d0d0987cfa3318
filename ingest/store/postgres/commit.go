package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// commitBatch stores the heavy rows first (bytes, segments, checkpoints)
// and only then takes the commit order, so the section that serialises
// every collector's commits holds a few small rows, not a megabyte.
func (s *Store) commitBatch(ctx context.Context, tx pgx.Tx, b *store.Batch, dec *offboxv1.Batch) (sqlrow.CommitResult, error) {
	h := dec.GetHeader()
	seq := int64(h.GetSeq())
	received := s.timeOr(b.Received)
	recv := received.UnixNano()
	dev, err := deviceID(ctx, tx, b.Device, received)
	if err != nil {
		return sqlrow.CommitResult{}, err
	}
	_, err = pgExec(ctx, tx, `INSERT INTO batches (device_id, seq, digest, prev_hash, key_id, signature, received_ns,
		sealed_ns, boot_id, session_id, record_count, dropped_records, dropped_bytes, bytes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		dev, seq, b.Digest[:], h.GetPrevHash(), sqlrow.NotNull(h.GetKeyId()), sqlrow.NotNull(b.Signature), recv, h.GetSealedNs(),
		h.GetBootId(), h.GetSessionId(), int64(h.GetRecordCount()), int64(h.GetDroppedRecords()),
		int64(h.GetDroppedBytes()), sqlrow.NotNull(b.Bytes))
	if err != nil {
		return sqlrow.CommitResult{}, fmt.Errorf("store: insert batch: %w", err)
	}
	cps, err := loadCheckpoints(ctx, tx, dev)
	if err != nil {
		return sqlrow.CommitResult{}, err
	}
	segs, changed := store.Index(dec.GetRecords(), cps)
	if err := insertSegmentsAndCheckpoints(ctx, tx, dev, seq, recv, segs, cps, changed); err != nil {
		return sqlrow.CommitResult{}, err
	}
	row, err := nextRow(ctx, tx)
	if err != nil {
		return sqlrow.CommitResult{}, err
	}
	_, err = pgExec(ctx, tx, `INSERT INTO batch_log (row, device_id, seq, received_ns) VALUES ($1, $2, $3, $4)`, row, dev, seq, recv)
	if isUniqueViolation(err) {
		return sqlrow.CommitResult{}, fmt.Errorf("%w: device %s seq %d", store.ErrDuplicateSeq, b.Device, seq)
	}
	if err != nil {
		return sqlrow.CommitResult{}, fmt.Errorf("store: insert batch: %w", err)
	}
	// The head moves only from the head the caller judged against, and only
	// forward: together with batch_log's UNIQUE (device_id, seq) this is
	// what makes a stale or concurrent writer fail instead of rewriting
	// history.
	tag, err := pgExec(ctx, tx, `UPDATE devices SET head_seq = $1, head_hash = $2 WHERE id = $3 AND head_seq = $4 AND head_seq < $1`,
		seq, b.Digest[:], dev, int64(b.ExpectHead))
	if err := sqlrow.MovedHead(b, seq, tag.RowsAffected(), err); err != nil {
		return sqlrow.CommitResult{}, err
	}
	return sqlrow.Committed(ctx, tx, b, dev, s.insertEvent, row, segs, recv)
}

// nextRow takes the commit order's row lock, held until the transaction
// ends, and the next batch row. Rows are gapless (a rolled-back batch gives
// its number back) and, since no other transaction can number anything
// until this one commits, visible in the order they count.
func nextRow(ctx context.Context, tx pgx.Tx) (int64, error) {
	var row int64
	if err := pgQueryRow(ctx, tx, `UPDATE commit_order SET batch_row = batch_row + 1 RETURNING batch_row`).Scan(&row); err != nil {
		return 0, fmt.Errorf("store: commit order: %w", err)
	}
	return row, nil
}

// lockOrder takes the commit order's row lock without using a row, before
// an integrity event or access takes its id: ids drawn from a sequence are
// in commit order only if drawn under that lock.
func lockOrder(ctx context.Context, tx pgx.Tx) error {
	if _, err := pgExec(ctx, tx, `SELECT batch_row FROM commit_order FOR UPDATE`); err != nil {
		return fmt.Errorf("store: commit order: %w", err)
	}
	return nil
}

// deviceID returns the device's row id, creating the row on first sight.
func deviceID(ctx context.Context, tx pgx.Tx, name string, seen time.Time) (int64, error) {
	var id int64
	err := pgQueryRow(ctx, tx, `INSERT INTO devices (name, first_seen_ns, last_seen_ns) VALUES ($1, $2, $2)
		ON CONFLICT (name) DO UPDATE SET last_seen_ns = greatest(devices.last_seen_ns, excluded.last_seen_ns)
		RETURNING id`, name, seen.UnixNano()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: device %s: %w", name, err)
	}
	return id, nil
}

func loadCheckpoints(ctx context.Context, tx pgx.Tx, dev int64) (map[string]store.Checkpoint, error) {
	rows, err := pgQuery(ctx, tx, `SELECT source, file_dev, file_inode, fp_len, fp, "offset" FROM checkpoints WHERE device_id = $1`, dev)
	if err != nil {
		return nil, fmt.Errorf("store: checkpoints: %w", err)
	}
	defer rows.Close()
	cps := make(map[string]store.Checkpoint)
	for rows.Next() {
		cp, err := sqlrow.ScanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		cps[cp.Source] = cp
	}
	return cps, rows.Err()
}

// insertSegmentsAndCheckpoints sends every row in one round trip.
func insertSegmentsAndCheckpoints(ctx context.Context, tx pgx.Tx, dev, seq, recv int64, segs []store.Segment,
	cps map[string]store.Checkpoint, changed []string) error {
	var batch pgx.Batch
	for _, g := range segs {
		var fdev, fino, fstart, fend, fplen *int64
		var fp []byte
		if f := g.File; f != nil {
			d, i, l := int64(f.Dev), int64(f.Inode), int64(f.FPLen)
			fdev, fino, fstart, fend, fplen, fp = &d, &i, &f.Start, &f.End, &l, sqlrow.NotNull(f.FP)
		}
		batch.Queue(`INSERT INTO segments (device_id, batch_seq, first_index, count, source, kind,
			min_time_ns, max_time_ns, received_ns, file_dev, file_inode, file_start, file_end, file_fp_len, file_fp)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			escapeArgs([]any{dev, seq, g.First, g.Count, g.Source, int64(g.Kind), g.MinTimeNs, g.MaxTimeNs, recv,
				fdev, fino, fstart, fend, fplen, fp})...)
	}
	for _, src := range changed {
		cp := cps[src]
		batch.Queue(`INSERT INTO checkpoints (device_id, source, file_dev, file_inode, fp_len, fp, "offset")
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (device_id, source) DO UPDATE SET file_dev = excluded.file_dev, file_inode = excluded.file_inode,
			fp_len = excluded.fp_len, fp = excluded.fp, "offset" = excluded."offset"`,
			escapeArgs([]any{dev, src, int64(cp.File.Dev), int64(cp.File.Inode), int64(cp.File.FPLen), cp.File.FP, cp.Offset})...)
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("store: insert segments and checkpoints: %w", err)
	}
	return nil
}

// insertEvent stores e under the commit order lock (see lockOrder).
func (s *Store) insertEvent(ctx context.Context, tx pgx.Tx, dev int64, e store.IntegrityEvent) error {
	sqlrow.NormalizeEvent(&e, s.opt.Now)
	if err := lockOrder(ctx, tx); err != nil {
		return err
	}
	_, err := pgExec(ctx, tx, `INSERT INTO integrity_events (device_id, time_ns, kind, seq, detail, boot_id) VALUES ($1, $2, $3, $4, $5, $6)`,
		dev, e.Time.UnixNano(), e.Kind, int64(e.Seq), e.Detail, e.BootID)
	if err != nil {
		return fmt.Errorf("store: integrity event: %w", err)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
