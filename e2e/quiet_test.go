package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

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
	cfg := collectorConfig(t, dir, fmt.Sprintf(`alerting:
  sinks:
    - {name: hook, type: webhook, url: %q}
detect:
  source_quiet_min_samples: 4
  source_quiet_multiple: 3
  source_quiet_min_silence: 2s
`, hook.URL))
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)
	stops, keeps := filepath.Join(dir, "stops.log"), filepath.Join(dir, "keeps.log")
	for _, f := range []string{stops, keeps} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	writing := map[string]bool{stops: true, keeps: true}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(250 * time.Millisecond)
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
	defer func() { close(done); wg.Wait() }()
	set := func(f string, on bool) { mu.Lock(); writing[f] = on; mu.Unlock() }

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
