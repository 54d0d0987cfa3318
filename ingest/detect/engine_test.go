package detect

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Ten failures from one address are one brute_force alert whose Count grows
// from the threshold to ten, always with the same First (the caller's upsert
// key), and one auth_failure alert counting all ten.
func TestGroupingCountGrows(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	var counts []int
	var first time.Time
	var last Alert
	var id string
	for i := range 10 {
		s := failed(t0.Add(time.Duration(i)*10*time.Second), "root", attacker)
		in := *s.in
		in.Seq = uint64(i + 1)
		for _, a := range e.Observe(in) {
			if a.Kind != AlertBruteForce {
				continue
			}
			if first.IsZero() {
				first = a.First
			} else if !a.First.Equal(first) {
				t.Fatalf("failure %d: First moved from %v to %v: a second alert", i+1, first, a.First)
			}
			if id == "" {
				id = a.ID
			} else if a.ID != id {
				t.Fatalf("failure %d: ID changed from %s to %s within one group", i+1, id, a.ID)
			}
			counts = append(counts, a.Count)
			last = a
		}
	}
	if id == "" || id == groupID(AlertAuthFailure, dev, "user=root source="+attacker, first) {
		t.Errorf("brute_force ID %q: empty, or the same as another kind's group", id)
	}
	if want := []int{5, 6, 7, 8, 9, 10}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("brute_force counts = %v, want %v", counts, want)
	}
	if len(last.Evidence) != 10 || last.Evidence[9].Seq != 10 {
		t.Errorf("evidence = %v, want the 10 failures", last.Evidence)
	}
	if !last.Last.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("Last = %v, want %v", last.Last, t0.Add(90*time.Second))
	}
	if last.Fields["user"] != "root" || last.Fields["source"] != attacker {
		t.Errorf("fields = %v", last.Fields)
	}
	if s := e.Stats(); s.OpenAlerts != 2 { // auth_failure and brute_force
		t.Errorf("open alerts = %d, want 2", s.OpenAlerts)
	}
}

// Occurrences further apart than GroupWindow are separate alerts; a burst
// after a quiet spell longer than the brute-force window starts afresh.
func TestWindowExpiry(t *testing.T) {
	t.Parallel()
	steps := cat(failures(5, t0, 10*time.Second, attacker), failures(5, t0.Add(20*time.Minute), 10*time.Second, attacker))
	_, alerts := run(Config{}, steps)
	firsts := map[time.Time]int{}
	for _, a := range ofKind(alerts, AlertBruteForce) {
		firsts[a.First] = a.Count
	}
	if len(firsts) != 2 || firsts[t0] != 5 || firsts[t0.Add(20*time.Minute)] != 5 {
		t.Errorf("brute_force groups (First → Count) = %v, want two of 5", firsts)
	}
	fails := map[time.Time]bool{}
	for _, a := range ofKind(alerts, AlertAuthFailure) {
		fails[a.First] = true
	}
	if len(fails) != 2 {
		t.Errorf("auth_failure groups = %d, want 2", len(fails))
	}

	// A configured window groups more.
	_, alerts = run(Config{GroupWindow: time.Hour}, steps)
	groups := map[time.Time]bool{}
	for _, a := range ofKind(alerts, AlertAuthFailure) {
		groups[a.First] = true
	}
	if len(groups) != 1 {
		t.Errorf("auth_failure groups with a 1 h window = %d, want 1", len(groups))
	}
}

// State stays within its bounds however many sources, devices and keys a
// flood brings, the loss is counted, and Tick drops what can no longer
// change an alert.
func TestBoundedMemory(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxDevices: 50, MaxSourcesPerDevice: 100, MaxOpenAlerts: 500, MaxEvidence: 8}
	e := New(cfg)
	for i := range 20000 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		s := failed(at, fmt.Sprintf("u%d", i%7), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		s.in.Seq = uint64(i + 1)
		e.Observe(*s.in)
		if i%3 == 0 {
			d := rec("heartbeat", at)
			d.in.Device = fmt.Sprintf("dev%d", i)
			e.Observe(*d.in)
		}
		if i%1000 == 0 {
			e.mu.Lock()
			n, w, all := len(e.devices), len(e.devices[dev].fails), len(e.devices[dev].all.entries)
			e.mu.Unlock()
			if n > cfg.MaxDevices || w > cfg.MaxSourcesPerDevice || all > 64 {
				t.Fatalf("after %d records: %d devices, %d windows, %d device-wide entries", i, n, w, all)
			}
		}
	}
	s := e.Stats()
	if s.Devices > cfg.MaxDevices || s.OpenAlerts > cfg.MaxOpenAlerts {
		t.Errorf("stats %+v over the bounds", s)
	}
	if s.EvictedDevices == 0 || s.EvictedWindows == 0 || s.EvictedAlerts == 0 || s.DroppedEvidence == 0 {
		t.Errorf("stats %+v: evictions not counted", s)
	}
	for _, a := range e.Observe(*failed(t0.Add(21*time.Second), "root", "10.9.9.9").in) {
		if len(a.Evidence) > cfg.MaxEvidence {
			t.Errorf("%s has %d evidence refs, max %d", a.Kind, len(a.Evidence), cfg.MaxEvidence)
		}
	}
	missing := len(e.Tick(t0.Add(time.Hour)))
	if s := e.Stats(); s.OpenAlerts != missing {
		t.Errorf("open alerts after an idle hour = %d, want only the %d heartbeat_missing Tick raised", s.OpenAlerts, missing)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.groups {
		if k.kind != AlertHeartbeatMissing {
			t.Errorf("open after an idle hour: %+v", k)
		}
	}
	if d := e.devices[dev]; d != nil && (len(d.fails) != 0 || len(d.all.entries) != 0) {
		t.Errorf("failure windows after an idle hour: %d, %d", len(d.fails), len(d.all.entries))
	}
}

// Alerts carry the device's labels, and a returned alert is a copy the
// caller may keep or change.
func TestLabelsAndCopies(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	s := rec("config_change", t0, "path", "/etc/config/network", "change", "modified")
	s.in.Labels = map[string]string{"role": "router"}
	a := e.Observe(*s.in)
	if len(a) != 1 || a[0].Labels["role"] != "router" {
		t.Fatalf("alerts = %+v, want one with role=router", a)
	}
	a[0].Fields["path"] = "changed by caller"
	a[0].Evidence[0].Seq = 99
	s.in.DeviceTime = t0.Add(time.Minute)
	b := e.Observe(*s.in)
	if len(b) != 1 || b[0].Count != 2 || b[0].Fields["path"] != "/etc/config/network" || b[0].Evidence[0].Seq != 0 {
		t.Errorf("second occurrence = %+v: the caller's copy leaked into the engine", b)
	}
}

func TestLogAccess(t *testing.T) {
	t.Parallel()
	a := LogAccess("alice@example.com", "alerts -kind brute_force", t0)
	if a.Kind != AlertLogAccess || a.Severity != SeverityInfo || a.Key != "alice@example.com" || a.Count != 1 ||
		a.Fields["who"] != "alice@example.com" || a.Fields["what"] != "alerts -kind brute_force" || !a.First.Equal(t0) {
		t.Errorf("LogAccess = %+v", a)
	}
	if a.Device != "" {
		t.Errorf("device = %q, want none: a read is about the collector", a.Device)
	}
}

// FromRecord maps a stored record onto Input, so the store's records feed
// the rules directly.
func TestFromRecord(t *testing.T) {
	t.Parallel()
	r := store.Record{Device: dev, Seq: 4, Index: 2, Received: t0.Add(time.Second), Record: &offboxv1.Record{
		TimeNs: t0.UnixNano(), Kind: offboxv1.Kind_KIND_CONFIG_CHANGE, Source: "watch:/etc/ssh/sshd_config",
		Attrs: []*offboxv1.Attr{{Key: "path", Value: "/etc/ssh/sshd_config"}}}}
	in := FromRecord(r)
	if in.Kind != "config_change" || in.Attrs["path"] != "/etc/ssh/sshd_config" || !in.DeviceTime.Equal(t0) ||
		in.Seq != 4 || in.Index != 2 || in.Device != dev || !in.ReceivedTime.Equal(t0.Add(time.Second)) {
		t.Fatalf("FromRecord = %+v", in)
	}
	a := New(Config{}).Observe(in)
	if len(a) != 1 || a[0].Kind != AlertConfigChange || a[0].Evidence[0] != (Ref{dev, 4, 2}) {
		t.Errorf("alerts = %+v", a)
	}
	pw := FromRecord(store.Record{Record: &offboxv1.Record{Kind: offboxv1.Kind_KIND_PASSWORD_AGE}})
	if pw.Kind != "password_age" {
		t.Errorf("kind = %q, want %q", pw.Kind, "password_age")
	}
	ev := FromIntegrityEvent(store.IntegrityEvent{Device: dev, Kind: store.EventFork, Time: t0, Seq: 3, Detail: "x"})
	if ev != (IntegrityInput{Device: dev, Kind: store.EventFork, Time: t0, Seq: 3, Detail: "x"}) {
		t.Errorf("FromIntegrityEvent = %+v", ev)
	}
}

// The engine is used from every session's goroutine and a ticker at once.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				s := failed(t0.Add(time.Duration(i)*time.Second), "root", fmt.Sprintf("192.0.2.%d", g))
				e.Observe(*s.in)
				e.Tick(t0.Add(time.Duration(i) * time.Second))
			}
		})
	}
	wg.Wait()
	if s := e.Stats(); s.Devices != 1 {
		t.Errorf("devices = %d, want 1", s.Devices)
	}
}

// Observe must survive any record: arbitrary kinds, attrs and bodies.
func FuzzObserve(f *testing.F) {
	for _, c := range ruleCases {
		for _, s := range c.steps {
			if s.in != nil {
				var attrs []string
				for k, v := range s.in.Attrs {
					attrs = append(attrs, k+"="+v)
				}
				f.Add(s.in.Kind, strings.Join(attrs, "\n"), s.in.Body, int64(0))
			}
		}
	}
	f.Fuzz(func(t *testing.T, kind, attrs string, body []byte, skew int64) {
		e := New(Config{ApprovedFirmware: map[string][]string{"": {"x"}}})
		in := Input{Device: dev, Kind: kind, Body: body, DeviceTime: t0, ReceivedTime: t0.Add(time.Duration(skew)),
			Attrs: map[string]string{}, SessionID: "s", BootID: "b"}
		for kv := range strings.SplitSeq(attrs, "\n") {
			k, v, _ := strings.Cut(kv, "=")
			in.Attrs[k] = v
		}
		for range 3 {
			for _, a := range e.Observe(in) {
				if a.Kind == "" || a.Device != dev || a.Count < 1 || severityRank(a.Severity) == 0 && a.Severity != SeverityInfo {
					t.Fatalf("malformed alert %+v", a)
				}
			}
			in.DeviceTime = in.DeviceTime.Add(time.Minute)
		}
		e.Tick(t0.Add(time.Hour))
	})
}

func BenchmarkObserveLogLines(b *testing.B) {
	lines := []string{
		"Mar  2 10:00:00 sw1 kernel: [12345.678] eth0: link up, 1000Mbps, full-duplex",
		"Mar  2 10:00:00 sw1 dnsmasq-dhcp[812]: DHCPACK(br-lan) 192.168.1.23 aa:bb:cc:dd:ee:ff laptop",
		"Mar  2 10:00:00 sw1 netifd: Interface 'wan' is now up",
		"Mar  2 10:00:00 sw1 CRON[4711]: (root) CMD (run-parts /etc/cron.hourly)",
	}
	for _, auth := range []bool{false, true} {
		name := "non-auth"
		if auth {
			name = "auth-failure"
		}
		b.Run(name, func(b *testing.B) {
			e := New(Config{})
			ins := make([]Input, len(lines))
			for i, l := range lines {
				if auth {
					l = fmt.Sprintf("Mar  2 10:00:00 sw1 sshd[1]: Failed password for root from 198.51.100.%d port 22 ssh2", i)
				}
				ins[i] = Input{Device: dev, Kind: "log", Body: []byte(l), DeviceTime: t0, ReceivedTime: t0}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				in := ins[i%len(ins)]
				in.Seq = uint64(i)
				e.Observe(in)
				i++
			}
		})
	}
}

// An alert carries the collector's receive times beside the device's:
// failures dated 50 years ahead are still First/Last 50 years ahead, but
// FirstReceived/LastReceived say when they arrived, which is what alert
// lists sort by; a heartbeat_missing (no device time) has the tick's.
func TestAlertReceivedTimes(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	future := t0.AddDate(50, 0, 0)
	var last Alert
	for i := range 3 {
		s := received(failed(future.Add(time.Duration(i)*time.Second), "root", attacker), t0.Add(time.Duration(i)*time.Minute))
		for _, a := range e.Observe(*s.in) {
			if a.Kind == AlertAuthFailure {
				last = a
			}
		}
	}
	if !last.First.Equal(future) || !last.Last.Equal(future.Add(2*time.Second)) {
		t.Errorf("device times: First %v Last %v, want %v and %v", last.First, last.Last, future, future.Add(2*time.Second))
	}
	if !last.FirstReceived.Equal(t0) || !last.LastReceived.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("received: FirstReceived %v LastReceived %v, want %v and %v", last.FirstReceived, last.LastReceived, t0, t0.Add(2*time.Minute))
	}
	now := t0.Add(time.Hour)
	missing := 0
	for _, a := range e.Tick(now) {
		if a.Kind != AlertHeartbeatMissing {
			continue
		}
		missing++
		if !a.LastReceived.Equal(now) || !a.FirstReceived.Equal(now) {
			t.Errorf("heartbeat_missing received %v..%v, want the tick %v", a.FirstReceived, a.LastReceived, now)
		}
	}
	if missing != 1 {
		t.Errorf("%d heartbeat_missing alerts after an hour of silence, want 1", missing)
	}
}

// A device that dates each record of a burst an hour apart cannot turn
// the burst into one alert per record: occurrences received within the
// group window group, whatever their device times. Records genuinely
// far apart in both clocks stay separate alerts.
func TestGroupingByReceiveTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		deviceStep    time.Duration
		receivedStep  time.Duration
		alerts, count int
	}{
		{"device hours apart, received together", time.Hour, time.Millisecond, 1, 600},
		{"device 50 years of hours, received within a minute", 365 * 24 * time.Hour, 100 * time.Millisecond, 1, 600},
		{"both an hour apart", time.Hour, time.Hour, 600, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := New(Config{MaxOpenAlerts: 1000})
			ids := map[string]int{}
			for i := range 600 {
				s := received(failed(t0.Add(time.Duration(i)*tt.deviceStep), "root", attacker), t0.Add(time.Duration(i)*tt.receivedStep))
				for _, a := range e.Observe(*s.in) {
					if a.Kind == AlertAuthFailure {
						ids[a.ID] = a.Count
					}
				}
			}
			if len(ids) != tt.alerts {
				t.Fatalf("%d auth_failure alerts, want %d", len(ids), tt.alerts)
			}
			for _, n := range ids {
				if n != tt.count {
					t.Errorf("alert count %d, want %d", n, tt.count)
				}
				break
			}
		})
	}
}
