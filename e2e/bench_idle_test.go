package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkIdle measures the real agent at rest: default 15 s heartbeats,
// tailing a file nobody writes, connected to a real collector. After a 10 s
// warm-up it reports, over 60 s, the agent's RSS at the end (VmRSS), its
// peak RSS (VmHWM) and its CPU use in percent of one core (from the
// threads' schedstat, to the nanosecond; targets:
// RSS ≤ 10 MiB, CPU ≤ 0.2 %). Run it with `make bench`.
func BenchmarkIdle(b *testing.B) {
	const (
		warmup = 10 * time.Second
		window = 60 * time.Second
	)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		logf := filepath.Join(dir, "idle.log")
		if err := os.WriteFile(logf, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		p := newPKI(b, "idle")
		// The collector's database is elsewhere, as on a real device:
		// writes in the tailed file's directory wake the agent.
		db := filepath.Join(b.TempDir(), "store.db")
		in := startIngest(b, p, db, "127.0.0.1:0")
		ag := startAgent(b, p, "idle", in.addr, "-tail", logf)
		time.Sleep(warmup)
		if ag.exited() {
			b.Fatalf("agent exited: %s", ag.out.String())
		}
		cpu0, t0 := cpuPrecise(b, ag.pid()), time.Now()
		// RSS sampled every 250 ms over the window: the highest and the
		// mean, since an idle agent's resident set moves with what it
		// runs (and with the code pages it gives back).
		var maxRSS, sumRSS, n float64
		for time.Since(t0) < window {
			time.Sleep(250 * time.Millisecond)
			v := float64(procStatus(b, ag.pid(), "VmRSS")) / 1024
			maxRSS, sumRSS, n = max(maxRSS, v), sumRSS+v, n+1
		}
		if ag.exited() {
			b.Fatalf("agent exited: %s", ag.out.String())
		}
		cpu1, elapsed := cpuPrecise(b, ag.pid()), time.Since(t0)
		rss := maxRSS
		meanRSS := sumRSS / n
		hwm := float64(procStatus(b, ag.pid(), "VmHWM")) / 1024
		heartbeats := count(b, db, "-kind", "heartbeat")
		ag.stop()
		in.stop()
		pct := 100 * (cpu1 - cpu0) / elapsed.Seconds()
		b.ReportMetric(rss, "agent-rss-MiB")
		b.ReportMetric(meanRSS, "agent-mean-rss-MiB")
		b.ReportMetric(hwm, "agent-peak-rss-MiB")
		b.ReportMetric(pct, "agent-cpu-%")
		fmt.Printf("idle: agent over %.0fs after %.0fs warm-up: RSS at most %.1f MiB, mean %.1f MiB (sampled every 250 ms; peak since start %.1f MiB), CPU %.3f%% (%.3f CPU-s); %d heartbeats stored (targets: RSS ≤ 10 MiB %s, CPU ≤ 0.2%% %s)\n",
			elapsed.Seconds(), warmup.Seconds(), rss, meanRSS, hwm, pct, cpu1-cpu0, heartbeats, met(rss <= 10), met(pct <= 0.2))
	}
	b.ReportMetric(0, "ns/op")
}
