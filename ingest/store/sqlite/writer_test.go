package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
)

// TestFailedOpStoresNothing: an op that wrote and then failed leaves
// nothing behind, alone or in a group (the group is rolled back and the
// others are committed one by one), and the others are stored.
func TestFailedOpStoresNothing(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 3} {
		s, _ := tempStore(t)
		boom := errors.New("boom")
		var group []*op
		var want []int64
		for i := range size {
			dev := batchtest.NewDevice("d" + string(rune('a'+i)))
			sb := batchtest.Commit(dev.Name, dev.Next(batchtest.NewFile("file:/x", 1, 1).Lines(3, 20)...), 0)
			failing := i == size/2
			group = append(group, &op{Size: len(sb.Bytes), Done: make(chan error, 1), Apply: func(ctx context.Context, tx *sql.Tx) error {
				if _, err := s.commitBatch(ctx, tx, sb, sb.Decoded); err != nil {
					return err
				}
				if failing {
					return boom // after writing: the writes must go
				}
				return nil
			}})
			if !failing {
				want = append(want, 1)
			} else {
				want = append(want, 0)
			}
		}
		s.w.commitGroup(group)
		for i, o := range group {
			err := <-o.Done
			if failing := i == size/2; failing != errors.Is(err, boom) || (!failing && err != nil) {
				t.Errorf("group of %d, op %d: err %v", size, i, err)
			}
			var n int64
			if err := s.read.QueryRow(`SELECT count(*) FROM batches b JOIN devices d ON d.id = b.device_id WHERE d.name = ?`,
				"d"+string(rune('a'+i))).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != want[i] {
				t.Errorf("group of %d, op %d: %d batches stored, want %d", size, i, n, want[i])
			}
		}
	}
}
