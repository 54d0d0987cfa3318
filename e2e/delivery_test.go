package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer"
)

// logrotate returns the path of the real logrotate, failing when CI
// (OFFBOX_INTEGRATION=1) expects it and it is missing.
func logrotate(t *testing.T) string {
	t.Helper()
	return testpeer.LookPath(t, "logrotate", "/usr/sbin/logrotate", "/sbin/logrotate", "logrotate")
}

// TestRotationIntegration is acceptance 2 of the foundation: 200,000 lines
// appended while the real logrotate rotates the file by rename+create 20
// times and by copytruncate 5 times; every line stored once, in order.
func TestRotationIntegration(t *testing.T) {
	skipShort(t)
	lr := logrotate(t)
	dir := t.TempDir()
	p := newPKI(t, "rot")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	logf := filepath.Join(dir, "logs", "app.log")
	os.MkdirAll(filepath.Dir(logf), 0o755)
	appendLines(t, logf, "rot", 0, 0) // the file exists before the agent starts
	ag := startAgent(t, p, "rot", in.addr, "-tail", logf, "-start-at", "beginning")

	conf := func(mode string) string {
		c := filepath.Join(dir, mode+".conf")
		body := fmt.Sprintf("%s {\n  rotate 40\n  %s\n  nocompress\n  missingok\n}\n", logf, mode)
		if mode == "create" {
			body = fmt.Sprintf("%s {\n  rotate 40\n  create 0644\n  nocompress\n  missingok\n}\n", logf)
		}
		os.WriteFile(c, []byte(body), 0o644)
		return c
	}
	create, copytrunc := conf("create"), conf("copytruncate")
	state := filepath.Join(dir, "logrotate.state")
	rotate := func(c string) {
		out, err := exec.Command(lr, "-f", "-s", state, c).CombinedOutput()
		if err != nil {
			t.Fatalf("logrotate %s: %v: %s", c, err, out)
		}
	}
	// 26 chunks, a rotation between consecutive chunks: copytruncate
	// after chunks 4, 9, 14, 19, 24, rename+create after the others.
	const total, chunks = 200_000, 26
	creates, copies := 0, 0
	for c := 0; c < chunks; c++ {
		appendLines(t, logf, "rot", c*total/chunks, (c+1)*total/chunks)
		if c == chunks-1 {
			break
		}
		if c == 0 {
			// A file rotated away before the agent ever saw it is not
			// the agent's to ship: start rotating once shipping has begun.
			waitFor(t, 30*time.Second, "the first lines", func() bool { return count(t, in.db, "-source", "file:"+logf) > 0 })
		}
		if c%5 == 4 {
			rotate(copytrunc)
			copies++
		} else {
			rotate(create)
			creates++
		}
		time.Sleep(100 * time.Millisecond)
	}
	if creates != 20 || copies != 5 {
		t.Fatalf("rotated %d+%d times, want 20+5", creates, copies)
	}
	source := "file:" + logf
	// On a timeout fall through to the check, which says what is missing.
	deadline := time.Now().Add(2 * time.Minute)
	for count(t, in.db, "-source", source) < total && time.Now().Before(deadline) {
		if ag.exited() {
			t.Fatal("agent exited")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // anything extra (a duplicate) would arrive now
	checkExactlyOnce(t, records(t, in.db, "-source", source), source, "rot", total)
	if _, se, code := run(t, bin.ingest, "verify", "-db", in.db); code != 0 {
		t.Fatalf("verify after rotation: exit %d: %s", code, se)
	}
}

// TestKillAgentMidStream: kill -9 of the agent while lines are being
// appended and shipped, then a restart: nothing lost, nothing twice.
func TestKillAgentMidStream(t *testing.T) {
	skipShort(t)
	killMidStream(t, "ka", func(t *testing.T, p pki, in *ingest, ag *proc, logf string) (*ingest, *proc) {
		ag.kill()
		return in, startAgent(t, p, "ka", in.addr, "-tail", logf)
	})
}

// TestKillCollectorMidStream: kill -9 of offbox-ingest mid-stream, then a
// restart on the same address and database: nothing lost, nothing twice.
func TestKillCollectorMidStream(t *testing.T) {
	skipShort(t)
	killMidStream(t, "kc", func(t *testing.T, p pki, in *ingest, ag *proc, logf string) (*ingest, *proc) {
		in.kill()
		return in.restart(t), ag
	})
}

// killMidStream appends 30,000 lines for the agent to ship, lets kill stop
// something with kill -9 once 20,000 are stored and restart it, appends
// 90,000 more, and checks every line is stored exactly once, in order, and
// the chain verifies.
func killMidStream(t *testing.T, tag string, kill func(t *testing.T, p pki, in *ingest, ag *proc, logf string) (*ingest, *proc)) {
	dir := t.TempDir()
	p := newPKI(t, tag)
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	logf := filepath.Join(dir, "app.log")
	appendLines(t, logf, tag, 0, 0)
	ag := startAgent(t, p, tag, in.addr, "-tail", logf)
	// 30,000 lines go first; the rest only after the kill, so the kill
	// always lands mid-stream however fast the first part is stored.
	const total, first = 120_000, 30_000
	for i := 0; i < first; i += 2000 {
		appendLines(t, logf, tag, i, i+2000)
	}
	source := "file:" + logf
	waitFor(t, time.Minute, "the stream to be under way", func() bool { return count(t, in.db, "-source", source) > 20_000 })
	in, ag = kill(t, p, in, ag, logf)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := first; i < total; i += 2000 {
			appendLines(t, logf, tag, i, i+2000)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-done
	waitFor(t, 2*time.Minute, "every line stored", func() bool {
		if ag.exited() {
			t.Fatal("agent exited")
		}
		return count(t, in.db, "-source", source) >= total
	})
	time.Sleep(time.Second)
	checkExactlyOnce(t, records(t, in.db, "-source", source), source, tag, total)
	if _, se, code := run(t, bin.ingest, "verify", "-db", in.db); code != 0 {
		t.Fatalf("verify: exit %d: %s", code, se)
	}
}

// TestCollectorDownBoundedAndDiskless is acceptance 4: the collector is
// down for 60 s while 50,000 lines are appended. The agent stays within its
// memory budget plus a fixed overhead, writes nothing to disk, and after
// the collector returns every line arrives exactly once.
func TestCollectorDownBoundedAndDiskless(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "down")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	logf := filepath.Join(dir, "app.log")
	appendLines(t, logf, "down", 0, 1000)
	const budget = 4 << 20
	ag := startAgent(t, p, "down", in.addr, "-tail", logf, "-memory-budget", fmt.Sprint(budget), "-heartbeat", "2s")
	source := "file:" + logf
	waitFor(t, 30*time.Second, "the first lines", func() bool { return count(t, in.db, "-source", source) == 1000 })
	in.stop()

	writesBefore := procIO(t, ag.pid(), "write_bytes")
	const total, outage = 50_000, 60 * time.Second
	start := time.Now()
	for i := 1000; i < total; i += 1000 {
		appendLines(t, logf, "down", i, i+1000)
		time.Sleep(outage / 60)
	}
	time.Sleep(time.Until(start.Add(outage)))
	if ag.exited() {
		t.Fatal("agent exited while the collector was down")
	}
	peakKiB := procStatus(t, ag.pid(), "VmHWM")
	written := procIO(t, ag.pid(), "write_bytes") - writesBefore
	t.Logf("collector down %s, %d lines appended (%.1f MiB): agent peak RSS %.1f MiB with a %d MiB budget, %d bytes written to disk",
		outage, total-1000, float64((total-1000)*170)/(1<<20), float64(peakKiB)/1024, budget>>20, written)
	if written != 0 {
		t.Errorf("agent wrote %d bytes to disk while the collector was down, want 0", written)
	}
	const overheadKiB = 20 << 10 // Go runtime, gRPC, TLS, binary pages: about 15 MiB measured
	if peakKiB > budget/1024+overheadKiB {
		t.Errorf("agent peak RSS %d KiB exceeds budget %d KiB + overhead %d KiB", peakKiB, budget/1024, overheadKiB)
	}
	in = in.restart(t)
	waitFor(t, 2*time.Minute, "every line stored", func() bool { return count(t, in.db, "-source", source) >= total })
	time.Sleep(time.Second)
	checkExactlyOnce(t, records(t, in.db, "-source", source), source, "down", total)
}
