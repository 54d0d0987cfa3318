package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
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
