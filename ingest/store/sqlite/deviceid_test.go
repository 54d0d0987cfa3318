package sqlite

import (
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
)

// TestDeviceIDAfterRollback: a device row created in a transaction that
// rolls back leaves its id in deviceID's cache; another device then takes
// that row id. The first device's batch must still go to a row of its
// own, never to the other device's.
func TestDeviceIDAfterRollback(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := s.deviceID(ctx, tx, "a", time.Unix(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	a, b := batchtest.NewDevice("a"), batchtest.NewDevice("b")
	f := batchtest.NewFile("file:/x", 1, 1)
	commit(t, s, b, b.Next(f.Lines(1, 30)...), 0)
	var bID int64
	if err := s.read.QueryRow(`SELECT id FROM devices WHERE name = 'b'`).Scan(&bID); err != nil {
		t.Fatal(err)
	}
	if bID != stale {
		t.Logf("b took row %d, not a's rolled-back %d: the case is not the one meant", bID, stale)
	}
	commit(t, s, a, a.Next(f.Lines(1, 30)...), 0)
	commit(t, s, a, a.Next(f.Lines(1, 30)...), 1)
	for name, want := range map[string]uint64{"a": 2, "b": 1} {
		h, err := s.Head(ctx, name)
		if err != nil || h.Seq != want {
			t.Errorf("head of %s = %d, %v; want %d", name, h.Seq, err, want)
		}
	}
	var n int
	if err := s.read.QueryRow(`SELECT count(*) FROM devices`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d device rows, %v; want 2", n, err)
	}
}
