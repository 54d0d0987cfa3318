package filetail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

// testPoll is the PollEvery of unit tests: short, so rotations are noticed fast.
const testPoll = 20 * time.Millisecond

// waitTimeout bounds every wait for the tailer; generous for -race on 2 cores.
const waitTimeout = 15 * time.Second

// fakeEmitter keeps deep copies of what it is given and can block, as the
// agent's queue does when its byte budget is full.
//
// It takes runs of lines (collectors.LinesEmitter), as the queue does,
// unless plain is set: then the tailer sees an Emitter that does not, and
// emits line by line.
type fakeEmitter struct {
	plain   bool
	mu      sync.Mutex
	recs    []collectors.Record
	gate    chan struct{} // non-nil: Emit waits until it is closed
	waiting atomic.Int32  // Emit calls blocked on the gate
}

func (e *fakeEmitter) Emit(ctx context.Context, r collectors.Record) error {
	// A record offered after ctx ended is kept, not refused: a tailer
	// that goes on reading after its end shows up as duplicates.
	e.mu.Lock()
	g := e.gate
	e.mu.Unlock()
	if g != nil {
		e.waiting.Add(1)
		select {
		case <-g:
			e.waiting.Add(-1)
		case <-ctx.Done():
			e.waiting.Add(-1)
			return ctx.Err()
		}
	}
	// The tailer reuses Body's buffer and the FileRange: copy, as the
	// real queue must.
	r.Body = bytes.Clone(r.Body)
	r.Attrs = append([]collectors.Attr(nil), r.Attrs...)
	if r.File != nil {
		fr := *r.File
		r.File = &fr
	}
	e.mu.Lock()
	e.recs = append(e.recs, r)
	e.mu.Unlock()
	return nil
}

// EmitLines emits each line as the queue does, through Emit.
func (e *fakeEmitter) EmitLines(ctx context.Context, r collectors.Record, data []byte, lines []collectors.Line) (int, error) {
	f := *r.File
	r.File = &f
	start, off := f.Start, 0
	for i, l := range lines {
		r.Body, r.Flags = data[off:off+l.Len], l.Flags
		f.Start = start + int64(off)
		f.End = f.Start + int64(l.N)
		if err := e.Emit(ctx, r); err != nil {
			return i, err
		}
		off += l.N
	}
	return len(lines), nil
}

// plainEmitter hides fakeEmitter's EmitLines.
type plainEmitter struct{ e *fakeEmitter }

func (p plainEmitter) Emit(ctx context.Context, r collectors.Record) error { return p.e.Emit(ctx, r) }
func (p plainEmitter) TryEmit(r collectors.Record) bool                    { return p.e.TryEmit(r) }

func (e *fakeEmitter) TryEmit(collectors.Record) bool {
	panic("filetail must never drop: TryEmit called")
}

func (e *fakeEmitter) block() {
	e.mu.Lock()
	e.gate = make(chan struct{})
	e.mu.Unlock()
}

func (e *fakeEmitter) unblock() {
	e.mu.Lock()
	if e.gate != nil {
		close(e.gate)
		e.gate = nil
	}
	e.mu.Unlock()
}

func (e *fakeEmitter) all() []collectors.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]collectors.Record(nil), e.recs...)
}

// waitFor polls until cond holds on the records so far, failing the test
// with what was received if it does not within waitTimeout.
func (e *fakeEmitter) waitFor(t testing.TB, what string, cond func([]collectors.Record) bool) []collectors.Record {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		recs := e.all()
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got %d records:\n%s", what, len(recs), dump(recs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitBlocked waits until the tailer sits in Emit on the closed gate.
func (e *fakeEmitter) waitBlocked(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for e.waiting.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the tailer to block in Emit")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitLines waits for n log records and returns all records.
func (e *fakeEmitter) waitLines(t testing.TB, n int) []collectors.Record {
	t.Helper()
	return e.waitFor(t, fmt.Sprintf("%d log records", n), func(recs []collectors.Record) bool {
		return len(ofKind(recs, collectors.KindLog)) >= n
	})
}

func ofKind(recs []collectors.Record, k collectors.Kind) []collectors.Record {
	var out []collectors.Record
	for _, r := range recs {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

func bodies(recs []collectors.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r.Body))
	}
	return out
}

func dump(recs []collectors.Record) string {
	var b strings.Builder
	for i, r := range recs {
		fmt.Fprintf(&b, "  %d %s %s %q flags=%d", i, r.Kind, r.Source, r.Body, r.Flags)
		if r.File != nil {
			fmt.Fprintf(&b, " [%d,%d) ino=%d fplen=%d", r.File.Start, r.File.End, r.File.ID.Inode, r.File.ID.FPLen)
		}
		for _, a := range r.Attrs {
			fmt.Fprintf(&b, " %s=%q", a.Key, a.Value)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func attr(r collectors.Record, key string) string {
	for _, a := range r.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}

// testLogger discards, unless FILETAIL_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("FILETAIL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

// testConfig is a Config for unit tests: fast polling, quiet logs, fixed time.
func testConfig(paths ...string) Config {
	return Config{
		Paths:     paths,
		PollEvery: testPoll,
		Logger:    testLogger(),
		Now:       func() time.Time { return fixedTime },
	}
}

// startTailer runs a Tailer on cfg, resumed from cps, until the test ends
// (or stop is called), and checks that Run then returns nil.
func startTailer(t testing.TB, cfg Config, cps ...collectors.Checkpoint) (em *fakeEmitter, stop func()) {
	t.Helper()
	return runTailer(t, cfg, &fakeEmitter{}, cps...)
}

// startBlocked is startTailer with the emitter blocked from the start: the
// tailer reads its first chunk and waits in Emit.
func startBlocked(t testing.TB, cfg Config) (em *fakeEmitter, stop func()) {
	t.Helper()
	em = &fakeEmitter{}
	em.block()
	return runTailer(t, cfg, em)
}

func runTailer(t testing.TB, cfg Config, em *fakeEmitter, cps ...collectors.Checkpoint) (*fakeEmitter, func()) {
	t.Helper()
	tl, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if cps != nil {
		tl.Resume(cps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out collectors.Emitter = em
	if em.plain {
		out = plainEmitter{em}
	}
	go func() { done <- tl.Run(ctx, out) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			em.unblock()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return em, stop
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t testing.TB, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// copyFile copies src to dst as logrotate's copytruncate does: a new inode.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b))
}

func truncateTo(t testing.TB, path, content string) {
	t.Helper()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, content)
}

// idOf computes the identity the tailer must give path, over its first
// fpLen bytes, independently of the code under test.
func idOf(t testing.TB, path string, fpLen int) collectors.FileID {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fpLen > len(b) {
		t.Fatalf("idOf %s: fpLen %d > size %d", path, fpLen, len(b))
	}
	return collectors.FileID{Dev: uint64(st.Dev), Inode: uint64(st.Ino), FPLen: uint32(fpLen), FP: sha256.Sum256(b[:fpLen])}
}

func inodeOf(t testing.TB, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Ino)
}

// waitOpenAt waits until this process holds path open with its read
// position at pos: the tailer has opened it and positioned itself.
func waitOpenAt(t testing.TB, path string, pos int64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		for _, fd := range openFDs(t) {
			if fd.target == path && fd.pos == pos {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s to be open at %d; open: %+v", path, pos, openFDs(t))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// maxPos is the furthest read position among this process's fds on path.
func maxPos(t testing.TB, path string) int64 {
	t.Helper()
	pos := int64(-1)
	for _, fd := range openFDs(t) {
		if fd.target == path {
			pos = max(pos, fd.pos)
		}
	}
	return pos
}

type openFD struct {
	target string
	pos    int64
	flags  int64 // open flags, octal in fdinfo
}

// openFDs lists this process's open files from /proc/self/fd and fdinfo.
func openFDs(t testing.TB) []openFD {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []openFD
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		fd := openFD{target: target}
		for _, line := range strings.Split(string(info), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch k {
			case "pos":
				fd.pos, _ = strconv.ParseInt(v, 10, 64)
			case "flags":
				fd.flags, _ = strconv.ParseInt(v, 8, 64)
			}
		}
		out = append(out, fd)
	}
	return out
}

// lines makes n distinct numbered lines with a prefix, each ending in "\n".
func lines(prefix string, from, n int) (text string, want []string) {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		l := fmt.Sprintf("%s line %04d", prefix, i)
		want = append(want, l)
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String(), want
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// tree lists every file below dir with its size and modification time.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%v %d %v", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
