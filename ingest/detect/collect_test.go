package detect

import (
	"reflect"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/loggen"
)

// TestCollectedIsLatest: collecting gives, group by group, the last
// version Observe would have returned, Opened and Escalated from any
// version, in the order first raised; on a realistic mix with small
// bounds, so groups are evicted and reopened within a round, and across
// several rounds, so later rounds grow groups earlier ones opened.
func TestCollectedIsLatest(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxOpenAlerts: 40, MaxEvidence: 3, MaxSourcesPerDevice: 16}
	plain, collecting := New(cfg), New(cfg)
	g := loggen.New(loggen.Config{Seed: 7, Devices: 3, Start: t0, Span: 10 * time.Minute, Lines: 6000})
	seq := uint64(0)
	for round := range 6 {
		var want []Alert
		collecting.Collect()
		for i := range 1000 {
			line := g.Append(nil)
			at := t0.Add(time.Duration(round*1000+i) * 100 * time.Millisecond)
			in := Input{Device: "dev" + string(rune('a'+i%3)), Kind: "log", Source: "file:/var/log/auth.log",
				Body: line[:len(line)-1], DeviceTime: at, ReceivedTime: at.Add(time.Second), Seq: seq, Index: i,
				Labels: map[string]string{"site": "lab"}}
			want = append(want, plain.Observe(in)...)
			if got := collecting.Observe(in); len(got) != 0 {
				t.Fatalf("round %d line %d: Observe returned %d alerts while collecting", round, i, len(got))
			}
		}
		seq++
		got := collecting.Collected()
		want = lastVersions(want)
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("round %d: %d alerts collected, want %d", round, len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("round %d alert %d:\n got %+v\nwant %+v", round, i, got[i], want[i])
			}
		}
		if again := collecting.Collected(); again != nil {
			t.Fatalf("Collected twice: %d alerts the second time", len(again))
		}
	}
	if s := collecting.Stats(); s.EvictedAlerts == 0 || s.DroppedEvidence == 0 {
		t.Fatalf("stats %+v: the bounds were not reached, the test proves less than it says", s)
	}
	// Outside Collect, Observe returns alerts again.
	in := Input{Device: "deva", Kind: "log", Body: []byte("Dec  7 10:00:00 h sshd[1]: Failed password for root from 198.51.100.7 port 22 ssh2"),
		DeviceTime: t0.Add(time.Hour), ReceivedTime: t0.Add(time.Hour)}
	if got := collecting.Observe(in); len(got) == 0 {
		t.Fatal("Observe after Collected returned no alerts")
	}
}

// lastVersions keeps, by ID, the last version of each alert in the order
// first raised, Opened and Escalated from any version.
func lastVersions(raised []Alert) []Alert {
	idx := map[string]int{}
	var out []Alert
	for _, a := range raised {
		i, ok := idx[a.ID]
		if !ok {
			idx[a.ID] = len(out)
			out = append(out, a)
			continue
		}
		opened, escalated := out[i].Opened || a.Opened, out[i].Escalated || a.Escalated
		out[i] = a
		out[i].Opened, out[i].Escalated = opened, escalated
	}
	return out
}
