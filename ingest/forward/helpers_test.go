package forward

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

var ctx = context.Background()

func newStore(t testing.TB) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "offbox.db")
	st, err := sqlite.Open(path, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// fleet commits batches of file lines for devices, interleaved, and
// remembers what it stored: want[device] is the "seq/index" of every
// record in order.
type fleet struct {
	devs  []*batchtest.Device
	files []*batchtest.File
	seqs  []uint64
	want  map[string][]string
	total int
}

func newFleet(names ...string) *fleet {
	f := &fleet{want: map[string][]string{}}
	for _, n := range names {
		f.devs = append(f.devs, batchtest.NewDevice(n))
		f.files = append(f.files, batchtest.NewFile("file:/var/log/"+n+".log", 1, 2))
		f.seqs = append(f.seqs, 0)
	}
	return f
}

// commit stores batches rounds of perBatch lines of size bytes for every
// device.
func (f *fleet) commit(t testing.TB, st store.Ingester, rounds, perBatch, size int) {
	t.Helper()
	for range rounds {
		for i, d := range f.devs {
			sealed := d.Next(f.files[i].Lines(perBatch, size)...)
			if err := st.CommitBatch(ctx, batchtest.Commit(d.Name, sealed, f.seqs[i])); err != nil {
				t.Fatal(err)
			}
			f.seqs[i] = sealed.Seq
			for j := range perBatch {
				f.want[d.Name] = append(f.want[d.Name], fmt.Sprintf("%d/%d", sealed.Seq, j))
			}
			f.total += perBatch
		}
	}
}

// received collects what a destination got, per device, in arrival order.
type received struct {
	mu    sync.Mutex
	got   map[string][]string
	n     int
	alert []string
}

func (r *received) add(device string, seq uint64, index int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.got == nil {
		r.got = map[string][]string{}
	}
	r.got[device] = append(r.got[device], fmt.Sprintf("%d/%d", seq, index))
	r.n++
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// check reports whether every wanted record arrived, in order per device,
// and how many arrived more than once.
func (r *received) check(t testing.TB, want map[string][]string) (dups int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for dev, w := range want {
		seen := map[string]int{}
		last := -1
		pos := map[string]int{}
		for i, k := range w {
			pos[k] = i
		}
		for _, k := range r.got[dev] {
			p, ok := pos[k]
			if !ok {
				t.Errorf("%s: got %s, which was never stored", dev, k)
				continue
			}
			if seen[k] > 0 {
				dups++
			} else if p < last {
				t.Errorf("%s: %s arrived after a later record", dev, k)
			}
			seen[k]++
			last = max(last, p)
		}
		missing := 0
		for _, k := range w {
			if seen[k] == 0 {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of %d records never arrived", dev, missing, len(w))
		}
	}
	return dups
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runForwarder runs a Forwarder for sinks over st until the returned stop
// is called.
func runForwarder(t testing.TB, st Store, sinks ...SinkConfig) (f *Forwarder, stop func()) {
	t.Helper()
	return runForwarderEvery(t, st, 0, sinks...)
}

// runForwarderEvery is runForwarder measuring the backlog every measure
// (0: the default).
func runForwarderEvery(t testing.TB, st Store, measure time.Duration, sinks ...SinkConfig) (f *Forwarder, stop func()) {
	t.Helper()
	f, err := New(Config{Sinks: sinks, Store: st, Logger: quietLogger(), Poll: 20 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, MeasureEvery: measure})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.Run(c) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return f, stop
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
