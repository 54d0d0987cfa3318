package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkLatency measures append→stored latency at a steady 5,000 lines/s:
// a writer appends to a file the real agent tails for 20 s, every line
// carrying its append time in nanoseconds; afterwards each stored record's
// received time (the collector's clock, the same machine) less that append
// time is the line's latency. Reports p50, p99 and max in ms (targets:
// p50 ≤ 50 ms, p99 ≤ 250 ms). Run it with `make bench`.
func BenchmarkLatency(b *testing.B) {
	const (
		rate     = 5000 // lines per second
		duration = 20 * time.Second
		lines    = rate * int(duration/time.Second)
	)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		logf := filepath.Join(dir, "latency.log")
		if err := os.WriteFile(logf, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		p := newPKI(b, "lat")
		db := filepath.Join(b.TempDir(), "store.db") // not beside the tailed file, as on a real device
		in := startIngest(b, p, db, "127.0.0.1:0")
		ag := startAgent(b, p, "lat", in.addr, "-tail", logf, "-start-at", "beginning")
		// Wait until the agent has a session (its first records are stored).
		waitFor(b, 20*time.Second, "the agent's first records", func() bool {
			if ag.exited() {
				b.Fatalf("agent exited: %s", ag.out.String())
			}
			return count(b, db) > 0
		})
		time.Sleep(time.Second) // let the tailer settle on the empty file

		f, err := os.OpenFile(logf, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			b.Fatal(err)
		}
		var buf []byte
		t0 := time.Now()
		written := 0
		tick := time.NewTicker(time.Millisecond)
		for written < lines {
			<-tick.C
			due := min(lines, int(time.Since(t0).Seconds()*rate))
			if due <= written {
				continue
			}
			buf = buf[:0]
			now := time.Now().UnixNano()
			for ; written < due; written++ {
				buf = appendLatencyLine(buf, written, now)
			}
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		writeSecs := time.Since(t0).Seconds()
		f.Close()

		source := "file:" + logf
		waitFor(b, 60*time.Second, "every line to be stored", func() bool {
			if ag.exited() {
				b.Fatalf("agent exited: %s", ag.out.String())
			}
			return count(b, db, "-source", source) >= lines
		})
		ag.stop()
		in.stop()

		lat := make([]time.Duration, 0, lines)
		for _, r := range records(b, db, "-source", source) {
			if r.Kind != "log" {
				continue
			}
			fs := strings.Fields(r.Body)
			if len(fs) < 3 || fs[0] != "lat" {
				b.Fatalf("unexpected body %q", r.Body)
			}
			ns, err := strconv.ParseInt(fs[2], 10, 64)
			if err != nil {
				b.Fatalf("body %q: %v", r.Body, err)
			}
			lat = append(lat, r.ReceivedTime.Sub(time.Unix(0, ns)))
		}
		if len(lat) != lines {
			b.Fatalf("%d latency samples, want %d", len(lat), lines)
		}
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
		p50, p99, mx := ms(pct(0.50)), ms(pct(0.99)), ms(lat[len(lat)-1])
		b.ReportMetric(p50, "p50-ms")
		b.ReportMetric(p99, "p99-ms")
		b.ReportMetric(mx, "max-ms")
		fmt.Printf("latency: %d lines at %d lines/s (written in %.1fs), append→stored p50 %.1f ms, p99 %.1f ms, max %.1f ms (targets: p50 ≤ 50 ms %s, p99 ≤ 250 ms %s)\n",
			lines, rate, writeSecs, p50, p99, mx, met(p50 <= 50), met(p99 <= 250))
	}
	b.ReportMetric(0, "ns/op")
}

// appendLatencyLine appends line i, appended at ns (Unix nanoseconds), padded
// to 169 bytes plus the newline like lineText.
func appendLatencyLine(buf []byte, i int, ns int64) []byte {
	start := len(buf)
	buf = fmt.Appendf(buf, "lat %08d %d Nov 22 18:00:00 host app[123]: ", i, ns)
	for len(buf)-start < 169 {
		buf = append(buf, 'x')
	}
	return append(buf, '\n')
}

// met is "met" or "NOT met", for the figures' lines.
func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
