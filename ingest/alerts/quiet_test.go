package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/seal"
)

// quietRunner is the fixture's runner with short source_quiet times:
// 4 gaps learned, quiet after 3 gaps and at least 10 s.
func (f *fixture) quietRunner() *Runner {
	f.t.Helper()
	r, err := New(Config{Store: f.st, Now: f.clk.Now, Detect: detect.Config{SourceQuietMinSamples: 4,
		SourceQuietMultiple: 3, SourceQuietMinSilence: 10 * time.Second, HeartbeatInterval: 5 * time.Second}})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := r.restore(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return r
}

func fileLine(at time.Time, src string) seal.WireRecord {
	return seal.WireRecord{TimeNs: at.UnixNano(), Kind: 1, Source: src, Body: []byte(at.Format(time.Stamp) + " sw1 app[1]: work done")}
}

// TestSourceQuietAcrossRestarts: what source_quiet learned and raised is
// in the baseline saved with the cursor: a runner restarted after
// learning still finds the silent source quiet, one restarted after the
// alert does not raise it again, and the source's next line resumes it.
func TestSourceQuietAcrossRestarts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.quietRunner()
	step := func(srcs ...string) {
		f.clk.Add(5 * time.Second)
		recs := []seal.WireRecord{batchtest.Heartbeat(f.clk.Now().UnixNano())}
		for _, s := range srcs {
			recs = append(recs, fileLine(f.clk.Now(), s))
		}
		f.commit(recs...)
		f.drain(r, true)
	}
	for range 6 {
		step("file:/var/log/a.log", "file:/var/log/b.log")
	}
	states, err := f.st.DetectStates(context.Background())
	if err != nil || len(states["sw1"]) == 0 {
		t.Fatalf("no baseline saved: %v", err)
	}
	r = f.quietRunner() // restart after learning
	for range 3 {
		step("file:/var/log/b.log")
	}
	if n := len(f.alerts(detect.AlertSourceQuiet)); n != 0 {
		t.Fatalf("%d source_quiet after 15 s (limit 15 s)", n)
	}
	step("file:/var/log/b.log")
	q := f.alerts(detect.AlertSourceQuiet)
	if len(q) != 1 || q[0].Key != "file:/var/log/a.log" || q[0].Severity != store.SeverityWarning {
		t.Fatalf("source_quiet after 20 s: %+v", q)
	}
	r = f.quietRunner() // restart after the alert
	for range 4 {
		step("file:/var/log/b.log")
	}
	if n := len(f.alerts(detect.AlertSourceQuiet)); n != 1 {
		t.Fatalf("%d source_quiet after a restart, want still 1", n)
	}
	step("file:/var/log/a.log", "file:/var/log/b.log")
	if res := f.alerts(detect.AlertSourceResumed); len(res) != 1 || res[0].Key != "file:/var/log/a.log" {
		t.Fatalf("source_resumed: %+v", res)
	}
	if n := len(f.alerts(detect.AlertHeartbeatMissing)); n != 0 {
		t.Errorf("%d heartbeat_missing for a device that kept its heartbeats", n)
	}
}
