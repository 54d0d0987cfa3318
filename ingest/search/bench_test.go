package search_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/search"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/internal/loggen"
	"github.com/offbox/offbox/transport/seal"
)

// The generated store of BenchmarkSearch: benchLines lines of loggen's
// realistic mixes (80 bastion hosts, 20 edge routers' syslog servers) from
// benchDevices devices over benchSpan, sealed and signed as agents do
// (batches of benchBatch lines, about 85 KB: a busy device's batches) and
// committed through the store API. One line in rareEvery carries the rare
// word. It is built once under the user's cache directory, keyed by
// benchVersion and the line count, and reused.
const (
	benchVersion = 2
	benchDevices = 100
	benchSpan    = 7 * 24 * time.Hour
	benchBatch   = 500
	rareEvery    = 50_000
	rareWord     = "zq7rareword"
)

var benchStart = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func benchLines() int {
	if s := os.Getenv("OFFBOX_SEARCH_BENCH_LINES"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 10_000_000
}

// benchStore returns the path of the generated store, building it if
// needed, and the raw bytes of its lines.
func benchStore(b *testing.B) (string, int64) {
	lines := benchLines()
	cache := os.Getenv("OFFBOX_BENCH_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			b.Fatal(err)
		}
		cache = filepath.Join(dir, "offbox-bench")
	}
	dir := filepath.Join(cache, fmt.Sprintf("search-v%d-schema%d-%d", benchVersion, sqlite.SchemaVersion(), lines))
	path := filepath.Join(dir, "store.db")
	rawFile := filepath.Join(dir, "raw-bytes")
	if raw, err := os.ReadFile(rawFile); err == nil {
		n, _ := strconv.ParseInt(string(raw), 10, 64)
		return path, n
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	st, err := sqlite.Open(path, sqlite.Options{Sync: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	var raw int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	perDev := lines / benchDevices
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := w; d < benchDevices; d += 2 {
				n, err := fillDevice(st, d, perDev)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				raw += n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	built := time.Since(start)
	x := &search.Indexer{Store: st, Batch: 256}
	start = time.Now()
	for {
		n, err := x.Step(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	b.Logf("built %d lines (%.2f GB) in %v, indexed in %v", lines, float64(raw)/1e9, built.Round(time.Second), time.Since(start).Round(time.Second))
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(rawFile, []byte(strconv.FormatInt(raw, 10)), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, raw
}

// fillDevice stores n lines of device d, and returns their bytes.
func fillDevice(st *sqlite.Store, d, n int) (int64, error) {
	mix := loggen.Bastion
	if d%5 == 4 {
		mix = loggen.EdgeRouter
	}
	g := loggen.New(loggen.Config{Seed: uint64(d) + 1, Devices: 1, Start: benchStart, Span: benchSpan, Lines: n, Mix: mix})
	dev := batchtest.NewDevice(fmt.Sprintf("dev-%03d", d))
	step := benchSpan / time.Duration(n)
	var raw int64
	buf := make([]byte, 0, 256*benchBatch)
	for i := 0; i < n; {
		buf = buf[:0]
		recs := make([]seal.WireRecord, 0, benchBatch)
		var last time.Time
		for ; i < n && len(recs) < benchBatch; i++ {
			start := len(buf)
			buf = g.Append(buf)
			if (i*benchDevices+d)%rareEvery == rareEvery/2 {
				buf = append(buf[:len(buf)-1], " trace="+rareWord+"\n"...)
			}
			line := buf[start : len(buf)-1] // without the newline
			raw += int64(len(line)) + 1
			last = benchStart.Add(time.Duration(i) * step)
			recs = append(recs, seal.WireRecord{TimeNs: last.UnixNano(), Kind: 1, Source: "file:/var/log/syslog", Body: line})
		}
		sealed := dev.Next(recs...)
		c := batchtest.Commit(dev.Name, sealed, sealed.Seq-1)
		c.Received = last.Add(time.Duration(d) * time.Millisecond)
		if err := st.CommitBatch(context.Background(), c); err != nil {
			return 0, err
		}
	}
	return raw, nil
}

// BenchmarkSearch runs the searches on the generated store of
// 10,000,000 lines and reports the p50 of each (ms), with the store's
// figures: filter bytes as a share of the raw line bytes.
func BenchmarkSearch(b *testing.B) {
	path, raw := benchStore(b)
	st, err := sqlite.OpenReadOnly(path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	var filters, batches int64
	if err := db.QueryRow(`SELECT COALESCE(SUM(length(bits)), 0), count(*) FROM search_filters`).Scan(&filters, &batches); err != nil {
		b.Fatal(err)
	}
	db.Close()
	fi, _ := os.Stat(path)
	b.Logf("store: %d lines, %.2f GB of lines, file %.2f GB, %d batches, filters %.1f MB = %.2f %% of the line bytes",
		benchLines(), float64(raw)/1e9, float64(fi.Size())/1e9, batches, float64(filters)/1e6, 100*float64(filters)/float64(raw))

	day := benchStart.Add(3 * 24 * time.Hour)
	run := func(name, query string, req search.Request, check func(*testing.B, *search.Page)) {
		b.Run(name, func(b *testing.B) {
			q, err := search.Parse(query)
			if err != nil {
				b.Fatal(err)
			}
			req.Query = q
			var times []time.Duration
			var last *search.Page
			cpu0 := cpuTime()
			for b.Loop() {
				t0 := time.Now()
				p, err := search.Run(ctx, st, req)
				if err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(t0))
				last = p
			}
			cpu := cpuTime() - cpu0
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			// CPU time is what a busy machine does not inflate much: on an
			// idle 2-core machine wall time is about CPU time / 2 when the
			// search runs in parallel, and CPU time when it does not.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(times)), "cpu-ms/op")
			b.ReportMetric(float64(last.Stats.Scanned), "batches-scanned")
			check(b, last)
		})
	}
	run("RareWordFirst100", rareWord, search.Request{Limit: 100}, func(b *testing.B, p *search.Page) {
		if want := min(100, benchLines()/rareEvery); len(p.Results) != want {
			b.Fatalf("%d results, want %d", len(p.Results), want)
		}
	})
	run("RareWordCount", rareWord, search.Request{Count: true}, func(b *testing.B, p *search.Page) {
		if want := int64(benchLines() / rareEvery); p.Count != want {
			b.Fatalf("count %d, want %d", p.Count, want)
		}
	})
	run("WordDeviceHour", "failed", search.Request{Devices: []string{"dev-007"}, Since: day, Until: day.Add(time.Hour), Limit: 100},
		func(b *testing.B, p *search.Page) {
			if len(p.Results) == 0 {
				b.Fatal("no results")
			}
		})
	run("RegexDeviceDay", `re:"Failed password for (invalid user )?\w+ from 10\.\d+"`, search.Request{Devices: []string{"dev-042"},
		Since: day, Until: day.Add(24 * time.Hour), Count: true}, func(b *testing.B, p *search.Page) {
		if p.Count == 0 {
			b.Fatal("no results")
		}
	})
}

// BenchmarkFilter builds the filter of a 500-line batch of loggen lines
// (what the indexer does per batch after decoding it).
func BenchmarkFilter(b *testing.B) {
	g := loggen.New(loggen.Config{Seed: 1})
	var lines [][]byte
	var n int64
	for range benchBatch {
		l := g.Append(nil)
		lines = append(lines, l)
		n += int64(len(l))
	}
	var fb search.FilterBuilder
	b.SetBytes(n)
	for b.Loop() {
		for _, l := range lines {
			fb.Add(l)
		}
		fb.Finish()
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
