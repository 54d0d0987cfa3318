package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/loggen"
	"github.com/offbox/offbox/transport/seal"
)

// BenchmarkRunnerRealistic is BenchmarkRunnerLogLines on loggen's bastion
// mix (issue 19), where the rules find failures, logins and bursts, so the
// round's cost includes grouping and saving the alerts: batches of 5,000
// lines (about 650 KiB), offered at commit as the collector does.
func BenchmarkRunnerRealistic(b *testing.B) {
	f := &fixture{t: &testing.T{}, clk: &clock{t: t0}, dev: batchtest.NewDevice("sw1")}
	f.path = b.TempDir() + "/bench.db"
	f.open()
	defer f.st.Close()
	const perBatch = 5000
	g := loggen.New(loggen.Config{Seed: 1, Devices: 4, Start: t0, Span: time.Hour, Lines: 1_000_000})
	recs := make([]seal.WireRecord, perBatch)
	r := f.runner()
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range recs {
			line := g.Append(nil)
			bytes += int64(len(line))
			recs[i] = seal.WireRecord{TimeNs: t0.UnixNano(), Kind: 1, Source: "file:/var/log/auth.log", Body: line[:len(line)-1]}
		}
		sb := batchtest.Commit(f.dev.Name, f.dev.Next(recs...), f.dev.Seq-1)
		sb.Received = f.clk.Now()
		if err := f.st.CommitBatch(context.Background(), sb); err != nil {
			b.Fatal(err)
		}
		r.Offer(sb)
		b.StartTimer()
		if _, err := r.Round(context.Background(), false); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/line")
	b.ReportMetric(float64(bytes)/float64(b.N*perBatch), "B/line")
	b.ReportMetric(float64(r.Stats().Alerts)/float64(b.N), "alerts-saved/round")
}

// BenchmarkRunnerRealisticRun is the same mix drained by rounds of one
// 5,000-line batch, 8 batches per op: serial (Round: observe, then wait
// for the save) and overlapped (Run: round N+1 observes while round N's
// save is written). ns/line is wall time: the overlap gains only when a
// second core is free for the store's writer.
func BenchmarkRunnerRealisticRun(b *testing.B) {
	for _, overlapped := range []bool{false, true} {
		b.Run(map[bool]string{false: "serial", true: "overlapped"}[overlapped], func(b *testing.B) {
			f := &fixture{t: &testing.T{}, clk: &clock{t: t0}, dev: batchtest.NewDevice("sw1")}
			f.path = b.TempDir() + "/bench.db"
			f.open()
			defer f.st.Close()
			const perBatch, perOp = 5000, 8
			g := loggen.New(loggen.Config{Seed: 1, Devices: 4, Start: t0, Span: time.Hour, Lines: 1_000_000})
			r, err := New(Config{Store: f.st, Now: f.clk.Now, Limit: 1, Poll: time.Hour, Tick: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			if overlapped {
				go func() { done <- r.Run(ctx) }()
			} else if err := r.restore(ctx); err != nil {
				b.Fatal(err)
			}
			var row int64
			for b.Loop() {
				b.StopTimer()
				var committed []*store.Batch
				for range perOp {
					recs := make([]seal.WireRecord, perBatch)
					for i := range recs {
						line := g.Append(nil)
						recs[i] = seal.WireRecord{TimeNs: t0.UnixNano(), Kind: 1, Source: "file:/var/log/auth.log", Body: line[:len(line)-1]}
					}
					sb := batchtest.Commit(f.dev.Name, f.dev.Next(recs...), f.dev.Seq-1)
					sb.Received = f.clk.Now()
					if err := f.st.CommitBatch(ctx, sb); err != nil {
						b.Fatal(err)
					}
					committed = append(committed, sb)
				}
				row += perOp
				b.StartTimer()
				for _, sb := range committed {
					r.Offer(sb)
				}
				if overlapped {
					for r.BatchRow() < row {
						time.Sleep(100 * time.Microsecond)
					}
					continue
				}
				for {
					more, err := r.Round(ctx, false)
					if err != nil {
						b.Fatal(err)
					}
					if !more && r.BatchRow() == row {
						break
					}
				}
			}
			cancel()
			if overlapped {
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp*perBatch), "ns/line")
		})
	}
}
