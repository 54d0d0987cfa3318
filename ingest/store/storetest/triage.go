package storetest

// Triage: transitions are records and the state is derived from them; an
// alert that fires again after it was resolved reopens; escalations are
// queued once per (alert, sink), and acknowledging stops them.

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests,
		test{"Transitions", testTransitions},
		test{"TransitionRefused", testTransitionRefused},
		test{"ReopenOnFire", testReopenOnFire},
		test{"AlertStateFilter", testAlertStateFilter},
		test{"Escalate", testEscalate},
		test{"EscalateStopsOnAck", testEscalateStopsOnAck},
		test{"EscalateNewRuleSkipsOverdue", testEscalateNewRule},
		test{"EscalateOnceAcrossHandles", testEscalateConcurrent},
		test{"EscalateBacklog", testEscalateBacklog},
	)
}

func alertByGroup(t *testing.T, s store.AlertStore, group string) store.Alert {
	t.Helper()
	for _, a := range alerts(t, s, store.AlertQuery{}) {
		if a.GroupID == group {
			return a
		}
	}
	t.Fatalf("no alert %s", group)
	return store.Alert{}
}

func transition(t *testing.T, s store.TriageStore, ids []int64, tr store.Transition) []int64 {
	t.Helper()
	changed, err := s.TransitionAlerts(ctx, ids, tr)
	if err != nil {
		t.Fatalf("TransitionAlerts(%v, %+v): %v", ids, tr, err)
	}
	return changed
}

// testTransitions: each action moves the state and assignee as
// documented, a transition that changes nothing is not stored, and the
// history keeps every stored one, in order, with who, when and the
// comment; a restart reads the same.
func testTransitions(t *testing.T, fa Factory) {
	s, _, reopen := newStore(t, fa)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0)}, store.AlertUpsert{Alert: alert("g2", t0)})
	a := alertByGroup(t, s, "g1")
	if a.State != store.StateOpen || a.Assignee != "" {
		t.Fatalf("new alert: state %q assignee %q, want open, none", a.State, a.Assignee)
	}
	at := t0.Add(time.Hour)
	steps := []struct {
		tr        store.Transition
		changed   bool
		state, to string
	}{
		{store.Transition{Action: store.ActionAck, Comment: "looking <b>", Who: "alice", Via: "cli"}, true, store.StateAcknowledged, ""},
		{store.Transition{Action: store.ActionAck, Who: "bob", Via: "api"}, false, store.StateAcknowledged, ""},
		{store.Transition{Action: store.ActionAssign, Assignee: "carol", Who: "alice", Via: "dashboard"}, true, store.StateAcknowledged, "carol"},
		{store.Transition{Action: store.ActionAssign, Assignee: "carol", Who: "alice", Via: "dashboard"}, false, store.StateAcknowledged, "carol"},
		{store.Transition{Action: store.ActionNote, Comment: "it was the backup job", Who: "carol", Via: "api"}, true, store.StateAcknowledged, "carol"},
		{store.Transition{Action: store.ActionResolve, Comment: "fixed", Who: "carol", Via: "api"}, true, store.StateResolved, "carol"},
		{store.Transition{Action: store.ActionResolve, Who: "carol", Via: "api"}, false, store.StateResolved, "carol"},
		{store.Transition{Action: store.ActionReopen, Comment: "back", Who: "alice", Via: "cli"}, true, store.StateOpen, "carol"},
	}
	var want []store.Transition
	for i, st := range steps {
		st.tr.At = at.Add(time.Duration(i) * time.Minute)
		got := transition(t, s, []int64{a.ID}, st.tr)
		if (len(got) == 1) != st.changed {
			t.Errorf("step %d %s: changed %v, want %v", i, st.tr.Action, got, st.changed)
		}
		b := alertByGroup(t, s, "g1")
		if b.State != st.state || b.Assignee != st.to {
			t.Errorf("step %d %s: state %q assignee %q, want %q %q", i, st.tr.Action, b.State, b.Assignee, st.state, st.to)
		}
		if st.changed {
			w := st.tr
			w.AlertID, w.Assignee = a.ID, st.to
			want = append(want, w)
		}
	}
	if g2 := alertByGroup(t, s, "g2"); g2.State != store.StateOpen {
		t.Errorf("g2 moved with g1: %q", g2.State)
	}
	check := func(s store.Store) {
		t.Helper()
		h, err := s.AlertHistory(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != len(want) {
			t.Fatalf("history has %d transitions, want %d: %+v", len(h), len(want), h)
		}
		for i := range h {
			g, w := h[i], want[i]
			if g.ID == 0 || g.AlertID != w.AlertID || g.Action != w.Action || g.Who != w.Who || g.Via != w.Via ||
				!g.At.Equal(w.At) || g.Comment != w.Comment || g.Assignee != w.Assignee {
				t.Errorf("history[%d] = %+v, want %+v", i, g, w)
			}
		}
	}
	check(s)
	s2 := reopen(t)
	defer closeOnce(t, s2)()
	check(s2)
	if h, err := s2.AlertHistory(ctx, a.ID+1000); err != nil || len(h) != 0 {
		t.Errorf("history of an unknown alert = %v, %v", h, err)
	}
}

// testTransitionRefused: a bad transition is refused whole; a bulk
// transition changes only the alerts it applies to and skips unknown ids.
func testTransitionRefused(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0)}, store.AlertUpsert{Alert: alert("g2", t0)})
	a1, a2 := alertByGroup(t, s, "g1"), alertByGroup(t, s, "g2")
	for _, bad := range []store.Transition{
		{Action: "close", Who: "alice"},
		{Action: store.ActionNote, Who: "alice"},
		{Action: store.ActionAck},
	} {
		if _, err := s.TransitionAlerts(ctx, []int64{a1.ID}, bad); err == nil {
			t.Errorf("TransitionAlerts(%+v) succeeded", bad)
		}
	}
	transition(t, s, []int64{a1.ID}, store.Transition{Action: store.ActionAck, Who: "alice"})
	got := transition(t, s, []int64{a1.ID, a2.ID, a2.ID + 1000}, store.Transition{Action: store.ActionAck, Who: "bob"})
	if !slices.Equal(got, []int64{a2.ID}) {
		t.Errorf("bulk ack changed %v, want [%d]", got, a2.ID)
	}
}

// testReopenOnFire: an upsert of a resolved alert reopens it with a
// reopen transition by the collector, its history kept; an upsert of an
// acknowledged one leaves it acknowledged.
func testReopenOnFire(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0)}, store.AlertUpsert{Alert: alert("g2", t0)})
	a1, a2 := alertByGroup(t, s, "g1"), alertByGroup(t, s, "g2")
	transition(t, s, []int64{a1.ID}, store.Transition{Action: store.ActionResolve, Who: "alice", Comment: "done"})
	transition(t, s, []int64{a2.ID}, store.Transition{Action: store.ActionAck, Who: "alice"})
	later := t0.Add(time.Minute)
	save(t, s, later, nil, store.AlertUpsert{Alert: alert("g1", later)}, store.AlertUpsert{Alert: alert("g2", later)})
	if b := alertByGroup(t, s, "g1"); b.State != store.StateOpen || b.ID != a1.ID {
		t.Errorf("resolved alert fired again: state %q id %d, want open %d", b.State, b.ID, a1.ID)
	}
	if b := alertByGroup(t, s, "g2"); b.State != store.StateAcknowledged {
		t.Errorf("acknowledged alert fired again: state %q, want acknowledged", b.State)
	}
	h, err := s.AlertHistory(ctx, a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Action != store.ActionResolve || h[0].Comment != "done" ||
		h[1].Action != store.ActionReopen || h[1].Who != store.SystemWho || !h[1].At.Equal(later) {
		t.Errorf("history = %+v, want resolve by alice then reopen by %s at %v", h, store.SystemWho, later)
	}
	if h, _ := s.AlertHistory(ctx, a2.ID); len(h) != 1 {
		t.Errorf("acknowledged alert's history = %+v, want the ack alone", h)
	}
}

// testAlertStateFilter: AlertQuery.State, Kinds and IDs select.
func testAlertStateFilter(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	g3 := alert("g3", t0)
	g3.Kind = "reboot"
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0)}, store.AlertUpsert{Alert: alert("g2", t0)},
		store.AlertUpsert{Alert: g3})
	a1 := alertByGroup(t, s, "g1")
	transition(t, s, []int64{a1.ID}, store.Transition{Action: store.ActionAck, Who: "alice"})
	groups := func(q store.AlertQuery) []string {
		var out []string
		for _, a := range alerts(t, s, q) {
			out = append(out, a.GroupID)
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		q    store.AlertQuery
		want []string
	}{
		{store.AlertQuery{State: store.StateAcknowledged}, []string{"g1"}},
		{store.AlertQuery{State: store.StateOpen}, []string{"g2", "g3"}},
		{store.AlertQuery{State: store.StateResolved}, nil},
		{store.AlertQuery{Kinds: []string{"reboot", "nothing"}}, []string{"g3"}},
		{store.AlertQuery{Kinds: []string{"reboot", "auth_failure"}, State: store.StateOpen}, []string{"g2", "g3"}},
		{store.AlertQuery{IDs: []int64{a1.ID}}, []string{"g1"}},
	} {
		if got := groups(c.q); !slices.Equal(got, c.want) {
			t.Errorf("Alerts(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
}

var oncall = store.EscalationRule{After: 15 * time.Minute, MinSeverity: store.SeverityWarning, Sink: "oncall"}

func escalate(t *testing.T, s store.TriageStore, r store.EscalationRule, now time.Time) int {
	t.Helper()
	n, err := s.Escalate(ctx, r, now)
	if err != nil {
		t.Fatalf("Escalate(%s, %v): %v", r.Key(), now, err)
	}
	return n
}

// testEscalate: an open alert of the rule's severity is escalated once
// After its opening, not before, not below the severity, never twice
// (another round, another handle); the escalation is a delivery of its
// own, beside the alert's ordinary delivery to the same sink, and is
// finished on its own.
func testEscalate(t *testing.T, fa Factory) {
	s, _, reopen := newStore(t, fa)
	info := alert("g-info", t0)
	info.Severity = store.SeverityInfo
	// Created at t0 (the save's Now).
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0), Sinks: []string{"oncall"}}, store.AlertUpsert{Alert: info})
	if n := escalate(t, s, oncall, t0.Add(time.Minute)); n != 0 {
		t.Errorf("escalated %d a minute after opening", n)
	}
	// A second alert that opens later.
	save(t, s, t0.Add(10*time.Minute), nil, store.AlertUpsert{Alert: alert("g2", t0.Add(10*time.Minute))})
	at := t0.Add(15 * time.Minute)
	if n := escalate(t, s, oncall, at); n != 1 {
		t.Fatalf("escalated %d at 15m, want 1 (g1)", n)
	}
	if n := escalate(t, s, oncall, at.Add(time.Second)); n != 0 {
		t.Errorf("escalated %d again", n)
	}
	ds := due(t, s, "oncall", at)
	var esc, plain []store.Delivery
	for _, d := range ds {
		if d.Escalation {
			esc = append(esc, d)
		} else {
			plain = append(plain, d)
		}
	}
	if len(esc) != 1 || esc[0].Alert.GroupID != "g1" || esc[0].State != store.DeliveryPending || !esc[0].NextAttempt.Equal(at) {
		t.Fatalf("due escalations = %+v, want g1 pending at %v", esc, at)
	}
	if len(plain) != 1 || plain[0].Alert.GroupID != "g1" {
		t.Errorf("due ordinary deliveries = %+v, want g1's", plain)
	}
	if p, _ := s.PendingDeliveries(ctx); p["oncall"] != 2 {
		t.Errorf("PendingDeliveries = %v, want oncall 2", p)
	}
	e := esc[0]
	e.State, e.Attempts, e.Delivered = store.DeliveryDelivered, 1, at
	if err := s.FinishDelivery(ctx, e); err != nil {
		t.Fatal(err)
	}
	ds = due(t, s, "oncall", at.Add(time.Hour))
	if len(ds) != 1 || ds[0].Escalation {
		t.Errorf("after the escalation was delivered, due = %+v, want the ordinary delivery alone", ds)
	}
	// g2 becomes due at 25m; a restarted store escalates it once.
	s2 := reopen(t)
	defer closeOnce(t, s2)()
	if n := escalate(t, s2, oncall, t0.Add(25*time.Minute)); n != 1 {
		t.Errorf("escalated %d at 25m, want 1 (g2)", n)
	}
	if n := escalate(t, s, oncall, t0.Add(26*time.Minute)); n != 0 {
		t.Errorf("escalated %d again at 26m", n)
	}
	if _, err := s.Escalate(ctx, store.EscalationRule{After: time.Minute, MinSeverity: "loud", Sink: "x"}, at); err == nil {
		t.Error("Escalate with an unknown severity succeeded")
	}
}

// testEscalateStopsOnAck: an alert acknowledged (or resolved) before
// After is not escalated; one acknowledged after its escalation was
// queued but before it went out is not delivered.
func testEscalateStopsOnAck(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0)}, store.AlertUpsert{Alert: alert("g2", t0)},
		store.AlertUpsert{Alert: alert("g3", t0)})
	a1, a2, a3 := alertByGroup(t, s, "g1"), alertByGroup(t, s, "g2"), alertByGroup(t, s, "g3")
	escalate(t, s, oncall, t0.Add(time.Minute)) // the rule is known before anything is due
	transition(t, s, []int64{a1.ID}, store.Transition{Action: store.ActionAck, Who: "alice"})
	transition(t, s, []int64{a2.ID}, store.Transition{Action: store.ActionResolve, Who: "alice"})
	at := t0.Add(20 * time.Minute)
	if n := escalate(t, s, oncall, at); n != 1 {
		t.Fatalf("escalated %d, want 1 (g3)", n)
	}
	if ds := due(t, s, "oncall", at); len(ds) != 1 || ds[0].AlertID != a3.ID || !ds[0].Escalation {
		t.Fatalf("due = %+v, want g3's escalation", ds)
	}
	transition(t, s, []int64{a3.ID}, store.Transition{Action: store.ActionAck, Who: "bob"})
	if ds := due(t, s, "oncall", at.Add(time.Hour)); len(ds) != 0 {
		t.Errorf("an escalation acknowledged before it went out is still due: %+v", ds)
	}
	if p, _ := s.PendingDeliveries(ctx); p["oncall"] != 0 {
		t.Errorf("PendingDeliveries = %v, want none to oncall", p)
	}
}

// testEscalateNewRule: a rule first run when alerts are already overdue
// does not page for them, but does for one that becomes due later.
func testEscalateNewRule(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("old", t0)})
	save(t, s, t0.Add(time.Hour), nil, store.AlertUpsert{Alert: alert("new", t0.Add(time.Hour))})
	if n := escalate(t, s, oncall, t0.Add(time.Hour+time.Minute)); n != 0 {
		t.Errorf("a new rule escalated %d overdue alerts", n)
	}
	if n := escalate(t, s, oncall, t0.Add(time.Hour+15*time.Minute)); n != 1 {
		t.Errorf("escalated %d when the new alert became due, want 1", n)
	}
}

// testEscalateConcurrent: two handles on one database (two collectors, a
// leader and one that has just lost leadership) run escalation rounds at
// the same time; every due alert is escalated exactly once.
func testEscalateConcurrent(t *testing.T, fa Factory) {
	s, _, reopen := newStore(t, fa)
	s2 := reopen(t)
	defer closeOnce(t, s2)()
	escalate(t, s, oncall, t0) // the rule is known before anything is due
	var ups []store.AlertUpsert
	for i := range 40 {
		ups = append(ups, store.AlertUpsert{Alert: alert(fmt.Sprintf("g%d", i), t0)})
	}
	save(t, s, t0.Add(time.Second), nil, ups...)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for _, st := range []store.Store{s, s2, s, s2} {
		wg.Go(func() {
			for i := range 5 {
				n, err := st.Escalate(ctx, oncall, t0.Add(time.Hour+time.Duration(i)*time.Second))
				if err != nil {
					t.Errorf("Escalate: %v", err)
					return
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if total != 40 {
		t.Errorf("concurrent rounds queued %d escalations, want 40", total)
	}
	esc := 0
	for _, d := range due(t, s, "oncall", t0.Add(2*time.Hour)) {
		if d.Escalation {
			esc++
		}
	}
	if esc != 40 {
		t.Errorf("%d escalations due, want 40", esc)
	}
}

// testEscalateBacklog: a backlog larger than one round's batch is
// escalated whole by one call.
func testEscalateBacklog(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	escalate(t, s, oncall, t0)
	const n = 1234
	var ups []store.AlertUpsert
	for i := range n {
		ups = append(ups, store.AlertUpsert{Alert: alert(fmt.Sprintf("g%d", i), t0)})
	}
	save(t, s, t0.Add(time.Second), nil, ups...)
	if got := escalate(t, s, oncall, t0.Add(time.Hour)); got != n {
		t.Errorf("escalated %d of a backlog of %d", got, n)
	}
	if got := escalate(t, s, oncall, t0.Add(2*time.Hour)); got != 0 {
		t.Errorf("escalated %d again", got)
	}
}
