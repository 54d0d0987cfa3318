package postgres

import (
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
)

// TestSizeBytes: the database's size (pg_database_size) grows with what
// is stored.
func TestSizeBytes(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	before, err := s.SizeBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dev := batchtest.NewDevice("a")
	f := batchtest.NewFile("file:/x", 1, 1)
	commit(t, s, dev, dev.Next(f.Lines(20000, 170)...), 0)
	after, err := s.SizeBytes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The lines are alike, and PostgreSQL compresses the batch bytes.
	if before <= 0 || after < before+100<<10 {
		t.Errorf("SizeBytes = %d before, %d after 3.4 MB stored; want it grown by at least 100 KiB", before, after)
	}
}
