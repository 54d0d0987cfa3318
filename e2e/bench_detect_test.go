package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/internal/loggen"
)

// benchInputs are the end-to-end benchmarks' inputs (issue 19).
var benchInputs = []string{"synthetic", "realistic"}

// writeBenchInput writes n lines of input to path: synthetic is lineText's
// 170-byte lines no rule reads; realistic is loggen's bastion mix, seed 1,
// four hosts, n lines over an hour.
func writeBenchInput(b testing.TB, path, input string, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	switch input {
	case "synthetic":
		for i := range n {
			w.WriteString(lineText("bench", i))
			w.WriteByte('\n')
		}
	case "realistic":
		if _, err := loggen.New(realisticConfig(n)).Write(w, n); err != nil {
			b.Fatal(err)
		}
	case "realistic-sized":
		// The realistic input's line lengths (so its bytes, lines and
		// batches), each line the synthetic text no rule reads, cut or
		// padded to the length: what the pipeline without detection's
		// work (events, alerts) and with one token a line costs on it.
		g := loggen.New(realisticConfig(n))
		for i := range n {
			w.WriteString(sizedLine(i, len(g.Append(nil))))
		}
	default:
		b.Fatalf("no bench input %q", input)
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
}

// sizedLine is synthetic line i (lineText) made size bytes long with its
// newline, padded with x or cut, never shorter than its header.
func sizedLine(i, size int) string {
	s := fmt.Sprintf("sized %08d Nov 22 18:00:00 host app[123]: ", i)
	return s + strings.Repeat("x", max(size-1-len(s), 1)) + "\n"
}

func realisticConfig(n int) loggen.Config {
	return loggen.Config{Seed: 1, Devices: 4, Lines: n, Span: time.Hour, Mix: loggen.Bastion}
}

// lagWatch measures detection's lag from outside the collector: each poll
// reads the last stored batch row and detection's cursor (saved with the
// alerts it raised, in one transaction), so a batch's lag is the time from
// the first poll that saw it stored to the first that saw the cursor past
// it (20 ms resolution).
type lagWatch struct {
	b       testing.TB
	read    func() (stored, detected int64)
	samples []lagSample
	end     time.Time // when the last line was stored
}

type lagSample struct {
	at               time.Time
	stored, detected int64
}

func newLagWatch(b testing.TB, db string) *lagWatch {
	ctx := context.Background()
	w := &lagWatch{b: b}
	if config.IsStoreURL(db) {
		conn, err := pgx.Connect(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(ctx) })
		w.read = func() (s, d int64) {
			if err := conn.QueryRow(ctx, `SELECT (SELECT coalesce(max(row), 0) FROM batch_log), (SELECT batch_row FROM detect_cursor)`).Scan(&s, &d); err != nil {
				b.Fatal(err)
			}
			return s, d
		}
		return w
	}
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	conn.SetMaxOpenConns(1)
	b.Cleanup(func() { conn.Close() })
	w.read = func() (s, d int64) {
		if err := conn.QueryRow(`SELECT (SELECT coalesce(max(id), 0) FROM batches), coalesce((SELECT batch_row FROM detect_cursor), 0)`).Scan(&s, &d); err != nil {
			b.Fatal(err)
		}
		return s, d
	}
	return w
}

func (w *lagWatch) poll() lagSample {
	s, d := w.read()
	x := lagSample{time.Now(), s, d}
	w.samples = append(w.samples, x)
	return x
}

// finish is called when the last line is stored: it polls until after
// (the backlog is read then: how long the oldest batch not yet detected
// has waited, 0 if none) and on until detection has caught up (at most
// limit), and returns the backlog, the p99 of the batches' lags over the
// run and when detection caught up, after the last line.
func (w *lagWatch) finish(after, limit time.Duration) (backlog, p99, caughtUp time.Duration) {
	w.end = time.Now()
	for time.Since(w.end) < after {
		time.Sleep(20 * time.Millisecond)
		w.poll()
	}
	last := w.samples[len(w.samples)-1]
	if last.detected < last.stored {
		backlog = last.at.Sub(w.storedAt(last.detected + 1))
	}
	for last.detected < last.stored && time.Since(w.end) < limit {
		time.Sleep(20 * time.Millisecond)
		last = w.poll()
	}
	if last.detected < last.stored {
		w.b.Fatalf("detection did not catch up within %s of the last line: cursor %d, stored %d", limit, last.detected, last.stored)
	}
	caughtUp = max(0, last.at.Sub(w.end))
	for _, s := range w.samples {
		if s.detected >= last.stored {
			caughtUp = max(0, s.at.Sub(w.end))
			break
		}
	}
	var lags []time.Duration
	si, di := 0, 0
	for row := int64(1); row <= last.stored; row++ {
		for w.samples[si].stored < row {
			si++
		}
		for w.samples[di].detected < row {
			di++
		}
		lags = append(lags, max(0, w.samples[di].at.Sub(w.samples[si].at)))
	}
	if len(lags) == 0 {
		return backlog, 0, caughtUp
	}
	slices.Sort(lags)
	return backlog, lags[(len(lags)*99+99)/100-1], caughtUp
}

func (w *lagWatch) storedAt(row int64) time.Time {
	for _, s := range w.samples {
		if s.stored >= row {
			return s.at
		}
	}
	return time.Now()
}

// Profiles: with OFFBOX_BENCH_PROFILE=DIR, the collector and the agent run
// with -pprof on loopback and a CPU profile of each is taken over the
// first OFFBOX_BENCH_PROFILE_SECONDS (default 15) of every run, into
// DIR/{ingest,agent}-INPUT-N.pprof, for `go tool pprof`; then what each
// allocated since it started, into DIR/{ingest,agent}-INPUT-N-allocs.pprof
// (`go tool pprof -sample_index=alloc_space`).

// benchPprofArgs are the extra flags of a profiled run.
func benchPprofArgs() []string {
	if os.Getenv("OFFBOX_BENCH_PROFILE") == "" {
		return nil
	}
	return []string{"-pprof", "127.0.0.1:0"}
}

var pprofAddrRE = regexp.MustCompile(`pprof listening \(loopback only\)" addr=(\S+)`)

type profiles struct{ done chan error }

func startProfiles(b *testing.B, in *ingest, ag *proc, input string, run int) profiles {
	dir := os.Getenv("OFFBOX_BENCH_PROFILE")
	p := profiles{done: make(chan error, 2)}
	if dir == "" {
		p.done = nil
		return p
	}
	sec := 15
	if v, err := strconv.Atoi(os.Getenv("OFFBOX_BENCH_PROFILE_SECONDS")); err == nil && v > 0 {
		sec = v
	}
	for name, pr := range map[string]*proc{"ingest": in.proc, "agent": ag} {
		var addr string
		waitFor(b, 10*time.Second, name+"'s pprof address", func() bool {
			m := pprofAddrRE.FindStringSubmatch(pr.out.String())
			if m != nil {
				addr = m[1]
			}
			return m != nil
		})
		out := filepath.Join(dir, fmt.Sprintf("%s-%s-%d", name, input, run))
		go func() {
			err := fetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, sec), out+".pprof")
			if err == nil {
				err = fetchProfile("http://"+addr+"/debug/pprof/allocs", out+"-allocs.pprof")
			}
			p.done <- err
		}()
	}
	return p
}

func fetchProfile(url, out string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (p profiles) wait() {
	if p.done == nil {
		return
	}
	for range 2 {
		if err := <-p.done; err != nil {
			fmt.Fprintln(os.Stderr, "bench profile:", err)
		}
	}
}
