package sqlite

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
)

// TestWALStaysBounded: a collector's WAL stays under walMaxBytes through
// steady commits worth many times that, with a reader querying between them
// (as the API and the detector do), instead of growing to 64 MiB; a burst
// faster than the background checkpointer is bounded by SQLite's own
// autocheckpoint, and the file is cut back to walMaxBytes after it.
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
	var i uint64
	// commitN commits until bytes of WAL frames are written; with steady,
	// it lets the checkpointer finish a poll after every walCheckpointBytes/4
	// written, as it does on its own at a steady pace on a machine that is
	// not overloaded (a timed pause alone is no pace when the scheduler is
	// starved: the test failed at load 20 with 20 ms pauses).
	commitN := func(steady bool, bytes int64) (most int64) {
		var written, sincePoll int64 // bytes of WAL frames written
		for ; written < bytes; i++ {
			before := walSize(t, path)
			commit(t, s, dev, dev.Next(f.Lines(20, 200)...), i)
			after := walSize(t, path)
			grew := int64(pageBytes) // the log started over: at least one frame written
			if after > before {
				grew = after - before
			}
			written += grew
			sincePoll += grew
			most = max(most, after)
			if i%8 == 0 { // the reader's snapshot ends with its query
				if n := count(t, ro, store.RecordQuery{Device: "d"}); n != int64(20*(i+1)) {
					t.Fatalf("reader sees %d records after %d commits, want %d", n, i+1, 20*(i+1))
				}
			}
			if steady && sincePoll >= walCheckpointBytes/4 {
				for p := s.ckpt.polls.Load(); s.ckpt.polls.Load() < p+2; { // one whole poll after this commit
					time.Sleep(time.Millisecond)
				}
				sincePoll = 0
			}
		}
		return most
	}
	// A steady collector: the checkpointer keeps up, the file stays in its bound.
	// The file is cut back to walMaxBytes when the log starts over; between
	// two polls of the checkpointer it may hold up to walCheckpointBytes more.
	if most := commitN(true, 3*walMaxBytes); most > walMaxBytes+walCheckpointBytes {
		t.Errorf("steady commits: -wal file reached %d bytes, want at most %d", most, walMaxBytes+walCheckpointBytes)
	}
	// A burst faster than the checkpointer (commits back to back, a reader
	// between them): bounded near the autocheckpoint backstop (1000 pages),
	// and cut back to the bound once it has passed.
	if most := commitN(false, 12*walMaxBytes); most > 2*1000*pageBytes {
		t.Errorf("burst: -wal file reached %d bytes, want at most %d", most, 2*1000*pageBytes)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		commit(t, s, dev, dev.Next(f.Lines(1, 10)...), i)
		i++
		if n := walSize(t, path); n <= walMaxBytes {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("10 s after the burst the -wal file is %d bytes, want at most %d", n, walMaxBytes)
		}
		time.Sleep(walPoll)
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
