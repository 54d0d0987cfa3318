package e2e

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// BenchmarkEndToEnd ships 1,000,000 lines of about 170 bytes from a file,
// over mutual TLS on loopback, into offbox-ingest's SQLite store, and reports
// what a user compares shippers by: MiB/s from file to durably stored and
// acknowledged, agent CPU seconds, MiB per agent CPU-second and the agent's
// peak RSS. Run it with `make bench` (or -bench EndToEnd -benchtime 1x).
//
// Each runs on two inputs (issue 19): synthetic, lines no rule reads, and
// realistic, internal/loggen's bastion mix (sshd failures and logins,
// bursts, sessions, sudo, cron, kernel, systemd, appliance lines), which
// detection works on; both report detection's lag (bench_detect_test.go).
func BenchmarkEndToEnd(b *testing.B) {
	for _, input := range benchInputs {
		b.Run(input, func(b *testing.B) {
			// The database is not in the tailed file's directory, as on a real
			// device (its writes would wake the agent's directory watch).
			dbDir := b.TempDir()
			endToEnd(b, b.TempDir(), "SQLite", input, func(i int) string { return filepath.Join(dbDir, fmt.Sprintf("store-%d.db", i)) })
		})
	}
	// The floor of the realistic figure (issue 19): its line lengths, with
	// nothing for detection to do and one token a line to index.
	b.Run("realistic-sized", func(b *testing.B) {
		dbDir := b.TempDir()
		endToEnd(b, b.TempDir(), "SQLite", "realistic-sized", func(i int) string { return filepath.Join(dbDir, fmt.Sprintf("store-%d.db", i)) })
	})
	// What search costs at ingest (issue 18: at least 90 % of the
	// throughput without it): the synthetic run with search.index off.
	b.Run("synthetic-search-index-off", func(b *testing.B) {
		dir, dbDir := b.TempDir(), b.TempDir()
		conf := filepath.Join(dir, "no-index.yaml")
		if err := os.WriteFile(conf, []byte("search:\n  index: false\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		endToEnd(b, dir, "SQLite, search index off", "synthetic", func(i int) string { return filepath.Join(dbDir, fmt.Sprintf("store-%d.db", i)) },
			"-config", conf)
	})
}

// BenchmarkEndToEndPostgres is BenchmarkEndToEnd into a PostgreSQL store
// (a fresh database on the server OFFBOX_TEST_POSTGRES names, as the
// scale-out tests use), for comparison with SQLite.
func BenchmarkEndToEndPostgres(b *testing.B) {
	for _, input := range benchInputs {
		b.Run(input, func(b *testing.B) {
			endToEnd(b, b.TempDir(), "PostgreSQL", input, func(int) string { return pgtest.URL(b) })
		})
	}
}

// endToEnd runs the benchmark b.N times on input, each into the store
// db(i) names, the collector given ingestArgs too.
func endToEnd(b *testing.B, dir, engine, input string, db func(i int) string, ingestArgs ...string) {
	const lines = 1_000_000
	logf := filepath.Join(dir, "bench.log")
	writeBenchInput(b, logf, input, lines)
	st, _ := os.Stat(logf)
	mib := float64(st.Size()) / (1 << 20)
	p := newPKI(b, "bench")
	for i := 0; i < b.N; i++ {
		db := db(i)
		in := startIngest(b, p, db, "127.0.0.1:0", append(slices.Clone(ingestArgs), benchPprofArgs()...)...)
		pg0 := postgresCPU(b)
		t0 := time.Now()
		ag := startAgent(b, p, "bench", in.addr, append([]string{"-tail", logf, "-start-at", "beginning"}, benchPprofArgs()...)...)
		source := "file:" + logf
		stored := storedCounter(b, db, source)
		lag := newLagWatch(b, db)
		prof := startProfiles(b, in, ag, path.Base(b.Name()), i)
		for stored() < lines {
			if ag.exited() {
				b.Fatalf("agent exited: %s", ag.out.String())
			}
			lag.poll()
			time.Sleep(20 * time.Millisecond)
		}
		elapsed := time.Since(t0)
		lag.poll()
		cpu := cpuSeconds(b, ag.pid())
		peak := float64(procStatus(b, ag.pid(), "VmHWM")) / 1024
		ingestCPU := cpuSeconds(b, in.pid())
		pgCPU := postgresCPU(b) - pg0
		backlog, p99, caughtUp := lag.finish(time.Second, 2*time.Minute)
		prof.wait()
		ingestCPUAll := cpuSeconds(b, in.pid())
		// The CLI agrees (and the query is audited, as every query is).
		if n := count(b, db, "-source", source); n != lines {
			b.Fatalf("records -count says %d lines stored, want %d", n, lines)
		}
		ag.stop()
		in.stop()
		b.ReportMetric(mib/elapsed.Seconds(), "MiB/s")
		b.ReportMetric(cpu, "agent-cpu-s")
		b.ReportMetric(mib/cpu, "MiB/agent-cpu-s")
		b.ReportMetric(peak, "agent-peak-rss-MiB")
		b.ReportMetric(ingestCPU, "ingest-cpu-s")
		b.ReportMetric(p99.Seconds(), "detect-lag-p99-s")
		b.ReportMetric(backlog.Seconds(), "detect-backlog-1s-after-s")
		server := ""
		if config.IsStoreURL(db) {
			b.ReportMetric(pgCPU, "postgres-cpu-s")
			server = fmt.Sprintf("; PostgreSQL server %.2f CPU-s", pgCPU)
		}
		fmt.Printf("end-to-end (%s, %s): %d lines, %.1f MiB in %.2fs = %.1f MiB/s; agent %.2f CPU-s (%.0f MiB per CPU-s), peak RSS %.1f MiB; ingest %.2f CPU-s (%.2f with detection caught up)%s; detection lag p99 %.2fs, backlog 1s after the last line %.2fs, caught up %.2fs after it\n",
			engine, input, lines, mib, elapsed.Seconds(), mib/elapsed.Seconds(), cpu, mib/cpu, peak, ingestCPU, ingestCPUAll, server,
			p99.Seconds(), backlog.Seconds(), caughtUp.Seconds())
	}
	b.ReportMetric(0, "ns/op")
}

// storedCounter counts the stored records of source by reading the store
// in this process (read-only, as the CLI's queries do, less the process
// start and the audit write each query costs), so that watching a run
// every 20 ms does not slow what it watches.
func storedCounter(b *testing.B, db, source string) func() int64 {
	ctx := context.Background()
	var st store.Reader
	for deadline := time.Now().Add(20 * time.Second); ; {
		var err error
		if config.IsStoreURL(db) {
			var pg *postgres.Store
			if pg, err = postgres.OpenReadOnly(ctx, db, postgres.Options{}); err == nil {
				b.Cleanup(func() { pg.Close() })
				st = pg
			}
		} else {
			var sq *sqlite.Store
			if sq, err = sqlite.OpenReadOnly(db, sqlite.Options{}); err == nil {
				b.Cleanup(func() { sq.Close() })
				st = sq
			}
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("open %s: %v", db, err)
		}
		time.Sleep(20 * time.Millisecond) // the collector creates it at start
	}
	return func() int64 {
		n, err := st.CountRecords(ctx, store.RecordQuery{Source: source})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
}

// postgresCPU is the CPU time of every PostgreSQL server process on this
// machine (0 when there are none), for the PostgreSQL run's figures. A
// backend that exits between two readings takes its time with it, so a
// difference is a lower bound.
func postgresCPU(b *testing.B) float64 {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		cpu, err := procCPU(pid)
		if err != nil {
			continue // exited meanwhile
		}
		total += cpu
	}
	return total
}
