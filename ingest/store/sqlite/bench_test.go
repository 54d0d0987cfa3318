package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/offbox/offbox/ingest/store/internal/sqlrow/commitbench"
)

// BenchmarkCommitBatch commits batches of 1 MiB of 170-byte file lines
// (about 1.4 MB of batch bytes with each record's source, time and file
// range; MB/s counts batch bytes, file-MB/s the log lines they carry): the
// store's part of the file-to-stored path (bytes, index, checkpoint, head,
// fsync), with the batch decoded beforehand as the server does. serial is
// one device waiting for each commit (one agent's stream); parallel is
// several devices at once, which group commit shares fsyncs between.
func BenchmarkCommitBatch(b *testing.B) {
	for _, sync := range []string{"full", "normal"} {
		b.Run("sync="+sync+"/serial", func(b *testing.B) { benchCommit(b, sync, false) })
		b.Run("sync="+sync+"/parallel", func(b *testing.B) { benchCommit(b, sync, true) })
	}
}

func benchCommit(b *testing.B, sync string, parallel bool) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	commitbench.Run(b, s, parallel)
}
