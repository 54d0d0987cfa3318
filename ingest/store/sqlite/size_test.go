package sqlite

import (
	"os"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
)

// TestSizeBytes: the size is the database file and its WAL, and grows
// with what is stored.
func TestSizeBytes(t *testing.T) {
	t.Parallel()
	s, path := tempStore(t)
	before, err := s.SizeBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dev := batchtest.NewDevice("a")
	f := batchtest.NewFile("file:/x", 1, 1)
	commit(t, s, dev, dev.Next(f.Lines(2000, 170)...), 0)
	after, err := s.SizeBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			want += fi.Size()
		}
	}
	if after != want || after < before+2000*170 {
		t.Errorf("SizeBytes = %d before, %d after 340 KB stored; want %d (file and WAL), grown by the batch", before, after, want)
	}
}
