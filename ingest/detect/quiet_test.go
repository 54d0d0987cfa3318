package detect

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// quietCfg learns from 5 gaps and finds a source quiet after 10 gaps, and
// at least 30 s.
var quietCfg = Config{SourceQuietMinSamples: 5, SourceQuietMultiple: 10, SourceQuietMinSilence: 30 * time.Second,
	HeartbeatInterval: 15 * time.Second}

// srcLine is a log line of source src received at t.
func srcLine(t time.Time, src string) step {
	s := line(t.Add(-time.Second), "app[1]: tick")
	s.in.Source = src
	return s
}

// hb is a heartbeat received at t.
func hb(t time.Time) step { return rec("heartbeat", t.Add(-time.Second)) }

// alive is a device whose heartbeats and file lines arrive every every from
// start, n times each; it returns the steps and the time of the last one.
func alive(start time.Time, every time.Duration, n int, srcs ...string) ([]step, time.Time) {
	var steps []step
	t := start
	for i := 0; i < n; i++ {
		t = start.Add(time.Duration(i) * every)
		steps = append(steps, hb(t))
		for _, s := range srcs {
			steps = append(steps, srcLine(t, s))
		}
	}
	return steps, t
}

// heartbeats continue from..to every every, with ticks after each.
func heartbeatsAndTicks(from, to time.Time, every time.Duration) []step {
	var steps []step
	for t := from; !t.After(to); t = t.Add(every) {
		steps = append(steps, hb(t), tick(t.Add(time.Second)))
	}
	return steps
}

const auth = "file:/var/log/auth.log"

// TestSourceQuietRaisedAndResumed: a file that logged every 5 s goes
// silent while the agent's heartbeats go on: source_quiet once it has been
// silent for 10 gaps (50 s; the 30 s minimum is below), not before; the
// next line raises source_resumed, once.
func TestSourceQuietRaisedAndResumed(t *testing.T) {
	t.Parallel()
	learn, last := alive(t0, 5*time.Second, 10, auth, "file:/var/log/syslog")
	e, alerts := run(quietCfg, learn)
	if len(alerts) != 0 {
		t.Fatalf("while learning: %s", kindsOf(alerts))
	}
	// Only syslog goes on; auth.log stops.
	var steps []step
	for ts := last.Add(5 * time.Second); ts.Before(last.Add(48 * time.Second)); ts = ts.Add(5 * time.Second) {
		steps = append(steps, hb(ts), srcLine(ts, "file:/var/log/syslog"), tick(ts.Add(time.Second)))
	}
	if got := feed(e, steps...); len(got) != 0 {
		t.Fatalf("within 10 gaps: %s", kindsOf(got))
	}
	got := feed(e, hb(last.Add(50*time.Second)), srcLine(last.Add(50*time.Second), "file:/var/log/syslog"), tick(last.Add(52*time.Second)))
	q := ofKind(got, AlertSourceQuiet)
	if len(q) != 1 || len(got) != 1 {
		t.Fatalf("after 52 s: %s, want one source_quiet", kindsOf(got))
	}
	a := q[0]
	if a.Key != auth || a.Fields["source"] != auth || a.Severity != SeverityWarning || a.Device != dev ||
		a.Fields["usual_gap"] != "5s" || a.Fields["limit"] != "50s" || len(a.Evidence) != 1 || !strings.Contains(a.Summary, auth) {
		t.Errorf("source_quiet = %+v", a)
	}
	if got := feed(e, tick(last.Add(80*time.Second)), hb(last.Add(80*time.Second)), tick(last.Add(90*time.Second))); len(got) != 0 {
		t.Fatalf("raised again while still quiet: %s", kindsOf(got))
	}
	got = feed(e, srcLine(last.Add(95*time.Second), auth), srcLine(last.Add(96*time.Second), auth))
	if r := ofKind(got, AlertSourceResumed); len(r) != 1 || len(got) != 1 || r[0].Key != auth || r[0].Severity != SeverityInfo {
		t.Fatalf("on its next lines: %s, want one source_resumed", kindsOf(got))
	}
}

// TestSourceQuietNotForASilentDevice: when the whole device falls silent,
// heartbeat_missing says so, and its sources are not also quiet; nor are
// they when it comes back after an absence longer than their limit and
// its files have not caught up yet.
func TestSourceQuietNotForASilentDevice(t *testing.T) {
	t.Parallel()
	learn, last := alive(t0, 5*time.Second, 10, auth)
	e, _ := run(quietCfg, learn)
	var got []Alert
	for ts := last.Add(10 * time.Second); ts.Before(last.Add(10 * time.Minute)); ts = ts.Add(10 * time.Second) {
		got = append(got, feed(e, tick(ts))...)
	}
	if kindsOf(got) != AlertHeartbeatMissing {
		t.Fatalf("device silent 10 min: %s, want heartbeat_missing only", kindsOf(got))
	}
	back := last.Add(10 * time.Minute)
	got = feed(e, hb(back), tick(back.Add(time.Second)), tick(back.Add(30*time.Second)))
	if kindsOf(got) != AlertHeartbeatResumed {
		t.Fatalf("back: %s, want heartbeat_resumed only", kindsOf(got))
	}
	// The file stays silent after the device is back: quiet, counted from its return.
	got = feed(e, heartbeatsAndTicks(back.Add(15*time.Second), back.Add(60*time.Second), 15*time.Second)...)
	if q := ofKind(got, AlertSourceQuiet); len(q) != 1 {
		t.Fatalf("silent 60 s after the device came back: %s, want source_quiet", kindsOf(got))
	}
}

// TestSourceQuietNeedsLearning: a source with fewer gaps than the minimum
// sample is never judged, and one that logs rarely gets its own limit.
func TestSourceQuietNeedsLearning(t *testing.T) {
	t.Parallel()
	learn, last := alive(t0, 5*time.Second, 4, auth) // 3 gaps
	e, _ := run(quietCfg, learn)
	if got := feed(e, heartbeatsAndTicks(last.Add(15*time.Second), last.Add(5*time.Minute), 15*time.Second)...); len(got) != 0 {
		t.Fatalf("unlearned source: %s", kindsOf(got))
	}
	// Every 60 s: limit 10 min, not the 30 s minimum.
	var steps []step
	for i := 0; i < 8; i++ {
		ts := t0.Add(time.Duration(i) * time.Minute)
		steps = append(steps, srcLine(ts, "file:/var/log/cron.log"))
		for k := 0; k < 4; k++ {
			steps = append(steps, hb(ts.Add(time.Duration(k)*15*time.Second)))
		}
	}
	e, _ = run(quietCfg, steps)
	last = t0.Add(7 * time.Minute)
	got := feed(e, heartbeatsAndTicks(last.Add(15*time.Second), last.Add(9*time.Minute+45*time.Second), 15*time.Second)...)
	if len(got) != 0 {
		t.Fatalf("rare source within its 10 min: %s", kindsOf(got))
	}
	got = feed(e, heartbeatsAndTicks(last.Add(10*time.Minute), last.Add(11*time.Minute), 15*time.Second)...)
	if q := ofKind(got, AlertSourceQuiet); len(q) != 1 || q[0].Fields["usual_gap"] != "1m0s" {
		t.Fatalf("rare source after 10 min: %+v", got)
	}
}

// TestSourceQuietBurstyGap: a source that logs in bursts learns the gap
// between bursts, not within them.
func TestSourceQuietBurstyGap(t *testing.T) {
	t.Parallel()
	var steps []step
	var last time.Time
	for burst := 0; burst < 6; burst++ {
		b := t0.Add(time.Duration(burst) * time.Minute)
		for i := 0; i < 5; i++ {
			last = b.Add(time.Duration(i) * time.Second)
			steps = append(steps, srcLine(last, auth))
		}
		for k := 0; k < 4; k++ {
			steps = append(steps, hb(b.Add(time.Duration(k)*15*time.Second)))
		}
	}
	e, _ := run(quietCfg, steps)
	if got := feed(e, heartbeatsAndTicks(last.Add(15*time.Second), last.Add(5*time.Minute), 15*time.Second)...); len(got) != 0 {
		t.Fatalf("5 min after a burst, bursts a minute apart: %s", kindsOf(got))
	}
}

// TestSourceQuietBounded: past MaxQuietSources a new source is not tracked
// and is counted; a device's sources leave the count with it.
func TestSourceQuietBounded(t *testing.T) {
	t.Parallel()
	cfg := quietCfg
	cfg.MaxQuietSources = 3
	e, _ := run(cfg, []step{srcLine(t0, "a"), srcLine(t0, "b"), srcLine(t0, "c"), srcLine(t0, "d"), srcLine(t0, "e")})
	if s := e.Stats(); s.QuietSources != 3 || s.UntrackedSources != 2 {
		t.Fatalf("stats %+v, want 3 tracked and 2 untracked", s)
	}
	if err := e.Restore(dev, nil, t0); err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.QuietSources != 0 {
		t.Fatalf("after the device was replaced: %d sources tracked", s.QuietSources)
	}
	for ts := t0; ts.Before(t0.Add(quietForget + 48*time.Hour)); ts = ts.Add(24 * time.Hour) {
		feed(e, srcLine(ts, "f"), tick(ts.Add(time.Hour)))
	}
	feed(e, tick(t0.Add(quietForget+100*24*time.Hour)))
	if s := e.Stats(); s.QuietSources != 0 {
		t.Fatalf("a source unheard for longer than %v is still tracked: %+v", quietForget, s)
	}
}

// TestSourceQuietAcrossRestart: what was learned survives a collector
// restart (Snapshot, Restore): a source that stops after it is found quiet
// no earlier than before, at most a quarter of the minimum silence later;
// a source already quiet is not raised again, and resumes.
func TestSourceQuietAcrossRestart(t *testing.T) {
	t.Parallel()
	learn, last := alive(t0, 5*time.Second, 10, auth, "file:/var/log/syslog")
	e, _ := run(quietCfg, learn)
	feed(e, hb(last.Add(5*time.Second)), srcLine(last.Add(5*time.Second), "file:/var/log/syslog"))
	if got := feed(e, heartbeatsAndTicks(last.Add(15*time.Second), last.Add(51*time.Second), 12*time.Second)...); kindsOf(got) != AlertSourceQuiet {
		t.Fatalf("before the restart: %s, want auth.log's source_quiet", kindsOf(got))
	}
	// syslog is silent from last+5s, auth.log from last and found quiet.
	snap, ok := e.Snapshot(dev)
	if !ok {
		t.Fatal("no snapshot")
	}
	again, _ := e.Snapshot(dev)
	if string(snap) != string(again) {
		t.Fatal("snapshot bytes differ for one state")
	}
	e2 := New(quietCfg)
	if err := e2.Restore(dev, snap, last.Add(51*time.Second)); err != nil {
		t.Fatal(err)
	}
	steps := heartbeatsAndTicks(last.Add(53*time.Second), last.Add(54*time.Second), 15*time.Second)
	if got := feed(e2, steps...); len(got) != 0 {
		t.Fatalf("just after restore: %s", kindsOf(got))
	}
	got := feed(e2, heartbeatsAndTicks(last.Add(60*time.Second), last.Add(70*time.Second), 5*time.Second)...)
	q := ofKind(got, AlertSourceQuiet)
	if len(q) != 1 || q[0].Key != "file:/var/log/syslog" {
		t.Fatalf("syslog silent 55-65 s (limit 50 s, +7.5 s grain): %s", kindsOf(got))
	}
	got = feed(e2, srcLine(last.Add(80*time.Second), auth))
	if r := ofKind(got, AlertSourceResumed); len(r) != 1 || r[0].Key != auth {
		t.Fatalf("auth.log, quiet before the restart, speaks: %s", kindsOf(got))
	}
}

// TestSnapshotStableWhileSourcesLog: a source logging at its rhythm does
// not change the baseline's bytes with every record (they are saved when
// they change), only every quarter of the minimum silence.
func TestSnapshotStableWhileSourcesLog(t *testing.T) {
	t.Parallel()
	learn, last := alive(t0, 500*time.Millisecond, 200, auth)
	e, _ := run(quietCfg, learn)
	seen := map[string]bool{}
	for ts := last; ts.Before(last.Add(time.Minute)); ts = ts.Add(500 * time.Millisecond) {
		feed(e, srcLine(ts, auth))
		s, _ := e.Snapshot(dev)
		seen[string(s)] = true
	}
	// 120 records over a minute; a grain of 7.5 s: about 8 distinct baselines.
	if n := len(seen); n > 10 {
		t.Errorf("%d distinct baselines for 120 records in a minute, want at most 10", n)
	}
}

// BenchmarkQuietTick is Tick over 10,000 devices of 10 learned sources
// each (the timer rules run every 250 ms on the leader).
func BenchmarkQuietTick(b *testing.B) {
	e := New(quietCfg)
	for d := 0; d < 10000; d++ {
		for i := 0; i < 6; i++ {
			at := t0.Add(time.Duration(i) * 5 * time.Second)
			for s := 0; s < 10; s++ {
				e.Observe(Input{Device: "dev" + strconv.Itoa(d), Kind: "log", Source: "file:/var/log/" + strconv.Itoa(s) + ".log",
					Body: []byte("x"), ReceivedTime: at, DeviceTime: at})
			}
		}
	}
	now := t0.Add(30 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		e.Tick(now)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100000, "ns/source")
}

// TestSourceQuietRestoredThenOtherSourceFirst: after a restore, another
// source's line before the first Tick must not postpone the silent one.
func TestSourceQuietRestoredThenOtherSourceFirst(t *testing.T) {
	t.Parallel()
	learn, last := alive(t0, 5*time.Second, 10, auth, "file:/var/log/syslog")
	e, _ := run(quietCfg, learn)
	snap, _ := e.Snapshot(dev)
	e2 := New(quietCfg)
	if err := e2.Restore(dev, snap, last); err != nil {
		t.Fatal(err)
	}
	var steps []step
	for ts := last.Add(5 * time.Second); !ts.After(last.Add(55 * time.Second)); ts = ts.Add(5 * time.Second) {
		steps = append(steps, hb(ts), srcLine(ts, "file:/var/log/syslog"), tick(ts))
	}
	// Its limit is 10 gaps of 5 s, 53 s once coarsened: due at the 55 s tick.
	if q := ofKind(feed(e2, steps...), AlertSourceQuiet); len(q) != 1 || q[0].Key != auth {
		t.Fatalf("auth.log silent 55 s after a restore: %+v", q)
	}
}

// TestSourceQuietSlowHeartbeats: a device that heartbeats every 2 min is
// not "back from an absence" at each heartbeat: its stopped source is
// found quiet at the first heartbeat after its limit.
func TestSourceQuietSlowHeartbeats(t *testing.T) {
	t.Parallel()
	cfg := quietCfg
	cfg.HeartbeatInterval = 2 * time.Minute
	var steps []step
	for i := 0; i < 10; i++ {
		steps = append(steps, srcLine(t0.Add(time.Duration(i)*5*time.Second), auth))
	}
	steps = append(steps, hb(t0.Add(45*time.Second)))
	e, _ := run(cfg, steps)
	last := t0.Add(45 * time.Second)
	var got []Alert
	for ts := last.Add(10 * time.Second); ts.Before(last.Add(2 * time.Minute)); ts = ts.Add(10 * time.Second) {
		got = append(got, feed(e, tick(ts))...)
	}
	if len(got) != 0 {
		t.Fatalf("between heartbeats: %s", kindsOf(got))
	}
	got = feed(e, hb(last.Add(2*time.Minute)), tick(last.Add(2*time.Minute+time.Second)))
	if q := ofKind(got, AlertSourceQuiet); len(q) != 1 {
		t.Fatalf("at the next heartbeat, 2 min after the source's last line (limit 50 s): %s", kindsOf(got))
	}
}
