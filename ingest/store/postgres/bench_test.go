package postgres

import (
	"testing"

	"github.com/offbox/offbox/ingest/store/internal/sqlrow/commitbench"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
)

// BenchmarkCommitBatch is store/sqlite's benchmark of the same name on
// PostgreSQL, so the figures compare: batches of 1 MiB of 170-byte file
// lines (about 1.4 MB of batch bytes; MB/s counts batch bytes, file-MB/s
// the log lines they carry), decoded beforehand as the server does. serial
// is one device waiting for each commit; parallel is several devices at
// once, which group commit shares commits between. The server's own
// durability settings (synchronous_commit, fsync) apply.
func BenchmarkCommitBatch(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchCommit(b, false) })
	b.Run("parallel", func(b *testing.B) { benchCommit(b, true) })
}

func benchCommit(b *testing.B, parallel bool) {
	commitbench.Run(b, openAt(b, pgtest.URL(b), Options{}), parallel)
}
