package filetail

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

// countingEmitter never blocks; it signals when it has seen want lines.
type countingEmitter struct {
	lines, bytes int
	want         int
	done         chan struct{}
}

func (e *countingEmitter) Emit(_ context.Context, r collectors.Record) error {
	e.lines++
	e.bytes += len(r.Body)
	if e.lines == e.want {
		close(e.done)
	}
	return nil
}

func (e *countingEmitter) TryEmit(collectors.Record) bool { return false }

// BenchmarkTail tails a pre-written file of 170-byte lines (32 MiB, in the
// page cache) from start to end, through Run with a non-blocking emitter.
// One op is the whole file, so allocs/op are per file, not per line.
func BenchmarkTail(b *testing.B) {
	const lineLen = 170
	const size = 32 << 20
	path := filepath.Join(b.TempDir(), "bench.log")
	var sb strings.Builder
	n := 0
	for sb.Len()+lineLen <= size {
		l := fmt.Sprintf("2026-01-02T03:04:05.%06d+00:00 gw-%03d sshd[%d]: Accepted publickey for user%d from 10.0.%d.%d port %d ssh2: ED25519 SHA256:",
			n%1000000, n%1000, 1000+n%30000, n%50, n%256, (n/256)%256, 1024+n%60000)
		sb.WriteString(l)
		sb.WriteString(strings.Repeat("k", lineLen-1-len(l)))
		sb.WriteByte('\n')
		n++
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		Paths:     []string{path},
		PollEvery: time.Hour, // the first read does it all
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	b.SetBytes(int64(sb.Len()))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		tl, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		em := &countingEmitter{want: n, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- tl.Run(ctx, em) }()
		<-em.done
		cancel()
		if err := <-ran; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	// CPU time rather than wall time: what the agent's budget is stated
	// in (MiB per CPU-second), and steadier on a shared machine.
	cpu := (cpuTime(b) - cpu0).Seconds()
	b.ReportMetric(float64(b.N)*float64(sb.Len())/(1<<20)/cpu, "MiB/cpu-s")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
