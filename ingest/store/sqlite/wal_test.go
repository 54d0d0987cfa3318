package sqlite

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
)

// TestWALStaysBounded: a collector's WAL stays under walMaxBytes through
// commits worth many times that, with a reader querying between them (as
// the API and the detector do), instead of growing to 64 MiB.
func TestWALStaysBounded(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wal.db")
	s := open(t, path)
	defer s.Close()
	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/var/log/syslog", 1, 1)
	var written, most int64 // bytes of WAL frames written; largest -wal file seen
	for i := uint64(0); written < 12*walMaxBytes; i++ {
		before := walSize(t, path)
		commit(t, s, dev, dev.Next(f.Lines(20, 200)...), i)
		after := walSize(t, path)
		if after > before {
			written += after - before
		} else {
			written += pageBytes // the log started over: at least one frame written
		}
		most = max(most, after)
		if i%8 == 0 { // the reader's snapshot ends with its query
			if n := count(t, ro, store.RecordQuery{Device: "d"}); n != int64(20*(i+1)) {
				t.Fatalf("reader sees %d records after %d commits, want %d", n, i+1, 20*(i+1))
			}
		}
	}
	if most > walMaxBytes {
		t.Errorf("-wal file reached %d bytes over about %d bytes of commits, want at most %d", most, written, walMaxBytes)
	}
}

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
