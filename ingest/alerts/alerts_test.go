package alerts

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/seal"
)

// t0 is a Monday at 10:00 UTC.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// clock is a settable collector clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

type fixture struct {
	t     *testing.T
	path  string
	st    *sqlite.Store
	clk   *clock
	dev   *batchtest.Device
	kicks int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "offbox.db"), clk: &clock{t: t0}, dev: batchtest.NewDevice("sw1")}
	f.open()
	return f
}

func (f *fixture) open() {
	st, err := sqlite.Open(f.path, sqlite.Options{Sync: "normal", Now: f.clk.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
	f.t.Cleanup(func() { st.Close() })
}

// runner is a Runner on the fixture's store, restored, routing every
// alert of warning or above to the sink "soc".
func (f *fixture) runner() *Runner {
	f.t.Helper()
	r, err := New(Config{Store: f.st, Now: f.clk.Now,
		Labels: func(context.Context, string) map[string]string { return map[string]string{"role": "switch"} },
		Route: func(a store.Alert) []string {
			if a.Severity == store.SeverityInfo {
				return nil
			}
			return []string{"soc"}
		},
		Delivered: func() { f.kicks++ }})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := r.restore(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	return r
}

// commit stores the next batch of the device with recs, received now.
func (f *fixture) commit(recs ...seal.WireRecord) {
	f.t.Helper()
	b := batchtest.Commit(f.dev.Name, f.dev.Next(recs...), f.dev.Seq-1)
	b.Received = f.clk.Now()
	if err := f.st.CommitBatch(context.Background(), b); err != nil {
		f.t.Fatal(err)
	}
}

// drain runs rounds until nothing is waiting.
func (f *fixture) drain(r *Runner, timers bool) {
	f.t.Helper()
	for {
		more, err := r.Round(context.Background(), timers)
		if err != nil {
			f.t.Fatal(err)
		}
		if !more {
			return
		}
		timers = false
	}
}

func (f *fixture) alerts(kind string) []store.Alert {
	f.t.Helper()
	as, err := f.st.Alerts(context.Background(), store.AlertQuery{Kind: kind})
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

func authLine(at time.Time, msg string) seal.WireRecord {
	return seal.WireRecord{TimeNs: at.UnixNano(), Kind: 1, Source: "file:/var/log/auth.log",
		Body: []byte(at.Format(time.Stamp) + " sw1 " + msg)}
}

// A burst of failures then a success, stored in several batches: the
// runner raises them once each, with evidence and labels, queues the
// warnings for delivery, and a restarted runner raises nothing again.
func TestBruteForceFromTheStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.runner()
	for i := range 6 {
		at := t0.Add(time.Duration(i) * time.Second)
		f.commit(authLine(at, fmt.Sprintf("sshd[10%d]: Failed password for root from 203.0.113.9 port 4242 ssh2", i)))
	}
	f.commit(authLine(t0.Add(10*time.Second), "sshd[200]: Accepted password for root from 203.0.113.9 port 4243 ssh2"))
	f.drain(r, false)

	bf := f.alerts(detect.AlertBruteForce)
	if len(bf) != 1 || bf[0].Count != 6 || bf[0].Labels["role"] != "switch" || bf[0].Fields["source"] != "203.0.113.9" {
		t.Fatalf("brute_force alerts = %+v, want one counting 6 from 203.0.113.9 labelled role=switch", bf)
	}
	if len(bf[0].Evidence) != 6 || bf[0].Evidence[0].Seq != 1 || bf[0].Evidence[5].Seq != 6 {
		t.Errorf("brute_force evidence = %v, want batches 1..6", bf[0].Evidence)
	}
	rec, ok, err := f.st.Record(context.Background(), "sw1", bf[0].Evidence[0].Seq, bf[0].Evidence[0].Index)
	if err != nil || !ok || len(rec.GetBody()) == 0 {
		t.Errorf("evidence record: %v %v %v", rec, ok, err)
	}
	saf := f.alerts(detect.AlertSuccessAfterFailures)
	if len(saf) != 1 || saf[0].Fields["user"] != "root" || saf[0].Severity != store.SeverityCritical {
		t.Fatalf("success_after_failures = %+v", saf)
	}
	if n := len(f.alerts(detect.AlertAuthFailure)); n != 1 {
		t.Errorf("%d auth_failure alerts, want 1 grouped", n)
	}
	pending, err := f.st.PendingDeliveries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// brute_force and success_after_failures; the info alerts are not routed.
	if pending["soc"] != 2 || f.kicks == 0 {
		t.Errorf("pending deliveries %v after %d kicks, want soc: 2", pending, f.kicks)
	}

	// A new runner on the same store resumes after the cursor.
	r2 := f.runner()
	f.drain(r2, false)
	if n := len(f.alerts("")); n != 4 { // auth_failure, brute_force, auth_success, success_after_failures
		t.Errorf("%d alerts after a restart, want the same 4", n)
	}
	if pending, _ := f.st.PendingDeliveries(context.Background()); pending["soc"] != 2 {
		t.Errorf("pending after restart %v, want still 2", pending)
	}
}

// A device that falls silent raises heartbeat_missing from the timer
// alone, and heartbeat_resumed with its next batch, also across a restart
// of the runner in between.
func TestHeartbeatMissingAndResumed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.runner()
	hb := batchtest.Heartbeat(t0.UnixNano())
	hb.Attrs = append(hb.Attrs, seal.WireAttr{Key: "heartbeat_interval", Value: "2s"})
	f.commit(hb)
	f.drain(r, true)
	f.clk.Add(4 * time.Second)
	f.drain(r, true)
	if n := len(f.alerts(detect.AlertHeartbeatMissing)); n != 0 {
		t.Fatalf("heartbeat_missing after 4s of a 2s interval (limit 5s)")
	}
	f.clk.Add(2 * time.Second)
	f.drain(r, true)
	if n := len(f.alerts(detect.AlertHeartbeatMissing)); n != 1 {
		t.Fatalf("%d heartbeat_missing after 6s silent, want 1", n)
	}
	r = f.runner() // restart: the missing flag is in the saved baseline
	f.clk.Add(time.Minute)
	f.drain(r, true)
	if n := len(f.alerts(detect.AlertHeartbeatMissing)); n != 1 {
		t.Errorf("%d heartbeat_missing after a restart, want still 1", n)
	}
	f.commit(batchtest.Heartbeat(f.clk.Now().UnixNano()))
	f.drain(r, true)
	if n := len(f.alerts(detect.AlertHeartbeatResumed)); n != 1 {
		t.Errorf("%d heartbeat_resumed, want 1", n)
	}
}

// Integrity events and data accesses become alerts: chain_restart with the
// batch's boot id, and log_access naming who read what (grouped).
func TestIntegrityAndAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.runner()
	f.commit(batchtest.Heartbeat(t0.UnixNano()))
	ctx := context.Background()
	if err := f.st.AddIntegrityEvent(ctx, store.IntegrityEvent{Device: "sw1", Time: t0, Kind: store.EventChainRestart,
		Seq: 1, Detail: "a new chain", BootID: "boot-sw1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RecordAccess(ctx, store.Access{Time: t0, Who: "alice", Via: "cli", What: "alerts -device sw1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RecordAccess(ctx, store.Access{Time: t0, Who: "alice", Via: "cli", What: "alerts -device sw1"}); err != nil {
		t.Fatal(err)
	}
	f.drain(r, false)
	cr := f.alerts(detect.AlertChainRestart)
	if len(cr) != 1 || cr[0].Severity != store.SeverityCritical {
		t.Errorf("chain_restart alerts = %+v, want one critical (same boot: no reboot)", cr)
	}
	la := f.alerts(detect.AlertLogAccess)
	// Grouped like every kind: one alert for alice's two reads, counting them.
	if len(la) != 1 || la[0].Fields["who"] != "alice" || la[0].Fields["via"] != "cli" || la[0].Count != 2 {
		t.Errorf("log_access alerts = %+v, want one by alice via cli with count 2", la)
	}
}

// A firmware downgrade is seen although the collector restarted between
// the two boots: the baseline was saved.
func TestFirmwareBaselineSurvivesRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boot := func(at time.Time, id, version string) seal.WireRecord {
		return seal.WireRecord{TimeNs: at.UnixNano(), Kind: 2, Source: "boot",
			Attrs: []seal.WireAttr{{Key: "boot_id", Value: id}, {Key: "firmware_version", Value: version}, {Key: "model", Value: "m1"}},
			Body:  []byte(fmt.Sprintf(`{"boot_id":%q,"firmware_version":%q,"firmware_source":"os-release","model":"m1"}`, id, version))}
	}
	f.commit(boot(t0, "b1", "23.05.3"))
	f.drain(f.runner(), false)
	f.dev.BootID = "b2"
	f.commit(boot(t0.Add(time.Hour), "b2", "22.03.5"))
	f.drain(f.runner(), false)
	if n := len(f.alerts(detect.AlertFirmwareDowngrade)); n != 1 {
		t.Errorf("%d firmware_downgrade alerts, want 1", n)
	}
}

func TestCertLabels(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: t0, NotAfter: t0.Add(time.Hour),
		Subject: pkix.Name{CommonName: "sw1", OrganizationalUnit: []string{"role=switch", "site=par1", "plain", "=x"}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	got := CertLabels(der)
	if len(got) != 2 || got["role"] != "switch" || got["site"] != "par1" {
		t.Errorf("CertLabels = %v, want role=switch site=par1", got)
	}
	if CertLabels([]byte("not a certificate")) != nil {
		t.Error("labels from garbage")
	}
}

// TestCaughtUp: CaughtUp is closed once Run has read the backlog stored
// before it started, not before.
func TestCaughtUp(t *testing.T) {
	f := newFixture(t)
	for i := range 200 { // more than one round's Limit
		f.commit(batchtest.Heartbeat(t0.Add(time.Duration(i) * time.Second).UnixNano()))
	}
	r := f.runner()
	select {
	case <-r.CaughtUp():
		t.Fatal("caught up before running")
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	select {
	case <-r.CaughtUp():
	case <-time.After(10 * time.Second):
		t.Fatal("not caught up 10 s after Run started")
	}
	cur, err := f.st.DetectCursor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	last, err := f.st.BatchesAfter(context.Background(), cur.BatchRow, 10)
	if err != nil || len(last) != 0 {
		t.Fatalf("caught up with %d batches past the saved cursor (%v)", len(last), err)
	}
}

// The attacker's report: one device sends 600 authentication failures
// dated 50 years ahead; a real failure on another device arrives two hours
// later. The real alert is the newest in the list, the only one in the
// last hour, and within the dashboard's 500; the liar's alerts keep their
// device time beside the receive time, and its clock raises a critical
// timestamp_mismatch.
func TestFutureDeviceClockHidesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.runner()
	liar := batchtest.NewDevice("liar")
	future := t0.AddDate(50, 0, 0)
	recs := make([]seal.WireRecord, 600)
	for i := range recs {
		recs[i] = authLine(future.Add(time.Duration(i)*time.Millisecond),
			fmt.Sprintf("sshd[%d]: Failed password for user%d from 198.51.100.%d port 4242 ssh2", 1000+i, i, i%250))
	}
	b := batchtest.Commit(liar.Name, liar.Next(recs...), 0)
	b.Received = f.clk.Now()
	if err := f.st.CommitBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	f.drain(r, false)
	f.clk.Add(2 * time.Hour)
	f.commit(authLine(f.clk.Now(), "sshd[7]: Failed password for root from 203.0.113.9 port 4242 ssh2"))
	f.drain(r, false)

	now := f.clk.Now()
	page, err := f.st.Alerts(context.Background(), store.AlertQuery{Since: now.Add(-24 * time.Hour), Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) == 0 || page[0].Device != "sw1" || page[0].Kind != detect.AlertAuthFailure {
		t.Fatalf("newest alert: %+v, want sw1's auth_failure", page[:min(len(page), 1)])
	}
	hour, err := f.st.Alerts(context.Background(), store.AlertQuery{Since: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(hour) != 1 || hour[0].Device != "sw1" {
		var got []string
		for _, a := range hour {
			got = append(got, a.Device+"/"+a.Kind)
		}
		t.Errorf("last hour: %v, want sw1's auth_failure alone", got)
	}
	if a := page[0]; !a.LastReceived.Equal(now) || !a.Last.Equal(now) {
		t.Errorf("sw1 alert: last %v received %v, want both %v", a.Last, a.LastReceived, now)
	}
	for _, a := range page {
		if a.Device == "liar" && a.Kind == detect.AlertAuthFailure && (!a.LastReceived.Equal(t0) || a.Last.Before(future)) {
			t.Errorf("liar alert %s: last %v received %v, want device time from %v, received %v", a.Key, a.Last, a.LastReceived, future, t0)
		}
	}
	ts := f.alerts(detect.AlertTimestampMismatch)
	if len(ts) != 1 || ts[0].Device != "liar" || ts[0].Severity != store.SeverityCritical || ts[0].Fields["cause"] != "device_clock" {
		t.Errorf("timestamp_mismatch alerts: %+v, want one critical device_clock for liar", ts)
	}
}

// TestOpenGroupsSurviveRestart: a runner started afresh (a restart, a lost
// leadership, a failed save) takes up the alert groups still open, so
// what follows grows them: one auth_failure alert counting every failure,
// not a second alert, and not the same alert rewritten with a smaller
// count (the lines share their device time, so a group started afresh
// would get the stored alert's id).
func TestOpenGroupsSurviveRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	fail := func(i int) seal.WireRecord {
		return authLine(t0, fmt.Sprintf("sshd[30%d]: Failed password for alice from 198.51.100.7 port 4242 ssh2", i))
	}
	for i := range 3 {
		f.commit(fail(i))
	}
	f.drain(f.runner(), false)
	if af := f.alerts(detect.AlertAuthFailure); len(af) != 1 || af[0].Count != 3 {
		t.Fatalf("before the restart: auth_failure %+v, want one counting 3", af)
	}
	f.clk.Add(time.Minute)
	for i := 3; i < 5; i++ {
		f.commit(fail(i))
	}
	f.drain(f.runner(), false)
	af := f.alerts(detect.AlertAuthFailure)
	if len(af) != 1 || af[0].Count != 5 || len(af[0].Evidence) != 5 {
		t.Fatalf("after the restart: auth_failure %+v, want one counting 5 with 5 refs", af)
	}
	// Past the group window the next failure opens a new alert, as it
	// would have without the restart.
	f.clk.Add(time.Hour)
	f.commit(authLine(t0.Add(time.Hour), "sshd[399]: Failed password for alice from 198.51.100.7 port 4242 ssh2"))
	f.drain(f.runner(), false)
	if n := len(f.alerts(detect.AlertAuthFailure)); n != 2 {
		t.Errorf("%d auth_failure alerts after the window, want 2", n)
	}
}
