package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests, test{"SaveAlertsMany", testSaveAlertsMany}, test{"SaveAlertsMixed", testSaveAlertsMixed})
}

// testSaveAlertsMany: a save larger than one multi-row statement (the SQL
// engines upsert up to 1,024 alerts a statement), with a group repeated,
// stores every alert once, the repeat's later version winning.
func testSaveAlertsMany(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	const n = 2500
	var ups []store.AlertUpsert
	for i := range n {
		a := alert(fmt.Sprintf("g%04d", i), t0)
		a.Evidence = []store.AlertRef{{Device: "router-1", Seq: uint64(i), Index: i % 7}}
		ups = append(ups, store.AlertUpsert{Alert: a})
	}
	again := ups[3]
	again.Alert.Count = 9
	ups = append(ups, again)
	save(t, s, t0, nil, ups...)
	got := alerts(t, s, store.AlertQuery{Limit: 2 * n})
	if len(got) != n {
		t.Fatalf("%d alerts stored, want %d", len(got), n)
	}
	for _, a := range got {
		var i int
		if _, err := fmt.Sscanf(a.GroupID, "g%04d", &i); err != nil {
			t.Fatalf("group %q: %v", a.GroupID, err)
		}
		want := 1
		if i == 3 {
			want = 9
		}
		if a.Count != want || len(a.Evidence) != 1 || a.Evidence[0].Seq != uint64(i) || a.Evidence[0].Index != i%7 {
			t.Fatalf("alert %s: count %d evidence %+v", a.GroupID, a.Count, a.Evidence)
		}
	}
}

// testSaveAlertsMixed: one save whose chunks mix stored groups and new
// ones, interleaved (SQLite updates the stored, then inserts the rest):
// a stored alert keeps its id, its creation time and its triage state
// (a resolved one is reopened), takes the new values; a new one is
// stored; deliveries are queued against the right alert, old or new.
func testSaveAlertsMixed(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	const n = 1500
	var first []store.AlertUpsert
	for i := 0; i < n; i += 2 {
		first = append(first, store.AlertUpsert{Alert: alert(fmt.Sprintf("g%04d", i), t0)})
	}
	save(t, s, t0, nil, first...)
	before := map[string]store.Alert{}
	for _, a := range alerts(t, s, store.AlertQuery{Limit: 2 * n}) {
		before[a.GroupID] = a
	}
	resolved := before["g0010"]
	transition(t, s, []int64{resolved.ID}, store.Transition{Action: store.ActionResolve, Who: "alice"})
	later := t0.Add(time.Minute)
	var ups []store.AlertUpsert
	for i := range n {
		a := alert(fmt.Sprintf("g%04d", i), later)
		a.Count, a.Summary = 100+i, fmt.Sprintf("summary %d", i)
		a.Evidence = []store.AlertRef{{Device: "router-1", Seq: uint64(i), Index: 1}}
		u := store.AlertUpsert{Alert: a}
		if i%100 == 0 || i%100 == 1 {
			u.Sinks = []string{"hook"}
		}
		ups = append(ups, u)
	}
	save(t, s, later, nil, ups...)
	got := alerts(t, s, store.AlertQuery{Limit: 2 * n})
	if len(got) != n {
		t.Fatalf("%d alerts stored, want %d", len(got), n)
	}
	byID := map[int64]string{}
	for _, a := range got {
		var i int
		if _, err := fmt.Sscanf(a.GroupID, "g%04d", &i); err != nil {
			t.Fatalf("group %q: %v", a.GroupID, err)
		}
		byID[a.ID] = a.GroupID
		if a.Count != 100+i || a.Summary != fmt.Sprintf("summary %d", i) || !a.Last.Equal(later) ||
			len(a.Evidence) != 1 || a.Evidence[0].Seq != uint64(i) {
			t.Fatalf("alert %s: count %d summary %q last %v evidence %+v, want the second save's", a.GroupID, a.Count, a.Summary, a.Last, a.Evidence)
		}
		if b, ok := before[a.GroupID]; ok {
			if a.ID != b.ID || !a.Created.Equal(b.Created) {
				t.Fatalf("stored alert %s: id %d created %v, was %d %v", a.GroupID, a.ID, a.Created, b.ID, b.Created)
			}
		} else if i%2 == 0 || !a.Created.Equal(later) {
			t.Fatalf("alert %s: created %v (stored before: %v), want new at %v", a.GroupID, a.Created, ok, later)
		}
		if a.State != store.StateOpen {
			t.Fatalf("alert %s: state %q, want open (g0010 reopened)", a.GroupID, a.State)
		}
	}
	ds := due(t, s, "hook", later)
	if len(ds) != 2*n/100 {
		t.Fatalf("%d deliveries due, want %d", len(ds), 2*n/100)
	}
	for _, d := range ds {
		var i int
		fmt.Sscanf(d.Alert.GroupID, "g%04d", &i)
		if byID[d.AlertID] != d.Alert.GroupID || i%100 > 1 {
			t.Fatalf("delivery for alert %d (%s), group %s: queued against the wrong alert", d.AlertID, byID[d.AlertID], d.Alert.GroupID)
		}
	}
}
