package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow/commitbench"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
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

// BenchmarkCommitGroupTiny commits groups of 64 one-line batches from 64
// devices, as the writer groups them when 10,000 agents each send a line a
// second (BenchmarkFanIn10k): per batch, the fixed costs of a commit
// (device, batch row, segment, checkpoints, head) dominate. The writer
// runs a group without a savepoint per op (they cost 15 % of the collector's
// CPU at 1,000 agents).
func BenchmarkCommitGroupTiny(b *testing.B) {
	for _, mode := range []string{"grouped"} {
		b.Run(mode, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Sync: "normal"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const devices = 64
			tmpl := make([]*store.Batch, devices)
			for d := range tmpl {
				dev := batchtest.NewDevice(fmt.Sprintf("fan-%d", d))
				tmpl[d] = batchtest.Commit(dev.Name, dev.Next(seal.WireRecord{TimeNs: 1, Kind: 1, Source: "syslog",
					Body: []byte("<78>CRON[1234]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")}), 0)
			}
			b.ReportAllocs()
			var seq uint64
			for b.Loop() {
				seq++
				group := make([]*op, devices)
				for d, t := range tmpl {
					bt := *t
					bt.ExpectHead = seq - 1
					h := proto.Clone(t.Decoded.GetHeader()).(*offboxv1.BatchHeader)
					h.Seq = seq
					bt.Decoded = &offboxv1.Batch{Header: h, Records: t.Decoded.GetRecords()}
					group[d] = &op{Size: len(bt.Bytes), Done: make(chan error, 1), Apply: func(ctx context.Context, tx *sql.Tx) error {
						_, err := s.commitBatch(ctx, tx, &bt, bt.Decoded)
						return err
					}}
				}
				s.w.commitGroup(group)
				for _, o := range group {
					if err := <-o.Done; err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*devices), "ns/batch")
		})
	}
}
