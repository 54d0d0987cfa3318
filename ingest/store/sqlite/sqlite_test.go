package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/storetest"
	"github.com/offbox/offbox/transport/seal"
)

var ctx = context.Background()

// TestConformance runs the engine-independent suite; the tests below are
// what only SQLite has: files, read-only opens, the writer's groups, the
// schema and its migrations.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, now func() time.Time) func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "store.db")
		return func(t *testing.T) store.Store {
			s, err := Open(path, Options{Now: now, Sync: "normal"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tempStore(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "store.db")
	s := open(t, path)
	t.Cleanup(func() { s.Close() })
	return s, path
}

func commit(t *testing.T, s *Store, dev *batchtest.Device, sealed *seal.Sealed, expect uint64, events ...store.IntegrityEvent) {
	t.Helper()
	b := batchtest.Commit(dev.Name, sealed, expect)
	b.Events = events
	if err := s.CommitBatch(ctx, b); err != nil {
		t.Fatalf("commit seq %d: %v", sealed.Seq, err)
	}
}

func count(t *testing.T, s store.Reader, q store.RecordQuery) int64 {
	t.Helper()
	n, err := s.CountRecords(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDuplicateSeqConstraintInSchema: the one batch per (device, seq) is
// the schema's UNIQUE constraint, not a check in Go: a raw insert of a
// stored pair fails too. (That CommitBatch refuses it is in the suite.)
func TestDuplicateSeqConstraintInSchema(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/x", 1, 2)
	commit(t, s, dev, dev.Next(f.Lines(5, 50)...), 0)
	_, err := s.write.Exec(`INSERT INTO batches (device_id, seq, digest, key_id, signature, received_ns, sealed_ns,
		boot_id, record_count, dropped_records, dropped_bytes, bytes) SELECT device_id, seq, digest, key_id, signature,
		received_ns, sealed_ns, boot_id, record_count, dropped_records, dropped_bytes, bytes FROM batches`)
	if !isUniqueViolation(err) {
		t.Errorf("raw duplicate insert: err = %v, want a UNIQUE violation", err)
	}
	if n := count(t, s, store.RecordQuery{}); n != 5 {
		t.Errorf("%d records stored, want 5", n)
	}
}

// TestGroupCommitConcurrent: many devices committing at once all get
// their own result, everything is stored, and the writer grouped them into
// fewer transactions than commits.
func TestGroupCommitConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "g.db")
	s, err := Open(path, Options{Sync: "full"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const devices, perDevice = 24, 15
	storetest.CommitConcurrently(t, s, devices, perDevice)
	if txns := s.w.txns.Load(); txns >= devices*perDevice {
		t.Errorf("%d transactions for %d concurrent commits: nothing was grouped", txns, devices*perDevice)
	} else {
		t.Logf("%d commits in %d transactions", devices*perDevice, txns)
	}
}

// TestGroupFailureIsolated: in one transaction, a failing write is rolled
// back alone; the writes before and after it are stored and told so.
func TestGroupFailureIsolated(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	batches := storetest.GroupWithFailure(t, s)
	group := make([]*op, len(batches))
	for i, bt := range batches {
		group[i] = &op{Size: len(bt.Bytes), Done: make(chan error, 1), Apply: func(ctx context.Context, tx *sql.Tx) error {
			_, err := s.commitBatch(ctx, tx, bt, bt.Decoded)
			return err
		}}
	}
	s.w.commitGroup(group)
	errs := make([]error, len(group))
	for i, o := range group {
		errs[i] = <-o.Done
	}
	storetest.CheckGroupWithFailure(t, s, errs)
}

// TestSessionRow: a session row records its start and end (the interface
// has no reader for sessions, so the row is read here).
func TestSessionRow(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	id, err := s.StartSession(ctx, store.Session{Device: "d", SessionID: []byte{1}, BootID: "b", AgentVersion: "v", RemoteAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.EndSession(ctx, id, end, 7, 700); err != nil {
		t.Fatal(err)
	}
	var remote string
	var disc, batches, nbytes int64
	err = s.read.QueryRow(`SELECT remote_addr, disconnected_ns, batches, bytes FROM sessions WHERE id = ?`, id).Scan(&remote, &disc, &batches, &nbytes)
	if err != nil || remote != "127.0.0.1:1" || disc != end.UnixNano() || batches != 7 || nbytes != 700 {
		t.Errorf("session row = %q %d %d %d, %v", remote, disc, batches, nbytes, err)
	}
}

// TestReadOnlyOpen: a read-only open sees every batch, head, checkpoint,
// key and event, refuses commits, and sees what a writer open at the same
// time commits. (Reopening for writing is in the suite.)
func TestReadOnlyOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.db")
	s := open(t, path)
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/x", 1, 1)
	commit(t, s, dev, dev.Next(f.Lines(4, 30)...), 0)
	commit(t, s, dev, dev.Next(f.Lines(4, 30)...), 1, store.IntegrityEvent{Device: "d", Kind: store.EventFork, Seq: 2})
	if err := s.PutKey(ctx, store.Key{Device: "d", KeyID: dev.KeyID, CertDER: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := ro.Head(ctx, "d")
	cps, _ := ro.Checkpoints(ctx, "d")
	keys, _ := ro.Keys(ctx, "d")
	evs, _ := ro.IntegrityEvents(ctx, store.EventQuery{})
	if n := count(t, ro, store.RecordQuery{}); n != 8 || h.Seq != 2 || len(cps) != 1 || cps[0].Offset != f.Offset || len(keys) != 1 || len(evs) != 1 {
		t.Errorf("read-only: %d records, head %d, checkpoints %+v, %d keys, %d events", n, h.Seq, cps, len(keys), len(evs))
	}
	if err := ro.CommitBatch(ctx, batchtest.Commit("d", dev.Next(), 2)); err == nil {
		t.Error("a read-only store accepted a commit")
	}
	ro.Close()

	s2 := open(t, path)
	defer s2.Close()
	// A reader open at the same time as the writer sees new commits.
	ro2, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro2.Close()
	d2 := batchtest.NewDevice("d2")
	commit(t, s2, d2, d2.Next(batchtest.Heartbeat(1)), 0)
	if n := count(t, ro2, store.RecordQuery{Device: "d2"}); n != 1 {
		t.Errorf("concurrent reader sees %d records of d2, want 1", n)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing", "x.db"), Options{}); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("missing directory: err = %v", err)
	}
	if _, err := Open(filepath.Join(dir, "x.db"), Options{Sync: "off"}); err == nil {
		t.Error("sync=off accepted")
	}
	if _, err := OpenReadOnly(filepath.Join(dir, "nope.db"), Options{}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("read-only open of a missing file: err = %v", err)
	}
}

// TestPruneUsesIndexes: Prune finds old batches by the received-time index
// and their segments by key, never by scanning either table.
func TestPruneUsesIndexes(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	for _, q := range []string{
		`SELECT device_id, seq FROM batches WHERE received_ns < 1`,
		`DELETE FROM segments WHERE (device_id, batch_seq) IN (SELECT device_id, seq FROM batches WHERE received_ns < 1)`,
		`DELETE FROM batches WHERE received_ns < 1`,
	} {
		rows, err := s.read.Query(`EXPLAIN QUERY PLAN ` + q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		if strings.Contains(all, "SCAN") || !strings.Contains(all, "batches_received") {
			t.Errorf("%s: plan %q, want a search by batches_received and no scan", q, all)
		}
	}
}

// TestPruneCheckpointsFromBytes: segments stored before they kept their
// file's fingerprint (schema 5 and older) still give a removal its
// checkpoints, read from the batch bytes.
func TestPruneCheckpointsFromBytes(t *testing.T) {
	s, path := tempStore(t)
	storetest.PruneKeepsCheckpoints(t, s, func() {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`UPDATE segments SET file_fp_len = NULL, file_fp = NULL`); err != nil {
			t.Fatal(err)
		}
	})
}
