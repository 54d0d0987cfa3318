package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Acceptance 2 of the trust issue has two halves. "Device A's certificate
// cannot send as device B" is covered with real mutual TLS and the real
// store by ingest/server TestHelloIdentityMismatch and
// TestBatchNamingAnotherDevice: the real agent has no way to claim another
// device, its identity is its certificate. "A revoked device is cut off
// within 5 s" is TestRevokeCutsOffRunningAgent below.

// sessionEndRevoked is the collector's log line when a stream ends for a
// revocation.
var sessionEndRevoked = regexp.MustCompile(`msg="session end".*device=rev-1.*certificate revoked at`)

// TestRevokeCutsOffRunningAgent: the real `offbox-ingest revoke` on a
// device whose agent is shipping a line every 100 ms closes its stream
// within 5 s; nothing more of it is stored; its reconnects are refused
// with the revocation, at a growing interval, not in a loop.
func TestRevokeCutsOffRunningAgent(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "rev-1")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	logf := filepath.Join(dir, "app.log")
	appendLines(t, logf, "rev", 0, 0)
	ag := startAgent(t, p, "rev-1", in.addr, "-tail", logf, "-start-at", "beginning")

	var written atomic.Int64
	stopWriting := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				return
			case <-tk.C:
			}
			// Not appendLines: t.Fatal is for the test's goroutine.
			f, err := os.OpenFile(logf, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.WriteString(lineText("rev", i) + "\n")
			f.Close()
			written.Add(1)
		}
	}()
	defer func() { close(stopWriting); <-writerDone }()
	waitFor(t, 30*time.Second, "the first lines stored", func() bool { return count(t, in.db, "-source", "file:"+logf) >= 5 })

	revokedAt := time.Now()
	so, se, code := run(t, bin.ingest, "revoke", "-db", in.db, "-device", "rev-1", "-reason", "e2e test")
	if code != 0 {
		t.Fatalf("revoke: exit %d: %s", code, se)
	}
	if !strings.Contains(so, "revoked device rev-1") || !strings.Contains(so, "1 known key(s)") {
		t.Errorf("revoke output:\n%s\nwant the device and its one key", so)
	}
	var cut time.Duration
	waitFor(t, 10*time.Second, "the collector to end rev-1's stream", func() bool {
		if sessionEndRevoked.MatchString(in.out.String()) {
			cut = time.Since(revokedAt)
			return true
		}
		return false
	})
	t.Logf("stream cut off %v after `offbox-ingest revoke` started (command took part of it)", cut.Round(time.Millisecond))
	if cut > 5*time.Second {
		t.Errorf("stream cut off %v after the revocation, want within 5s", cut)
	}

	// The agent keeps trying and is refused, with a growing wait.
	refused := regexp.MustCompile(`session with the collector ended; reconnecting.*PermissionDenied.*certificate revoked at .* e2e test`)
	waitFor(t, 20*time.Second, "the agent's reconnect to be refused", func() bool {
		return len(refused.FindAllString(ag.out.String(), -1)) >= 3 // the cut-off, then two refused reconnects
	})
	stored := count(t, in.db, "-source", "file:"+logf)
	time.Sleep(3 * time.Second) // 30 more lines written
	if after := count(t, in.db, "-source", "file:"+logf); after != stored {
		t.Errorf("%d lines stored after the cut-off, then %d: a revoked device's lines still arrive", stored, after)
	}
	n := len(refused.FindAllString(ag.out.String(), -1))
	t.Logf("%d sessions ended with the revocation %v after it", n, time.Since(revokedAt).Round(time.Second))
	if n > 12 {
		t.Errorf("%d refused sessions within seconds: the agent reconnects in a loop", n)
	}
	if ag.exited() {
		t.Errorf("the agent exited; it should keep retrying (an operator may re-enroll the device)")
	}
	so, _, _ = run(t, bin.ingest, "alerts", "-db", in.db, "-device", "rev-1", "-kind", "revoked")
	t.Logf("alerts for rev-1:\n%s", so)
	t.Logf("%d lines written, %d stored before the cut-off", written.Load(), stored)
}

// TestRateLimitSlowsNotDisconnects is acceptance 5: a device limited to
// 2000 records/s (burst 2 s) ships a file of 20,000 lines: every line is
// stored exactly once, it takes at least as long as the limit says, the
// agent was told it is throttled, and it did not reconnect in a loop.
func TestRateLimitSlowsNotDisconnects(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "rl-1")
	const lines, rate, burstSeconds = 20_000, 2000, 2
	cfg := collectorConfig(t, dir, fmt.Sprintf("limits:\n  burst_seconds: %d\ndevices:\n  - match: rl-*\n    records_per_second: %d\n", burstSeconds, rate))
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)
	logf := filepath.Join(dir, "app.log")
	appendLines(t, logf, "rl", 0, lines)

	start := time.Now()
	ag := startAgent(t, p, "rl-1", in.addr, "-tail", logf, "-start-at", "beginning")
	var took time.Duration
	waitFor(t, 90*time.Second, "all lines stored", func() bool {
		if count(t, in.db, "-source", "file:"+logf) >= lines {
			took = time.Since(start)
			return true
		}
		return false
	})
	minimum := time.Duration(lines-rate*burstSeconds) * time.Second / rate
	t.Logf("%d lines at %d records/s (burst %ds) took %v (at least %v)", lines, rate, burstSeconds, took.Round(time.Millisecond), minimum)
	if took < minimum {
		t.Errorf("%d lines took %v, want at least %v at %d records/s", lines, took, minimum, rate)
	}
	checkExactlyOnce(t, records(t, in.db, "-source", "file:"+logf), "file:"+logf, "rl", lines)

	out := ag.out.String()
	if n := strings.Count(out, "reconnecting"); n > 1 {
		t.Errorf("the agent reconnected %d times while throttled, want at most once", n)
	}
	if !strings.Contains(out, "collector is throttling this device") {
		t.Errorf("the agent never logged being throttled")
	}
	if !strings.Contains(in.out.String(), "device over its rate limit") {
		t.Errorf("the collector never logged throttling rl-1")
	}
	ag.stop()
	if n := len(regexp.MustCompile(`integrity event`).FindAllString(in.out.String(), -1)); n != 0 {
		t.Errorf("%d integrity events for a throttled device", n)
	}
}
