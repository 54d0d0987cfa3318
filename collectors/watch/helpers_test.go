package watch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

// fakeEmitter keeps deep copies of every record, as the agent's queue does.
type fakeEmitter struct {
	mu   sync.Mutex
	recs []collectors.Record
}

func (e *fakeEmitter) Emit(ctx context.Context, r collectors.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.Body = bytes.Clone(r.Body)
	r.Attrs = append([]collectors.Attr(nil), r.Attrs...)
	e.mu.Lock()
	e.recs = append(e.recs, r)
	e.mu.Unlock()
	return nil
}

func (e *fakeEmitter) TryEmit(collectors.Record) bool {
	panic("watch must never drop: TryEmit called")
}

func (e *fakeEmitter) all() []collectors.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]collectors.Record(nil), e.recs...)
}

// of returns the records of kind k (any kind when k is KindUnspecified)
// whose source is src (any when "").
func (e *fakeEmitter) of(k collectors.Kind, src string) []collectors.Record {
	var out []collectors.Record
	for _, r := range e.all() {
		if (k == collectors.KindUnspecified || r.Kind == k) && (src == "" || r.Source == src) {
			out = append(out, r)
		}
	}
	return out
}

// waitN waits up to d for at least n records of kind k from src and returns
// them all; it fails the test when they do not come.
func (e *fakeEmitter) waitN(t *testing.T, d time.Duration, k collectors.Kind, src string, n int) []collectors.Record {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := e.of(k, src)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d %v records from %q, want %d; all records:\n%s", d, len(got), k, src, n, dump(e.all()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dump(rs []collectors.Record) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %v %s %s %v\n", r.Kind, r.Source, r.Body, r.Attrs)
	}
	return b.String()
}

func attr(r collectors.Record, k string) string {
	for _, a := range r.Attrs {
		if a.Key == k {
			return a.Value
		}
	}
	return "<absent>"
}

// quiet is how long a test waits to be sure that no further record comes:
// past the debounce, its cap and several test rescans.
const quiet = 1200 * time.Millisecond

// host is a host root under t.TempDir() with an etc/ inside.
type host struct {
	t    *testing.T
	root string
}

func newHost(t *testing.T) *host {
	t.Helper()
	h := &host{t: t, root: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(h.root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *host) path(p string) string { return filepath.Join(h.root, p) }

// write writes p in place (O_TRUNC), making its directory.
func (h *host) write(p, content string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(h.path(p)), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(h.path(p), []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// replace writes p as editors and passwd(1) do: a temporary file renamed
// over it.
func (h *host) replace(p, content string) {
	h.t.Helper()
	tmp := filepath.Join(filepath.Dir(h.path(p)), "."+filepath.Base(p)+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Rename(tmp, h.path(p)); err != nil {
		h.t.Fatal(err)
	}
}

// passwdFor is a passwd file mapping the test's own uid to "tester", so
// that file owners resolve whoever runs the test.
func passwdFor(extra ...string) string {
	lines := []string{
		fmt.Sprintf("tester:x:%d:%d:Tester:/home/tester:/bin/sh", os.Getuid(), os.Getgid()),
		"alice:x:1000:1000:Alice:/home/alice:/bin/bash",
	}
	return strings.Join(append(lines, extra...), "\n") + "\n"
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// run starts a collector on cfg and returns its emitter and a function that
// stops it and returns Run's error. It fails the test if Run returns early.
func run(t *testing.T, c *Collector) (*fakeEmitter, func() error) {
	t.Helper()
	e := &fakeEmitter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, e) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Run returned before it was stopped: %v", err)
		default:
		}
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return within 5s of its context ending")
		}
		return nil
	}
	t.Cleanup(func() { stop() })
	return e, stop
}

// newCollector is New that fails the test on error; logs go to t.Log.
func newCollector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

var _ io.Writer = testWriter{}

func decode[T any](t *testing.T, r collectors.Record) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("body of %v record is not JSON: %v: %s", r.Kind, err, r.Body)
	}
	return v
}
