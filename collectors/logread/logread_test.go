package logread

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

type fakeEmitter struct {
	mu   sync.Mutex
	recs []collectors.Record
}

func (e *fakeEmitter) Emit(ctx context.Context, r collectors.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r.Body = bytes.Clone(r.Body)
	e.recs = append(e.recs, r)
	return nil
}

func (e *fakeEmitter) TryEmit(r collectors.Record) bool { e.Emit(context.Background(), r); return true }

func (e *fakeEmitter) bodies() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s []string
	for _, r := range e.recs {
		s = append(s, string(r.Body))
	}
	return s
}

// ringLine is line i of the fake ring buffer, one second apart.
func ringLine(i int) string {
	t := time.Date(2026, 11, 2, 18, 0, 0, 0, time.Local).Add(time.Duration(i) * time.Second)
	return t.Format(time.ANSIC) + fmt.Sprintf(" daemon.info dnsmasq[%d]: query %d", 100+i, i)
}

func writeRing(t *testing.T, path string, from, to int) {
	t.Helper()
	var b strings.Builder
	for i := from; i < to; i++ {
		b.WriteString(ringLine(i) + "\n")
	}
	if err := os.WriteFile(path+".new", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Rename(path+".new", path)
}

// TestRestartWithoutDuplicates: a fake logread prints the whole ring
// buffer and exits, as logread -f does on its first read and on a crash;
// the collector restarts it and emits each line once, also when the ring
// buffer has dropped its oldest lines and when the memory is smaller
// than the ring.
func TestRestartWithoutDuplicates(t *testing.T) {
	t.Parallel()
	for _, remember := range []int{0, 4} {
		t.Run(fmt.Sprint("remember=", remember), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ring := filepath.Join(dir, "ring")
			runs := filepath.Join(dir, "runs")
			writeRing(t, ring, 0, 10)
			script := filepath.Join(dir, "logread")
			os.WriteFile(script, []byte("#!/bin/sh\necho run >> "+runs+"\ncat "+ring+"\nsleep 0.05\n"), 0o755)
			c, err := New(Config{Command: []string{script, "-f"}, Remember: remember, RestartMin: 10 * time.Millisecond, RestartMax: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			e := &fakeEmitter{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { c.Run(ctx, e); close(done) }()
			defer func() { cancel(); <-done }()

			waitRuns := func(n int) {
				deadline := time.Now().Add(20 * time.Second)
				for {
					b, _ := os.ReadFile(runs)
					if bytes.Count(b, []byte("run")) >= n {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("fewer than %d runs", n)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			waitRuns(3)
			writeRing(t, ring, 0, 20) // new lines
			b, _ := os.ReadFile(runs)
			waitRuns(bytes.Count(b, []byte("run")) + 3)
			writeRing(t, ring, 12, 30) // the oldest dropped, more new ones
			b, _ = os.ReadFile(runs)
			waitRuns(bytes.Count(b, []byte("run")) + 3)

			got := e.bodies()
			var want []string
			for i := 0; i < 30; i++ {
				want = append(want, ringLine(i))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got %d lines:\n%s\nwant each of the 30 once, in order", len(got), strings.Join(got, "\n"))
			}
		})
	}
}

func TestParseLine(t *testing.T) {
	t.Parallel()
	ts, attrs := parseLine([]byte("Sun Nov  2 18:00:00 2026 daemon.info dnsmasq[123]: query A example.com"))
	if want := time.Date(2026, 11, 2, 18, 0, 0, 0, time.Local); !ts.Equal(want) {
		t.Errorf("time %v, want %v", ts, want)
	}
	if fmt.Sprint(attrs) != "[{facility daemon} {severity info} {app dnsmasq} {procid 123}]" {
		t.Errorf("attrs %v", attrs)
	}
	for _, bad := range []string{"", "garbage line", "Sun Nov  2 18:00:00 2026", "Xyz Nov  2 18:00:00 2026 a.b c: d"} {
		if ts, attrs := parseLine([]byte(bad)); !ts.IsZero() || attrs != nil {
			t.Errorf("parseLine(%q) = %v %v", bad, ts, attrs)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte("Sun Nov  2 18:00:00 2026 daemon.info dnsmasq[123]: query"))
	f.Add([]byte("Sun Nov  2 18:00:00 2026 kern.warn kernel: [ 1.0] x"))
	f.Fuzz(func(t *testing.T, b []byte) { parseLine(b) })
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{Command: []string{""}}, {Command: []string{"/nonexistent/logread"}}, {Command: []string{"sh"}, Remember: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
