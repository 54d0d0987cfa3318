package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// runPrune is sqlrow.Engine.Prune. It runs as one write of the writer,
// so a commit never sees a half-removed batch; the batches_received index
// finds the old batches and each one's segments are found by key.
func runPrune(ctx context.Context, q *sqlrow.Queue[*sql.Tx], cutoff, now time.Time) ([]store.Pruned, error) {
	cut, at := cutoff.UnixNano(), sqlrow.NsTime(now.UnixNano())
	var out []store.Pruned
	err := q.Do(ctx, 0, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		out, err = prune(ctx, tx, cut, at)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func prune(ctx context.Context, tx *sql.Tx, cut int64, at time.Time) ([]store.Pruned, error) {
	type removal struct {
		dev int64
		p   store.Pruned
		cps []byte // p.Checkpoints, encoded
	}
	// Batches detection has not read yet stay (their rows are past its
	// cursor; no cursor yet: nothing has been read).
	var read int64
	switch err := tx.QueryRowContext(ctx, `SELECT batch_row FROM detect_cursor WHERE id = 1`).Scan(&read); err {
	case nil, sql.ErrNoRows:
	default:
		return nil, fmt.Errorf("store: prune: detect cursor: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT b.device_id, d.name, MIN(b.seq), MAX(b.seq), COUNT(*), SUM(b.record_count),
		MIN(b.received_ns), MAX(b.received_ns)
		FROM batches b JOIN devices d ON d.id = b.device_id
		WHERE b.received_ns < ? AND b.id <= ? GROUP BY b.device_id ORDER BY d.name`, cut, read)
	if err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	var rs []removal
	for rows.Next() {
		var r removal
		var first, last, oldest, newest int64
		if err := rows.Scan(&r.dev, &r.p.Device, &first, &last, &r.p.Batches, &r.p.Records, &oldest, &newest); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: prune: %w", err)
		}
		r.p.FirstSeq, r.p.LastSeq = uint64(first), uint64(last)
		r.p.OldestReceived, r.p.NewestReceived = sqlrow.NsTime(oldest), sqlrow.NsTime(newest)
		r.p.Cutoff, r.p.At = sqlrow.NsTime(cut), at
		rs = append(rs, r)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	for i := range rs {
		r := &rs[i]
		err := tx.QueryRowContext(ctx, `SELECT digest FROM batches WHERE device_id = ? AND seq = ?`, r.dev, int64(r.p.LastSeq)).
			Scan(&r.p.LastDigest)
		if err != nil {
			return nil, fmt.Errorf("store: prune %s: last digest: %w", r.p.Device, err)
		}
	}
	for i := range rs {
		r := &rs[i]
		if r.p.Checkpoints, r.cps, err = prunedCheckpoints(ctx, tx, r.dev, &r.p, cut, read); err != nil {
			return nil, fmt.Errorf("store: prune %s: %w", r.p.Device, err)
		}
	}
	// Segments first: they reference their batch.
	if _, err := tx.ExecContext(ctx, `DELETE FROM segments WHERE (device_id, batch_seq) IN
		(SELECT device_id, seq FROM batches WHERE received_ns < ? AND id <= ?)`, cut, read); err != nil {
		return nil, fmt.Errorf("store: prune segments: %w", err)
	}
	// Search filters of removed batches (one of a kept batch only makes it
	// scanned without its filter).
	if _, err := tx.ExecContext(ctx, `DELETE FROM search_filters WHERE received_ns < ?`, cut); err != nil {
		return nil, fmt.Errorf("store: prune search filters: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM batches WHERE received_ns < ? AND id <= ?`, cut, read); err != nil {
		return nil, fmt.Errorf("store: prune batches: %w", err)
	}
	out := make([]store.Pruned, len(rs))
	for i, r := range rs {
		p := r.p
		_, err := tx.ExecContext(ctx, `INSERT INTO pruned (device_id, first_seq, last_seq, batches, records, last_digest,
			oldest_received_ns, newest_received_ns, cutoff_ns, at_ns, checkpoints) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.dev, int64(p.FirstSeq), int64(p.LastSeq), p.Batches, p.Records, p.LastDigest,
			p.OldestReceived.UnixNano(), p.NewestReceived.UnixNano(), cut, p.At.UnixNano(), r.cps)
		if err != nil {
			return nil, fmt.Errorf("store: prune %s: record: %w", p.Device, err)
		}
		out[i] = p
	}
	return out, nil
}

// Pruned implements store.Retention.
func (s *Store) Pruned(ctx context.Context, device string) ([]store.Pruned, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT d.name, p.first_seq, p.last_seq, p.batches, p.records, p.last_digest,
		p.oldest_received_ns, p.newest_received_ns, p.cutoff_ns, p.at_ns, p.checkpoints
		FROM pruned p JOIN devices d ON d.id = p.device_id
		WHERE ? = '' OR d.name = ? ORDER BY p.at_ns, d.name, p.id`, device, device)
	if err != nil {
		return nil, fmt.Errorf("store: pruned: %w", err)
	}
	return sqlrow.Collect(rows, "pruned", sqlrow.ScanPruned)
}

// prunedCheckpoints are device dev's checkpoints after the batches a
// prune removes (p's seqs received before cut, read by detection),
// encoded: its previous removal's, moved on by the last file record of
// each source among them (and decoded).
func prunedCheckpoints(ctx context.Context, tx *sql.Tx, dev int64, p *store.Pruned, cut, read int64) ([]store.Checkpoint, []byte, error) {
	var prev []byte
	switch err := tx.QueryRowContext(ctx, `SELECT checkpoints FROM pruned WHERE device_id = ? ORDER BY id DESC LIMIT 1`, dev).
		Scan(&prev); err {
	case nil, sql.ErrNoRows:
	default:
		return nil, nil, fmt.Errorf("previous checkpoints: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT s.source, s.batch_seq, s.first_index + s.count - 1,
			s.file_dev, s.file_inode, COALESCE(s.file_fp_len, 0), s.file_fp, s.file_end
		FROM segments s JOIN batches b ON b.device_id = s.device_id AND b.seq = s.batch_seq
		WHERE s.device_id = ? AND s.batch_seq BETWEEN ? AND ? AND b.received_ns < ? AND b.id <= ? AND s.file_dev IS NOT NULL
		ORDER BY s.batch_seq DESC, s.first_index DESC`, dev, int64(p.FirstSeq), int64(p.LastSeq), cut, read)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoints: %w", err)
	}
	var last sqlrow.LastFileRecords
	for rows.Next() {
		var r sqlrow.LastFileRecord
		var seq, fdev, fino int64
		if err := rows.Scan(&r.Source, &seq, &r.Index, &fdev, &fino, &r.File.FPLen, &r.File.FP, &r.End); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("checkpoints: %w", err)
		}
		r.Seq, r.File.Dev, r.File.Inode = uint64(seq), uint64(fdev), uint64(fino)
		last.Add(r)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, fmt.Errorf("checkpoints: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("checkpoints: %w", err)
	}
	return sqlrow.PrunedCheckpoints(prev, last.List(), func(seq uint64) ([]byte, error) {
		var raw []byte
		err := tx.QueryRowContext(ctx, `SELECT bytes FROM batches WHERE device_id = ? AND seq = ?`, dev, int64(seq)).Scan(&raw)
		return raw, err
	})
}
