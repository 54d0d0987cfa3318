package detect

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/loggen"
)

// TestCollectedIsLatest: collecting gives, group by group, the last
// version Observe would have returned, Opened and Escalated from any
// version, in the order first raised; on a realistic mix with evidence
// capped, over several rounds, so later rounds grow groups earlier ones
// opened. (Not with a full group table: which of several groups touched
// at the same instant is evicted depends on map order, so two engines
// part ways; TestCollectedReopenedGroup covers eviction.)
func TestCollectedIsLatest(t *testing.T) {
	t.Parallel()
	for _, start := range []time.Time{t0, t0.Add(12 * time.Hour)} { // in and outside working hours
		collectedIsLatest(t, start)
	}
}

func collectedIsLatest(t *testing.T, start time.Time) {
	cfg := Config{MaxEvidence: 3}
	plain, collecting := New(cfg), New(cfg)
	compare := func(round int, want, got []Alert) {
		t.Helper()
		want = Latest(want)
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("round %d: %d alerts collected, want %d", round, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("round %d alert %d:\n got %+v\nwant %+v", round, i, got[i], want[i])
			}
		}
	}
	g := loggen.New(loggen.Config{Seed: 7, Devices: 3, Start: start, Span: 10 * time.Minute, Lines: 6000})
	seq := uint64(0)
	for round := range 6 {
		var want []Alert
		collecting.Collect()
		for i := range 1000 {
			line := g.Append(nil)
			at := start.Add(time.Duration(round*1000+i) * 100 * time.Millisecond)
			in := Input{Device: "dev" + string(rune('a'+i%3)), Kind: "log", Source: "file:/var/log/auth.log",
				Body: line[:len(line)-1], DeviceTime: at, ReceivedTime: at.Add(time.Second), Seq: seq, Index: i,
				Labels: map[string]string{"site": "lab"}}
			want = append(want, plain.Observe(in)...)
			if got := collecting.Observe(in); len(got) != 0 {
				t.Fatalf("round %d line %d: Observe returned %d alerts while collecting", round, i, len(got))
			}
		}
		seq++
		compare(round, want, collecting.Collected())
		if again := collecting.Collected(); again != nil {
			t.Fatalf("Collected twice: %d alerts the second time", len(again))
		}
	}
	if s := collecting.Stats(); s.EvictedAlerts != 0 || s.DroppedEvidence == 0 {
		t.Fatalf("stats %+v: want evidence dropped and no group evicted", s)
	}
	// Outside Collect, Observe returns alerts again.
	in := Input{Device: "deva", Kind: "log", Body: []byte("Dec  7 10:00:00 h sshd[1]: Failed password for root from 198.51.100.7 port 22 ssh2"),
		DeviceTime: start.Add(time.Hour), ReceivedTime: start.Add(time.Hour)}
	if got := collecting.Observe(in); len(got) == 0 {
		t.Fatal("Observe after Collected returned no alerts")
	}
}

// TestCollectedReopenedGroup: a group evicted and opened again at the
// same time within a round has the same ID; Collected returns it once, the
// later group, Opened.
func TestCollectedReopenedGroup(t *testing.T) {
	t.Parallel()
	e := New(Config{MaxOpenAlerts: 1, TimestampSkew: time.Hour}) // no timestamp_mismatch
	fail := func(user string, seen time.Duration) Input {
		return Input{Device: dev, Kind: "log", DeviceTime: t0, ReceivedTime: t0.Add(seen),
			Body: []byte("Mar  2 10:00:00 h sshd[1]: Failed password for " + user + " from 198.51.100.7 port 22 ssh2")}
	}
	e.Collect()
	e.Observe(fail("alice", 0))
	e.Observe(fail("alice", time.Second))    // grows alice's group
	e.Observe(fail("bob", 10*time.Minute))   // evicts it (untouched for a GroupWindow)
	e.Observe(fail("alice", 20*time.Minute)) // evicts bob's, opens alice's again: the same ID
	got := e.Collected()
	if len(got) != 2 || got[0].Key != "user=alice source=198.51.100.7" || got[1].Key != "user=bob source=198.51.100.7" {
		t.Fatalf("collected %+v, want alice's then bob's auth_failure", got)
	}
	if a := got[0]; !a.Opened || a.Count != 1 || !a.LastReceived.Equal(t0.Add(20*time.Minute)) || len(a.Evidence) != 1 {
		t.Errorf("alice's = %+v, want the reopened group (count 1, received at 20 min), opened", a)
	}
	if s := e.Stats(); s.OpenAlerts != 1 {
		t.Errorf("open groups %d, want 1", s.OpenAlerts)
	}
}

// BenchmarkObserveRealistic is Observe as the alert runner drives it
// (collecting a round's alerts, 5,000 lines a round) on loggen's bastion
// mix, where the rules find failures, logins and bursts: the engine's own
// cost per line on input a security team has (issue 19), without the
// store.
func BenchmarkObserveRealistic(b *testing.B) {
	const perRound = 5000
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	g := loggen.New(loggen.Config{Seed: 1, Devices: 4, Start: start, Span: time.Hour, Lines: 1_000_000})
	ins := make([]Input, 200_000)
	for i := range ins {
		line := g.Append(nil)
		at := start.Add(time.Duration(i) * 3 * time.Millisecond)
		ins[i] = Input{Device: "sw1", Kind: "log", Source: "file:/var/log/auth.log", Body: line[:len(line)-1],
			DeviceTime: at, ReceivedTime: at, Seq: uint64(i / perRound), Index: i % perRound}
	}
	e := New(Config{})
	var alerts int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e.Collect()
		for range perRound {
			e.Observe(ins[i%len(ins)])
			i++
		}
		alerts += len(e.Collected())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perRound), "ns/line")
	b.ReportMetric(float64(alerts)/float64(b.N), "alerts/round")
}

// Collected shares each group's evidence with the engine (read-only):
// later occurrences, which append to the group's evidence, do not change
// what a caller holds, and the caller's append does not reach the group.
func TestCollectedEvidenceStays(t *testing.T) {
	e := New(Config{})
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	fail := func(seq uint64) {
		at := start.Add(time.Duration(seq) * time.Second)
		e.Observe(Input{Device: "sw1", Kind: "log", Body: []byte("Mar  2 10:00:00 sw1 sshd[1]: Failed password for root from 198.51.100.7 port 22 ssh2"),
			DeviceTime: at, ReceivedTime: at, Seq: seq})
	}
	// round observes the failures seqs in one round and returns its
	// auth_failure alert.
	round := func(seqs ...uint64) (failure Alert) {
		e.Collect()
		for _, s := range seqs {
			fail(s)
		}
		for _, a := range e.Collected() {
			if a.Kind == AlertAuthFailure {
				failure = a
			}
		}
		return failure
	}
	held := round(1, 2)
	if len(held.Evidence) != 2 {
		t.Fatalf("auth_failure evidence %+v, want 2 references", held.Evidence)
	}
	want := slices.Clone(held.Evidence)
	held.Evidence = append(held.Evidence, Ref{Device: "caller", Seq: 99})
	later := round(3, 4)
	if !slices.Equal(held.Evidence[:2], want) {
		t.Errorf("held evidence became %+v, want %+v", held.Evidence[:2], want)
	}
	if len(later.Evidence) != 4 || later.Evidence[2].Seq != 3 || later.Evidence[3].Seq != 4 || later.Count != 4 {
		t.Errorf("later evidence %+v count %d, want seqs 1-4 (the caller's append not in it)", later.Evidence, later.Count)
	}
}
