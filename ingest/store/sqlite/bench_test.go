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

// BenchmarkCommitGroupTiny commits groups of one-line batches, as the
// writer groups them when a fleet of agents each sends a line a second
// (BenchmarkFanIn10k): per batch, the fixed costs of a commit (device,
// batch row, segment, checkpoints, head) dominate. grouped is 64 devices,
// each in every group; fleet is 10,000 devices in groups of 128 (the
// writer's most), each device every 79th group, so a group's rows are on
// as many pages as it has devices, as in a fleet's store (three batches a
// device are stored before the clock starts). The writer runs a group
// without a savepoint per op (they cost 15 % of the collector's CPU at
// 1,000 agents).
func BenchmarkCommitGroupTiny(b *testing.B) {
	for _, c := range []struct {
		name           string
		devices, group int
	}{{"grouped", 64, 64}, {"fleet", 10_000, 128}} {
		b.Run(c.name, func(b *testing.B) { benchTiny(b, c.devices, c.group) })
	}
}

func benchTiny(b *testing.B, devices, group int) {
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Sync: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tmpl, seqs := make([]*store.Batch, devices), make([]uint64, devices)
	for d := range tmpl {
		dev := batchtest.NewDevice(fmt.Sprintf("fan-%d", d))
		tmpl[d] = batchtest.Commit(dev.Name, dev.Next(seal.WireRecord{TimeNs: 1, Kind: 1, Source: "syslog",
			Body: []byte("<78>CRON[1234]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)")}), 0)
	}
	next := 0
	commit := func() {
		ops := make([]*op, group)
		for i := range ops {
			d := next % devices
			next++
			seqs[d]++
			bt := *tmpl[d]
			bt.ExpectHead = seqs[d] - 1
			h := proto.Clone(bt.Decoded.GetHeader()).(*offboxv1.BatchHeader)
			h.Seq = seqs[d]
			bt.Decoded = &offboxv1.Batch{Header: h, Records: bt.Decoded.GetRecords()}
			ops[i] = &op{Size: len(bt.Bytes), Done: make(chan error, 1), Apply: func(ctx context.Context, tx *sql.Tx) error {
				_, err := s.commitBatch(ctx, tx, &bt, bt.Decoded)
				return err
			}}
		}
		s.w.commitGroup(ops)
		for _, o := range ops {
			if err := <-o.Done; err != nil {
				b.Fatal(err)
			}
		}
	}
	if devices > group {
		for range 3 * devices / group {
			commit()
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		commit()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*group), "ns/batch")
}
