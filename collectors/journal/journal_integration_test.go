package journal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/internal/testpeer"
)

const journalRemote = "/lib/systemd/systemd-journal-remote"

// needTools skips under -short, and when the journal tools are missing
// skips, or fails when OFFBOX_INTEGRATION=1 says they must be there.
func needTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped under -short")
	}
	testpeer.LookPath(t, "systemd-journal-remote", journalRemote)
	testpeer.LookPath(t, "systemd", "journalctl")
}

const bootID = "0123456789abcdef0123456789abcdef"

// entryMessage is the MESSAGE of test entry i: binary and with a newline
// every third entry.
func entryMessage(i int) []byte {
	m := fmt.Sprintf("entry %06d ünï", i)
	if i%3 == 0 {
		m += "\nsecond line \x00\x01\xff"
	}
	return []byte(m)
}

// appendEntries writes entries [from, to) into the journal file f with
// systemd-journal-remote (it appends to an existing file).
func appendEntries(t *testing.T, f string, from, to int) {
	t.Helper()
	var in bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&in, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n", 1700000000000000+int64(i)*1000, 1000+i, bootID)
		in.WriteString(binaryField("MESSAGE", entryMessage(i)))
		fmt.Fprintf(&in, "_SYSTEMD_UNIT=test%d.service\nPRIORITY=%d\n_PID=%d\n_UID=%d\nSYSLOG_IDENTIFIER=tester\n\n", i%5, i%8, 100+i, i%2)
	}
	cmd := exec.Command(journalRemote, "-o", f, "-")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

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

func (e *fakeEmitter) snapshot() []collectors.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]collectors.Record(nil), e.recs...)
}

func (e *fakeEmitter) waitN(t *testing.T, n int) []collectors.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := e.snapshot()
		if len(recs) >= n {
			time.Sleep(300 * time.Millisecond) // anything extra (a duplicate) shows now
			return e.snapshot()
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %d of %d records", len(recs), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// start runs a collector on cfg, resumed from cps, until the returned stop.
func start(t *testing.T, cfg Config, cps []collectors.Checkpoint) (*fakeEmitter, func()) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Resume(cps)
	e := &fakeEmitter{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx, e); close(done) }()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
	}
	t.Cleanup(stop)
	return e, stop
}

// checkEntries asserts recs are entries [from, to), each once, in order,
// with their fields.
func checkEntries(t *testing.T, recs []collectors.Record, from, to int) {
	t.Helper()
	if len(recs) != to-from {
		t.Fatalf("%d records, want entries %d to %d (%d)", len(recs), from, to-1, to-from)
	}
	for k, r := range recs {
		i := from + k
		attrs := map[string]string{}
		for _, a := range r.Attrs {
			attrs[a.Key] = a.Value
		}
		if !bytes.Equal(r.Body, entryMessage(i)) {
			t.Fatalf("record %d body %q, want entry %d %q", k, r.Body, i, entryMessage(i))
		}
		want := map[string]string{"unit": fmt.Sprintf("test%d.service", i%5), "priority": strconv.Itoa(i % 8),
			"pid": strconv.Itoa(100 + i), "uid": strconv.Itoa(i % 2), "boot_id": bootID, "identifier": "tester"}
		for key, v := range want {
			if attrs[key] != v {
				t.Errorf("entry %d: attr %s = %q, want %q", i, key, attrs[key], v)
			}
		}
		p, ok := ParseCursor(attrs["cursor"])
		if !ok || r.File == nil || r.File.End != int64(p.Seqnum) || r.File.Start != r.File.End-1 || r.File.ID.FPLen != 16 {
			t.Fatalf("entry %d: cursor %q, position %+v", i, attrs["cursor"], r.File)
		}
		if want := time.UnixMicro(1700000000000000 + int64(i)*1000); !r.Time.Equal(want) || r.Source != Source || r.Kind != collectors.KindLog {
			t.Errorf("entry %d: time %v source %s kind %v", i, r.Time, r.Source, r.Kind)
		}
	}
}

// TestJournalFileIntegration follows a real journal file with the real
// journalctl: every entry once, byte-exact, new entries as they are
// written; then a new collector resumed from the checkpoint of an
// acknowledged entry continues right after it.
func TestJournalFileIntegration(t *testing.T) {
	needTools(t)
	f := filepath.Join(t.TempDir(), "test.journal")
	appendEntries(t, f, 0, 300)
	cfg := Config{File: f, RestartMin: 50 * time.Millisecond}
	e, stop := start(t, cfg, nil)
	e.waitN(t, 300)
	appendEntries(t, f, 300, 350) // followed as written
	recs := e.waitN(t, 350)
	checkEntries(t, recs, 0, 350)
	stop()

	// The collector acknowledged entries up to 199: the agent gets the
	// checkpoint the store derives from that record.
	acked := recs[199]
	cp := collectors.Checkpoint{Source: Source, ID: acked.File.ID, Offset: acked.File.End}
	e2, _ := start(t, cfg, []collectors.Checkpoint{cp})
	e2.waitN(t, 150)
	appendEntries(t, f, 350, 370)
	checkEntries(t, e2.waitN(t, 170), 200, 370)
}

// TestJournalctlRestartIntegration: journalctl exits every second (a
// wrapper under timeout); each restart continues after the last entry
// emitted, so nothing is lost or repeated.
func TestJournalctlRestartIntegration(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "test.journal")
	appendEntries(t, f, 0, 100)
	jc, err := exec.LookPath("journalctl")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(dir, "journalctl")
	os.WriteFile(wrapper, []byte("#!/bin/sh\necho \"$@\" >> "+filepath.Join(dir, "calls")+"\nexec timeout 0.5 "+jc+" \"$@\"\n"), 0o755)
	e, _ := start(t, Config{Command: wrapper, File: f, RestartMin: 10 * time.Millisecond, RestartMax: 20 * time.Millisecond}, nil)
	e.waitN(t, 100)
	for k := 1; k <= 3; k++ {
		time.Sleep(700 * time.Millisecond) // at least one restart in between
		appendEntries(t, f, 100*k, 100*(k+1))
		e.waitN(t, 100*(k+1))
	}
	checkEntries(t, e.snapshot(), 0, 400)
	calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
	if n := bytes.Count(calls, []byte("--after-cursor=s=")); n < 3 {
		t.Errorf("journalctl restarted with a cursor %d times, want at least 3:\n%s", n, calls)
	}
}
