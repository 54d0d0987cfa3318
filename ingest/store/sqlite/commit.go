package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// statements are the writer's prepared statements, prepared once on its
// only connection and bound to each transaction with tx.StmtContext.
type statements struct {
	upsertDevice, insertBatch, insertSegment, selectCheckpoints, upsertCheckpoint,
	moveHead, insertEvent, insertKey, insertSession, endSession *sql.Stmt
	seenDevice *sql.Stmt
	// byText are statements sqlrow writes through the writer's
	// transactions (writerTx.QueryPrepared and Exec), prepared once:
	// detection saves' UpdateRows and InsertRows of sqlrow.AlertSizes,
	// and the search indexer's, run once per batch (parsing each again
	// was 3 % of the collector's CPU at 2,000 agents).
	byText map[string]*sql.Stmt

	// ids caches each device's row id (devices are never deleted). A
	// cached id is only a guess, checked by seenDevice's name: the row
	// may have been created in a transaction that was then rolled back.
	mu  sync.Mutex
	ids map[string]int64
}

func prepare(ctx context.Context, db *sql.DB) (*statements, error) {
	var st statements
	var err error
	p := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = db.PrepareContext(ctx, q)
		return s
	}
	st.upsertDevice = p(`INSERT INTO devices (name, first_seen_ns, last_seen_ns) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)
		RETURNING id`)
	st.insertBatch = p(`INSERT INTO batches (device_id, seq, digest, prev_hash, key_id, signature, received_ns,
		sealed_ns, boot_id, session_id, record_count, dropped_records, dropped_bytes, bytes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	st.insertSegment = p(`INSERT INTO segments (device_id, batch_seq, first_index, count, source, kind,
		min_time_ns, max_time_ns, received_ns, file_dev, file_inode, file_start, file_end, file_fp_len, file_fp)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	st.selectCheckpoints = p(`SELECT source, file_dev, file_inode, fp_len, fp, offset FROM checkpoints WHERE device_id = ?`)
	st.upsertCheckpoint = p(`INSERT INTO checkpoints (device_id, source, file_dev, file_inode, fp_len, fp, offset)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (device_id, source) DO UPDATE SET file_dev = excluded.file_dev, file_inode = excluded.file_inode,
		fp_len = excluded.fp_len, fp = excluded.fp, offset = excluded.offset`)
	// The head moves only from the head the caller judged against, and only
	// forward: together with UNIQUE (device_id, seq) this is what makes a
	// stale or concurrent writer fail instead of rewriting history.
	st.moveHead = p(`UPDATE devices SET head_seq = ?, head_hash = ? WHERE id = ? AND head_seq = ? AND head_seq < ?`)
	st.insertEvent = p(`INSERT INTO integrity_events (device_id, time_ns, kind, seq, detail, boot_id) VALUES (?, ?, ?, ?, ?, ?)`)
	st.insertKey = p(`INSERT INTO keys (device_id, key_id, cert_der, first_seen_ns) VALUES (?, ?, ?, ?)
		ON CONFLICT (device_id, key_id) DO NOTHING`)
	st.insertSession = p(`INSERT INTO sessions (device_id, session_id, boot_id, agent_version, remote_addr, connected_ns)
		VALUES (?, ?, ?, ?, ?, ?)`)
	st.endSession = p(`UPDATE sessions SET disconnected_ns = ?, batches = ?, bytes = ? WHERE id = ?`)
	st.seenDevice = p(`UPDATE devices SET last_seen_ns = max(last_seen_ns, ?) WHERE id = ? AND name = ?`)
	st.ids = make(map[string]int64)
	st.byText = make(map[string]*sql.Stmt)
	for _, n := range sqlrow.AlertSizes {
		for _, q := range []string{saveSQL.UpdateRows(n), saveSQL.InsertRows(n)} {
			st.byText[q] = p(q)
		}
	}
	for _, q := range []string{searchSQL.SaveFilter, searchSQL.SetCursor} {
		st.byText[q] = p(q)
	}
	if err != nil {
		st.close()
		return nil, err
	}
	return &st, nil
}

func (st *statements) close() error {
	var errs []error
	for _, s := range []*sql.Stmt{st.upsertDevice, st.insertBatch, st.insertSegment, st.selectCheckpoints,
		st.upsertCheckpoint, st.moveHead, st.insertEvent, st.insertKey, st.insertSession, st.endSession, st.seenDevice} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	for _, s := range st.byText {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

func (s *Store) commitBatch(ctx context.Context, tx *sql.Tx, b *store.Batch, dec *offboxv1.Batch) (sqlrow.CommitResult, error) {
	h := dec.GetHeader()
	seq := int64(h.GetSeq())
	received := s.timeOr(b.Received)
	recv := received.UnixNano()
	dev, err := s.deviceID(ctx, tx, b.Device, received)
	if err != nil {
		return sqlrow.CommitResult{}, err
	}
	ins, err := tx.StmtContext(ctx, s.stmts.insertBatch).ExecContext(ctx, dev, seq, b.Digest[:], h.GetPrevHash(),
		sqlrow.NotNull(h.GetKeyId()), sqlrow.NotNull(b.Signature), recv, h.GetSealedNs(), h.GetBootId(), h.GetSessionId(),
		int64(h.GetRecordCount()), int64(h.GetDroppedRecords()), int64(h.GetDroppedBytes()), b.Bytes)
	if isUniqueViolation(err) {
		return sqlrow.CommitResult{}, fmt.Errorf("%w: device %s seq %d", store.ErrDuplicateSeq, b.Device, seq)
	}
	if err != nil {
		return sqlrow.CommitResult{}, fmt.Errorf("store: insert batch: %w", err)
	}
	row, err := ins.LastInsertId()
	if err != nil {
		return sqlrow.CommitResult{}, fmt.Errorf("store: insert batch: %w", err)
	}
	cps, err := s.loadCheckpoints(ctx, tx, dev)
	if err != nil {
		return sqlrow.CommitResult{}, err
	}
	segs, changed := store.Index(dec.GetRecords(), cps)
	if err := s.insertSegments(ctx, tx, dev, seq, recv, segs); err != nil {
		return sqlrow.CommitResult{}, err
	}
	if err := s.saveCheckpoints(ctx, tx, dev, cps, changed); err != nil {
		return sqlrow.CommitResult{}, err
	}
	res, err := tx.StmtContext(ctx, s.stmts.moveHead).ExecContext(ctx, seq, b.Digest[:], dev, int64(b.ExpectHead), seq)
	var n int64
	if err == nil {
		// An error counting leaves n 0: the head counts as moved.
		n, _ = res.RowsAffected()
	}
	if err := sqlrow.MovedHead(b, seq, n, err); err != nil {
		return sqlrow.CommitResult{}, err
	}
	return sqlrow.Committed(ctx, tx, b, dev, s.insertEvent, row, segs, recv)
}

// deviceID returns the device's row id, creating the row on first sight.
// A known device's id comes from the cache, checked and its last_seen_ns
// moved by one UPDATE by row id: the upsert with RETURNING cost 38 us of
// the 143 us of CPU a one-line batch took to store (BenchmarkCommitGroupTiny).
func (s *Store) deviceID(ctx context.Context, tx *sql.Tx, name string, seen time.Time) (int64, error) {
	st := s.stmts
	st.mu.Lock()
	id, ok := st.ids[name]
	st.mu.Unlock()
	if ok {
		res, err := tx.StmtContext(ctx, st.seenDevice).ExecContext(ctx, seen.UnixNano(), id, name)
		if err != nil {
			return 0, fmt.Errorf("store: device %s: %w", name, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return id, nil
		}
	}
	err := tx.StmtContext(ctx, st.upsertDevice).QueryRowContext(ctx, name, seen.UnixNano(), seen.UnixNano()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: device %s: %w", name, err)
	}
	st.mu.Lock()
	st.ids[name] = id
	st.mu.Unlock()
	return id, nil
}

func (s *Store) loadCheckpoints(ctx context.Context, tx *sql.Tx, dev int64) (map[string]store.Checkpoint, error) {
	rows, err := tx.StmtContext(ctx, s.stmts.selectCheckpoints).QueryContext(ctx, dev)
	if err != nil {
		return nil, fmt.Errorf("store: checkpoints: %w", err)
	}
	cps := make(map[string]store.Checkpoint)
	for rows.Next() {
		cp, err := sqlrow.ScanCheckpoint(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		cps[cp.Source] = cp
	}
	return cps, errors.Join(rows.Err(), rows.Close())
}

func (s *Store) insertSegments(ctx context.Context, tx *sql.Tx, dev, seq, recv int64, segs []store.Segment) error {
	stmt := tx.StmtContext(ctx, s.stmts.insertSegment)
	for _, g := range segs {
		var fdev, fino, fstart, fend, fplen, fp any
		if f := g.File; f != nil {
			fdev, fino, fstart, fend, fplen, fp = int64(f.Dev), int64(f.Inode), f.Start, f.End, int64(f.FPLen), sqlrow.NotNull(f.FP)
		}
		if _, err := stmt.ExecContext(ctx, dev, seq, g.First, g.Count, g.Source, int64(g.Kind),
			g.MinTimeNs, g.MaxTimeNs, recv, fdev, fino, fstart, fend, fplen, fp); err != nil {
			return fmt.Errorf("store: insert segment: %w", err)
		}
	}
	return nil
}

func (s *Store) saveCheckpoints(ctx context.Context, tx *sql.Tx, dev int64, cps map[string]store.Checkpoint, changed []string) error {
	stmt := tx.StmtContext(ctx, s.stmts.upsertCheckpoint)
	for _, src := range changed {
		cp := cps[src]
		if _, err := stmt.ExecContext(ctx, dev, src, int64(cp.File.Dev), int64(cp.File.Inode),
			int64(cp.File.FPLen), cp.File.FP, cp.Offset); err != nil {
			return fmt.Errorf("store: checkpoint: %w", err)
		}
	}
	return nil
}

func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, dev int64, e store.IntegrityEvent) error {
	sqlrow.NormalizeEvent(&e, s.opt.Now)
	_, err := tx.StmtContext(ctx, s.stmts.insertEvent).ExecContext(ctx, dev, e.Time.UnixNano(), e.Kind, int64(e.Seq), e.Detail, e.BootID)
	if err != nil {
		return fmt.Errorf("store: integrity event: %w", err)
	}
	return nil
}

func isUniqueViolation(err error) bool {
	var e *sqlitedrv.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}
