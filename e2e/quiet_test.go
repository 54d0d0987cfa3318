package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
)

// quietConfig is a collector configuration that sends every alert to hook
// and learns a source's rhythm quickly: 4 gaps learned, then 3 gaps or 2 s
// of silence is quiet.
func quietConfig(t *testing.T, dir string, hook *webhook) string {
	t.Helper()
	return collectorConfig(t, dir, fmt.Sprintf(`alerting:
  sinks:
    - {name: hook, type: webhook, url: %q}
detect:
  source_quiet_min_samples: 4
  source_quiet_multiple: 3
  source_quiet_min_silence: 2s
`, hook.URL))
}

// TestSourceQuietEndToEnd: the real agent tails two files that each get a
// line every 250 ms. One stops while the other and the agent's heartbeats
// go on: the collector, which learned each file's rhythm by itself (short
// configured times: 4 gaps learned, 3 gaps or 2 s of silence), raises
// source_quiet for that file only and, when it is written again,
// source_resumed; neither for the file that kept logging.
func TestSourceQuietEndToEnd(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "tailer")
	hook := newWebhook(t, 0)
	cfg := quietConfig(t, dir, hook)
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)
	stops, keeps := filepath.Join(dir, "stops.log"), filepath.Join(dir, "keeps.log")
	set := writeEvery(t, 250*time.Millisecond, stops, keeps)

	ag := startAgent(t, p, "tailer", in.addr, "-tail", filepath.Join(dir, "*.log"), "-heartbeat", "1s")
	waitFor(t, 30*time.Second, "lines of both files stored", func() bool {
		if ag.exited() || in.exited() {
			t.Fatalf("a process exited: agent %s\ncollector %s", ag.out.String(), in.out.String())
		}
		return count(t, in.db, "-device", "tailer", "-source", "file:"+stops) >= 12 &&
			count(t, in.db, "-device", "tailer", "-source", "file:"+keeps) >= 12
	})
	if n := len(hook.alertsOf("source_quiet")); n != 0 {
		t.Fatalf("%d source_quiet while both files log", n)
	}
	set(stops, false)
	stopped := time.Now()
	waitFor(t, 20*time.Second, "source_quiet at the webhook", func() bool { return len(hook.alertsOf("source_quiet")) > 0 })
	took := time.Since(stopped)
	q := hook.alertsOf("source_quiet")
	t.Logf("source_quiet %s after the file stopped: %s", took.Round(time.Millisecond), q[0].Summary)
	if len(q) != 1 || q[0].Device != "tailer" || q[0].Fields["source"] != "file:"+stops || q[0].Severity != "warning" {
		t.Fatalf("source_quiet alerts %+v, want one for %s", q, stops)
	}
	if took < 2*time.Second {
		t.Errorf("source_quiet %s after the file stopped, before the 2 s minimum silence", took)
	}
	if len(hook.alertsOf("source_resumed")) != 0 || len(hook.alertsOf("heartbeat_missing")) != 0 {
		t.Fatalf("alerts while the file is silent: %+v", hook.alertsOf(""))
	}
	set(stops, true)
	waitFor(t, 20*time.Second, "source_resumed at the webhook", func() bool { return len(hook.alertsOf("source_resumed")) > 0 })
	r := hook.alertsOf("source_resumed")
	if len(r) != 1 || r[0].Fields["source"] != "file:"+stops || r[0].Severity != "info" {
		t.Fatalf("source_resumed alerts %+v", r)
	}
	time.Sleep(2 * time.Second) // both log again: nothing more is raised
	if n := len(hook.alertsOf("source_quiet")); n != 1 {
		t.Errorf("%d source_quiet alerts, want 1 (none for %s)", n, keeps)
	}
}

// writeEvery appends a line to each of files every period until the test
// ends; the function it returns turns one file's writing off and on.
func writeEvery(t *testing.T, period time.Duration, files ...string) (set func(f string, on bool)) {
	t.Helper()
	var mu sync.Mutex
	writing := map[string]bool{}
	for _, f := range files {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		writing[f] = true
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(period)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-tk.C:
			}
			mu.Lock()
			for f, on := range writing {
				if !on {
					continue
				}
				fh, err := os.OpenFile(f, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Error(err)
					continue
				}
				fmt.Fprintf(fh, "%s tailer app[7]: work item %d done\n", time.Now().Format(time.Stamp), i)
				fh.Close()
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait() })
	return func(f string, on bool) { mu.Lock(); writing[f] = on; mu.Unlock() }
}

// TestSourceQuietOneLeaderPostgres: two collectors share one PostgreSQL;
// only the leader runs the timer rules, so a file that stops raises one
// source_quiet, stored and delivered once. When the leader is killed the
// other takes over from the saved baseline: it does not raise it again,
// and raises source_resumed, once, when the file is written again.
func TestSourceQuietOneLeaderPostgres(t *testing.T) {
	skipShort(t)
	db := pgtest.URL(t)
	dir := t.TempDir()
	p := newPKI(t, "tailer")
	hook := newWebhook(t, 0)
	cfg := quietConfig(t, dir, hook)
	a := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	waitFor(t, 20*time.Second, "the first collector to lead", func() bool { return strings.Contains(a.out.String(), "leading") })
	b := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	f := filepath.Join(dir, "app.log")
	set := writeEvery(t, 250*time.Millisecond, f)
	startAgent(t, p, "tailer", b.addr, "-tail", f, "-heartbeat", "1s") // to the follower, which stays up
	waitFor(t, 30*time.Second, "lines stored", func() bool { return count(t, db, "-device", "tailer", "-source", "file:"+f) >= 12 })
	of := func(kind string) (delivered, stored int) {
		return len(hook.alertsOf(kind)), len(storedAlerts(t, db, "-device", "tailer", "-kind", kind))
	}
	set(f, false)
	waitFor(t, 20*time.Second, "source_quiet delivered", func() bool { d, _ := of("source_quiet"); return d > 0 })
	time.Sleep(3 * time.Second) // a second collector raising it too would show by now
	if d, s := of("source_quiet"); d != 1 || s != 1 {
		t.Fatalf("%d source_quiet delivered, %d stored; want 1 and 1", d, s)
	}
	if strings.Contains(b.out.String(), "leading") {
		t.Fatal("both collectors lead")
	}
	a.kill()
	waitFor(t, 20*time.Second, "the second collector to lead", func() bool { return strings.Contains(b.out.String(), "leading") })
	time.Sleep(3 * time.Second)
	if d, s := of("source_quiet"); d != 1 || s != 1 {
		t.Fatalf("after the takeover: %d source_quiet delivered, %d stored; want still 1 and 1", d, s)
	}
	set(f, true)
	waitFor(t, 20*time.Second, "source_resumed delivered", func() bool { d, _ := of("source_resumed"); return d > 0 })
	time.Sleep(2 * time.Second)
	if d, s := of("source_resumed"); d != 1 || s != 1 {
		t.Errorf("%d source_resumed delivered, %d stored; want 1 and 1", d, s)
	}
}
