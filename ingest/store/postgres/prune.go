package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// runPrune is sqlrow.Engine.Prune. Whole partitions that end at or
// before cutoff are dropped (cheap, and space goes back to the system at
// once); from the default partition only rows received before cutoff are
// deleted. What goes is summed per device into pruned first, all in one
// transaction of its own, beside the write queue.
func (s *Store) runPrune(ctx context.Context, q *sqlrow.Queue[pgx.Tx], cutoff, now time.Time) ([]store.Pruned, error) {
	// Held for the whole prune so Close waits for it, as for a write.
	release, err := q.Hold()
	if err != nil {
		return nil, err
	}
	defer release()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	defer tx.Rollback(context.Background())
	out, err := prune(ctx, tx, cutoff.UnixNano(), now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	return out, nil
}

func prune(ctx context.Context, tx pgx.Tx, cutoff, now int64) ([]store.Pruned, error) {
	// Dropping a partition needs its parent to itself; taking both
	// parents first, in one order, means no lock is ever upgraded and two
	// prunes cannot deadlock.
	// Commits queue behind the lock while it waits for readers: give up
	// rather than stall ingestion behind a long query.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE batches, segments IN ACCESS EXCLUSIVE MODE`); err != nil {
		return nil, err
	}
	// Batches detection has not read yet stay: a partition holding one is
	// kept whole, and from the default partition only read rows go.
	var read int64
	if err := tx.QueryRow(ctx, `SELECT batch_row FROM detect_cursor WHERE id = 1`).Scan(&read); err != nil {
		return nil, fmt.Errorf("detect cursor: %w", err)
	}
	unread := func(p partition) (bool, error) {
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM batch_log WHERE row > $1
			AND received_ns >= $2 AND received_ns < $3 LIMIT 1) x`, read, p.from, p.to).Scan(&n)
		return n > 0, err
	}
	const readRows = ` AND (device_id, seq) IN (SELECT device_id, seq FROM batch_log WHERE row <= $2)`
	var drop []string
	var gone []string // SELECTs of the batches removed
	for _, table := range partitioned {
		parts, err := partitions(ctx, tx, table)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			name := pgx.Identifier{p.name}.Sanitize()
			if !p.def && p.to <= cutoff {
				if keep, err := unread(p); err != nil {
					return nil, err
				} else if keep {
					continue
				}
			}
			// (For a partition dropped whole both conditions hold for
			// every row; saying them keeps one shape of query.)
			sel := `SELECT device_id, seq, received_ns, record_count, digest FROM ` + name + ` WHERE received_ns < $1` + readRows
			switch {
			case p.def && table == "batches":
				gone = append(gone, sel)
			case !p.def && p.to <= cutoff:
				drop = append(drop, name)
				if table == "batches" {
					gone = append(gone, sel)
				}
			}
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	// What goes is listed once: the summary, the batch log and the default
	// partitions' rows all follow this list.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE gone (device_id bigint, seq bigint, received_ns bigint,
		record_count bigint, digest bytea) ON COMMIT DROP`); err != nil {
		return nil, err
	}
	if _, err := pgExec(ctx, tx, `INSERT INTO gone `+strings.Join(gone, ` UNION ALL `), cutoff, read); err != nil {
		return nil, err
	}
	if err := goneCheckpoints(ctx, tx); err != nil {
		return nil, err
	}
	rows, err := pgQuery(ctx, tx, `WITH ins AS (
		INSERT INTO pruned (device_id, first_seq, last_seq, batches, records, last_digest, oldest_ns, newest_ns, cutoff_ns, at_ns,
			checkpoints)
		SELECT device_id, min(seq), max(seq), count(*), sum(record_count), (array_agg(digest ORDER BY seq DESC))[1],
			min(received_ns), max(received_ns), $1, $2,
			(SELECT c.checkpoints FROM gone_checkpoints c WHERE c.device_id = gone.device_id)
		FROM gone GROUP BY device_id
		RETURNING *)
		SELECT d.name, ins.first_seq, ins.last_seq, ins.batches, ins.records, ins.last_digest, ins.oldest_ns, ins.newest_ns,
			ins.cutoff_ns, ins.at_ns, ins.checkpoints
		FROM ins JOIN devices d ON d.id = ins.device_id ORDER BY d.name COLLATE "C"`, cutoff, now)
	if err != nil {
		return nil, err
	}
	out, err := sqlrow.Collect(pgRows{rows}, "pruned", sqlrow.ScanPruned)
	if err != nil {
		return nil, err
	}
	for _, table := range partitioned {
		parts, err := partitions(ctx, tx, table)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			if p.def {
				seq := "seq"
				if table == "segments" {
					seq = "batch_seq"
				}
				if _, err := tx.Exec(ctx, `DELETE FROM `+pgx.Identifier{p.name}.Sanitize()+` t USING gone g
					WHERE t.device_id = g.device_id AND t.`+seq+` = g.seq`); err != nil {
					return nil, err
				}
			}
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM search_filters f USING gone g
		WHERE f.received_ns = g.received_ns AND f.device_id = g.device_id AND f.batch_seq = g.seq`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM batch_log l USING gone g WHERE l.device_id = g.device_id AND l.seq = g.seq`); err != nil {
		return nil, err
	}
	for _, name := range drop {
		if _, err := pgExec(ctx, tx, `DROP TABLE `+name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Pruned implements store.Retention.
func (s *Store) Pruned(ctx context.Context, device string) ([]store.Pruned, error) {
	rows, err := pgQuery(ctx, s.pool, `SELECT d.name, p.first_seq, p.last_seq, p.batches, p.records, p.last_digest,
		p.oldest_ns, p.newest_ns, p.cutoff_ns, p.at_ns, p.checkpoints
		FROM pruned p JOIN devices d ON d.id = p.device_id WHERE $1 = '' OR d.name = $1
		ORDER BY p.at_ns, d.name COLLATE "C", p.first_seq`, device)
	if err != nil {
		return nil, fmt.Errorf("store: pruned: %w", err)
	}
	return sqlrow.Collect(pgRows{rows}, "pruned", sqlrow.ScanPruned)
}

// goneCheckpoints fills the temporary table gone_checkpoints with each
// device's checkpoints after the batches in gone, encoded: its previous
// removal's, moved on by the last file record of each source among them.
func goneCheckpoints(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE gone_checkpoints (device_id bigint, checkpoints bytea) ON COMMIT DROP`); err != nil {
		return err
	}
	type device struct {
		prev []byte
		last sqlrow.LastFileRecords
	}
	devs := map[int64]*device{}
	var order []int64
	rows, err := tx.Query(ctx, `SELECT g.device_id, (SELECT p.checkpoints FROM pruned p WHERE p.device_id = g.device_id
		ORDER BY p.at_ns DESC, p.last_seq DESC LIMIT 1)
		FROM (SELECT DISTINCT device_id FROM gone) g ORDER BY g.device_id`)
	if err != nil {
		return fmt.Errorf("previous checkpoints: %w", err)
	}
	for rows.Next() {
		var id int64
		d := &device{}
		if err := rows.Scan(&id, &d.prev); err != nil {
			rows.Close()
			return fmt.Errorf("previous checkpoints: %w", err)
		}
		devs[id], order = d, append(order, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("previous checkpoints: %w", err)
	}
	rows, err = pgQuery(ctx, tx, `SELECT DISTINCT ON (s.device_id, s.source) s.device_id, s.source, s.batch_seq,
			s.first_index + s.count - 1, s.file_dev, s.file_inode, COALESCE(s.file_fp_len, 0), s.file_fp, s.file_end
		FROM segments s JOIN gone g ON g.device_id = s.device_id AND g.seq = s.batch_seq
		WHERE s.file_dev IS NOT NULL
		ORDER BY s.device_id, s.source, s.batch_seq DESC, s.first_index DESC`)
	if err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	for rows.Next() {
		var r sqlrow.LastFileRecord
		var id, seq, fdev, fino, fplen int64
		if err := rows.Scan(&id, &r.Source, &seq, &r.Index, &fdev, &fino, &fplen, &r.File.FP, &r.End); err != nil {
			rows.Close()
			return fmt.Errorf("checkpoints: %w", err)
		}
		r.Seq, r.File.Dev, r.File.Inode, r.File.FPLen = uint64(seq), uint64(fdev), uint64(fino), uint32(fplen)
		if d := devs[id]; d != nil {
			d.last.Add(r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("checkpoints: %w", err)
	}
	encoded := make([][]byte, len(order))
	for i, id := range order {
		d := devs[id]
		_, cps, err := sqlrow.PrunedCheckpoints(d.prev, d.last.List(), func(seq uint64) ([]byte, error) {
			var raw []byte
			err := tx.QueryRow(ctx, `SELECT bytes FROM batches WHERE device_id = $1 AND seq = $2`, id, int64(seq)).Scan(&raw)
			return raw, err
		})
		if err != nil {
			return fmt.Errorf("device %d: %w", id, err)
		}
		encoded[i] = cps
	}
	// One round trip for the fleet: commits wait while prune holds its lock.
	_, err = tx.Exec(ctx, `INSERT INTO gone_checkpoints (device_id, checkpoints)
		SELECT * FROM unnest($1::bigint[], $2::bytea[])`, order, encoded)
	return err
}
