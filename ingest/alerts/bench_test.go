package alerts

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/transport/seal"
)

// BenchmarkRunnerLogLines is detection's cost per stored log line (syslog
// lines of 170 bytes, in batches of 5,000): handed over at commit
// (offered), as the collector does, and read back from the real store and
// decoded (stored), as after a restart or when detection is behind.
func BenchmarkRunnerLogLines(b *testing.B) {
	for _, offered := range []bool{true, false} {
		name := map[bool]string{true: "offered", false: "stored"}[offered]
		b.Run(name, func(b *testing.B) {
			f := &fixture{t: &testing.T{}, clk: &clock{t: t0}, dev: batchtest.NewDevice("sw1")}
			f.path = b.TempDir() + "/bench.db"
			f.open()
			defer f.st.Close()
			const perBatch = 5000
			recs := make([]seal.WireRecord, perBatch)
			for i := range recs {
				body := fmt.Sprintf("bench %08d Nov 22 18:00:00 host app[123]: ", i)
				recs[i] = seal.WireRecord{TimeNs: t0.UnixNano(), Kind: 1, Source: "file:/var/log/app.log",
					Body: []byte(body + strings.Repeat("x", 169-len(body)))}
			}
			r := f.runner()
			b.SetBytes(perBatch * 170)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				sb := batchtest.Commit(f.dev.Name, f.dev.Next(recs...), f.dev.Seq-1)
				sb.Received = f.clk.Now()
				if err := f.st.CommitBatch(context.Background(), sb); err != nil {
					b.Fatal(err)
				}
				if offered {
					r.Offer(sb)
				}
				b.StartTimer()
				if _, err := r.Round(context.Background(), false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/line")
		})
	}
}
