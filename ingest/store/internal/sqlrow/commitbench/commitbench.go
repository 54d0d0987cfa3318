// Package commitbench is the body of BenchmarkCommitBatch, shared by the
// SQL stores so that their figures compare: the same batches, committed
// the same way. Benchmarks only; it never opens a store of its own.
package commitbench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Run commits b.N batches of 1 MiB of 170-byte file lines to s (about
// 1.4 MB of batch bytes with each record's source, time and file range;
// MB/s counts batch bytes, file-MB/s the log lines they carry), decoded
// beforehand as the server does. Not parallel: one device waiting for
// each commit (one agent's stream); parallel: several devices at once,
// which group commit shares commits between.
func Run(b *testing.B, s store.Ingester, parallel bool) {
	ctx := context.Background()
	dev := batchtest.NewDevice("bench")
	f := batchtest.NewFile("file:/var/log/bench.log", 1, 2)
	var lines int
	for lines = 0; lines*171 < 1<<20; lines++ {
	}
	sealed := dev.Next(f.Lines(lines, 170)...)
	tmpl := batchtest.Commit("bench", sealed, 0)
	b.SetBytes(int64(len(sealed.Bytes)))
	b.ReportAllocs()
	defer func() {
		b.ReportMetric(float64(lines*171)*float64(b.N)/b.Elapsed().Seconds()/1e6, "file-MB/s")
	}()

	// The store takes the sequence number from the decoded header, so one
	// sealed batch serves for every seq. Each of a few prepared variants
	// names another file, so no line is a duplicate of the last checkpoint.
	const variants = 4
	var decoded [variants][]*offboxv1.Record
	for v := range variants {
		for _, r := range tmpl.Decoded.GetRecords() {
			id := proto.Clone(r.GetFile().GetFile()).(*offboxv1.FileIdentity)
			id.Inode = uint64(100 + v)
			decoded[v] = append(decoded[v], &offboxv1.Record{TimeNs: r.GetTimeNs(), Kind: r.GetKind(), Source: r.GetSource(),
				Body: r.GetBody(), File: &offboxv1.FileRange{File: id, Start: r.GetFile().GetStart(), End: r.GetFile().GetEnd()}})
		}
	}
	next := func(device string, seq uint64) *store.Batch {
		bt := *tmpl
		bt.Device, bt.ExpectHead = device, seq-1
		h := proto.Clone(tmpl.Decoded.GetHeader()).(*offboxv1.BatchHeader)
		h.Seq = seq
		bt.Decoded = &offboxv1.Batch{Header: h, Records: decoded[seq%variants]}
		return &bt
	}
	if !parallel {
		var seq uint64
		for b.Loop() {
			seq++
			if err := s.CommitBatch(ctx, next("bench", seq)); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	var devices atomic.Int64
	b.SetParallelism(4) // 8 committers on 2 cores: the fan-in case
	b.RunParallel(func(pb *testing.PB) {
		name := fmt.Sprintf("bench-%d", devices.Add(1))
		var seq uint64
		for pb.Next() {
			seq++
			if err := s.CommitBatch(ctx, next(name, seq)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
