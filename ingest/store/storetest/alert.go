package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests,
		test{"SaveAlertsUpsert", testSaveAlertsUpsert},
		test{"Deliveries", testDeliveries},
		test{"DueDeliveriesOrderAndLimit", testDueDeliveriesOrderAndLimit},
		test{"DetectCursorAndStates", testDetectCursorAndStates},
		test{"SaveAlertsFrom", testSaveAlertsFrom},
		test{"AlertFilters", testAlertFilters},
		test{"AlertsByReceivedTime", testAlertsByReceivedTime},
		test{"BatchesAfter", testBatchesAfter},
		test{"EventsAfter", testEventsAfter},
		test{"Accesses", testAccesses},
		test{"Record", testRecord},
		test{"RequeuedDuringAttemptStaysPending", testRequeuedDuringAttemptStaysPending},
	)
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// alert is an alert whose device clock agrees with the collector's.
func alert(group string, last time.Time) store.Alert {
	return store.Alert{GroupID: group, Kind: "auth_failure", Severity: store.SeverityWarning, Device: "router-1",
		Key: "root", Summary: "failed logins for root", First: last.Add(-time.Minute), Last: last, Count: 1,
		FirstReceived: last.Add(-time.Minute), LastReceived: last}
}

func save(t *testing.T, s store.AlertStore, now time.Time, cur *store.Cursor, ups ...store.AlertUpsert) {
	t.Helper()
	if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: ups, Cursor: cur, Now: now}); err != nil {
		t.Fatalf("SaveAlerts: %v", err)
	}
}

func alerts(t *testing.T, s store.AlertStore, q store.AlertQuery) []store.Alert {
	t.Helper()
	as, err := s.Alerts(ctx, q)
	if err != nil {
		t.Fatalf("Alerts(%+v): %v", q, err)
	}
	return as
}

func groups(as []store.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.GroupID)
	}
	return out
}

// testSaveAlertsUpsert: a second upsert of a group keeps the alert's ID
// and Created and replaces every other column.
func testSaveAlertsUpsert(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	a := alert("g1", t0)
	a.Fields = map[string]string{"user": "root"}
	a.Evidence = []store.AlertRef{{Device: "router-1", Seq: 3, Index: 7}}
	save(t, s, t0.Add(time.Second), nil, store.AlertUpsert{Alert: a})

	got := alerts(t, s, store.AlertQuery{})
	if len(got) != 1 || got[0].ID == 0 || !got[0].Created.Equal(t0.Add(time.Second)) || got[0].Labels == nil ||
		len(got[0].Labels) != 0 || !slices.Equal(got[0].Evidence, a.Evidence) || got[0].Fields["user"] != "root" {
		t.Fatalf("after first save: %+v", got)
	}
	id := got[0].ID

	b := a
	b.Kind, b.Severity, b.Device, b.Key, b.Summary = "auth_burst", store.SeverityCritical, "router-2", "admin", "burst"
	b.Fields = nil
	b.Labels = map[string]string{"site": "lab"}
	b.Evidence = append(a.Evidence, store.AlertRef{Device: "router-2", Seq: 9, Index: -1})
	b.Last, b.Count = t0.Add(time.Hour), 5
	later := t0.Add(2 * time.Hour)
	save(t, s, later, nil, store.AlertUpsert{Alert: b})

	got = alerts(t, s, store.AlertQuery{})
	want := b
	want.ID, want.Fields, want.Created, want.Updated = id, map[string]string{}, t0.Add(time.Second), later
	if len(got) != 1 {
		t.Fatalf("after second save: %d alerts, want 1", len(got))
	}
	g := got[0]
	if g.ID != want.ID || g.GroupID != want.GroupID || g.Kind != want.Kind || g.Severity != want.Severity ||
		g.Device != want.Device || g.Key != want.Key || g.Summary != want.Summary || g.Count != want.Count ||
		!g.First.Equal(want.First) || !g.Last.Equal(want.Last) || !g.Created.Equal(want.Created) ||
		!g.Updated.Equal(want.Updated) || len(g.Fields) != 0 || g.Labels["site"] != "lab" ||
		!slices.Equal(g.Evidence, want.Evidence) || g.Last.Location() != time.UTC {
		t.Errorf("after second save:\n got %+v\nwant %+v", g, want)
	}

	if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: store.Alert{Kind: "x"}}}}); err == nil {
		t.Error("an alert without a group id was saved")
	}

	// Without AlertSave.Now the store's clock dates the upsert.
	if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: alert("g2", t0)}}}); err != nil {
		t.Fatal(err)
	}
	if got := alerts(t, s, store.AlertQuery{Kind: "auth_failure"}); len(got) != 1 || got[0].Created.IsZero() || !got[0].Created.Equal(got[0].Updated) {
		t.Errorf("alert saved without Now: %+v", got)
	}
}

// testDetectCursorAndStates: the cursor is zero before any save; moved
// with the alerts in the same call; left alone when the save carries no
// cursor. Each named device's state is replaced, the others kept.
func testDetectCursorAndStates(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	if c, err := s.DetectCursor(ctx); err != nil || c != (store.Cursor{}) {
		t.Errorf("DetectCursor of a new store = %+v, %v", c, err)
	}
	// The store counts the saves that set the cursor; the caller's Saves
	// is ignored.
	want := store.Cursor{BatchRow: 3, EventID: 2, AccessID: 1}
	save(t, s, t0, &store.Cursor{BatchRow: 3, EventID: 2, AccessID: 1, Saves: 77}, store.AlertUpsert{Alert: alert("g1", t0), Sinks: []string{"mail"}})
	want.Saves = 1
	if c, err := s.DetectCursor(ctx); err != nil || c != want {
		t.Errorf("DetectCursor = %+v, %v; want %+v", c, err, want)
	}
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g2", t0)})
	if c, _ := s.DetectCursor(ctx); c != want {
		t.Errorf("a save without a cursor moved it to %+v", c)
	}
	want = store.Cursor{BatchRow: 10, EventID: 20, AccessID: 30}
	save(t, s, t0, &want)
	want.Saves = 2
	if c, _ := s.DetectCursor(ctx); c != want {
		t.Errorf("cursor-only save: %+v, want %+v", c, want)
	}
	save(t, s, t0, &want) // the same place again: still a save
	if want.Saves = 3; func() store.Cursor { c, _ := s.DetectCursor(ctx); return c }() != want {
		t.Errorf("saving the same cursor again did not count")
	}

	if st, err := s.DetectStates(ctx); err != nil || len(st) != 0 {
		t.Errorf("DetectStates before any = %v, %v", st, err)
	}
	if err := s.SaveAlerts(ctx, store.AlertSave{Now: t0, States: map[string][]byte{"r1": []byte("a1"), "r2": []byte("b1")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlerts(ctx, store.AlertSave{Now: t0, States: map[string][]byte{"r1": []byte("a2"), "": {}}}); err != nil {
		t.Fatal(err)
	}
	st, err := s.DetectStates(ctx)
	if err != nil || len(st) != 3 || string(st["r1"]) != "a2" || string(st["r2"]) != "b1" || len(st[""]) != 0 {
		t.Errorf("DetectStates = %q, %v; want r1 a2, r2 b1, \"\" empty", st, err)
	}
}

// testSaveAlertsFrom: a save fenced by From is refused with
// ErrCursorMoved, and saves nothing, unless the stored cursor equals From;
// before any save the stored cursor is the zero cursor.
func testSaveAlertsFrom(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	first := store.Cursor{BatchRow: 5, EventID: 6, AccessID: 7}
	if err := s.SaveAlerts(ctx, store.AlertSave{From: &store.Cursor{}, Cursor: &first, Now: t0,
		Alerts: []store.AlertUpsert{{Alert: alert("g1", t0), Sinks: []string{"mail"}}},
		States: map[string][]byte{"r1": []byte("s1")}}); err != nil {
		t.Fatalf("save from the zero cursor of a new store: %v", err)
	}
	first.Saves = 1
	if c, _ := s.DetectCursor(ctx); c != first {
		t.Fatalf("cursor = %+v, want %+v", c, first)
	}

	// A detection that read another cursor (it lost its leadership and
	// someone else saved since) saves nothing.
	for name, from := range map[string]store.Cursor{
		"zero":       {},
		"behind":     {BatchRow: 4, EventID: 6, AccessID: 7},
		"ahead":      {BatchRow: 5, EventID: 6, AccessID: 8},
		"event only": {BatchRow: 5, EventID: 1, AccessID: 7, Saves: 1},
		// Same place, an older save: another detection saved since,
		// without moving (a timer round on a quiet fleet).
		"saves": {BatchRow: 5, EventID: 6, AccessID: 7},
	} {
		later := t0.Add(time.Hour)
		err := s.SaveAlerts(ctx, store.AlertSave{From: &from, Cursor: &store.Cursor{BatchRow: 100, EventID: 100, AccessID: 100}, Now: later,
			Alerts: []store.AlertUpsert{
				{Alert: alert("g1", later), Sinks: []string{"hook"}}, // would update g1 and queue it to hook
				{Alert: alert("g-"+name, later), Sinks: []string{"mail"}},
			},
			States: map[string][]byte{"r1": []byte("lost"), "r9": []byte("lost")}})
		if !errors.Is(err, store.ErrCursorMoved) {
			t.Errorf("%s: SaveAlerts from %+v: err = %v, want ErrCursorMoved", name, from, err)
		}
	}
	if c, _ := s.DetectCursor(ctx); c != first {
		t.Errorf("refused saves moved the cursor to %+v", c)
	}
	if got := alerts(t, s, store.AlertQuery{}); len(got) != 1 || got[0].GroupID != "g1" || !got[0].Last.Equal(t0) || !got[0].Updated.Equal(t0) {
		t.Errorf("refused saves changed the alerts: %+v", got)
	}
	if st, _ := s.DetectStates(ctx); len(st) != 1 || string(st["r1"]) != "s1" {
		t.Errorf("refused saves changed the states: %q", st)
	}
	if p, _ := s.PendingDeliveries(ctx); p["mail"] != 1 || p["hook"] != 0 {
		t.Errorf("refused saves queued deliveries: %v", p)
	}

	// The cursor it read: saved.
	next := store.Cursor{BatchRow: 9, EventID: 9, AccessID: 9}
	if err := s.SaveAlerts(ctx, store.AlertSave{From: &first, Cursor: &next, Now: t0.Add(time.Minute),
		Alerts: []store.AlertUpsert{{Alert: alert("g2", t0)}}}); err != nil {
		t.Fatalf("save from the stored cursor: %v", err)
	}
	next.Saves = 2
	if c, _ := s.DetectCursor(ctx); c != next {
		t.Errorf("cursor = %+v, want %+v", c, next)
	}
	if got := groups(alerts(t, s, store.AlertQuery{})); len(got) != 2 || !slices.Contains(got, "g2") {
		t.Errorf("alerts after the fenced save: %v", got)
	}
	// From the stored cursor without a new one: saved, the cursor stays.
	if err := s.SaveAlerts(ctx, store.AlertSave{From: &next, Now: t0, States: map[string][]byte{"r2": []byte("s2")}}); err != nil {
		t.Fatalf("save from the stored cursor, no new cursor: %v", err)
	}
	if c, _ := s.DetectCursor(ctx); c != next {
		t.Errorf("a save without a cursor moved it to %+v", c)
	}
	if st, _ := s.DetectStates(ctx); string(st["r2"]) != "s2" {
		t.Errorf("state of r2 = %q, want s2", st["r2"])
	}
	// The old cursor is stale now.
	if err := s.SaveAlerts(ctx, store.AlertSave{From: &first, Cursor: &first, Now: t0}); !errors.Is(err, store.ErrCursorMoved) {
		t.Errorf("save from a stale cursor: err = %v, want ErrCursorMoved", err)
	}
	if c, _ := s.DetectCursor(ctx); c != next {
		t.Errorf("a stale save moved the cursor to %+v", c)
	}
	// Two detections that read the same cursor and save it unmoved: the
	// first counts a save, so the second is refused.
	for i, want := range []error{nil, store.ErrCursorMoved} {
		from := next
		if err := s.SaveAlerts(ctx, store.AlertSave{From: &from, Cursor: &from, Now: t0}); !errors.Is(err, want) {
			t.Errorf("save %d of the same cursor read: err = %v, want %v", i+1, err, want)
		}
	}
}

// testAlertFilters: each filter alone and together, newest first.
func testAlertFilters(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	mk := func(group, kind, sev, device string, last time.Time, labels map[string]string) store.AlertUpsert {
		a := alert(group, last)
		a.Kind, a.Severity, a.Device, a.Labels = kind, sev, device, labels
		return store.AlertUpsert{Alert: a}
	}
	save(t, s, t0, nil,
		mk("a", "auth", store.SeverityInfo, "r1", t0, map[string]string{"site": "lab"}),
		mk("b", "auth", store.SeverityWarning, "r2", t0.Add(time.Minute), map[string]string{"site": "lab", `we"ird.key`: "v"}),
		mk("c", "disk", store.SeverityCritical, "r1", t0.Add(2*time.Minute), map[string]string{"site": "prod", "we": "v"}),
		mk("d", "log_access", store.SeverityInfo, "", t0.Add(3*time.Minute), nil),
	)
	tests := map[string]struct {
		q    store.AlertQuery
		want []string
	}{
		"all":              {store.AlertQuery{}, []string{"d", "c", "b", "a"}},
		"device":           {store.AlertQuery{Device: "r1"}, []string{"c", "a"}},
		"kind":             {store.AlertQuery{Kind: "auth"}, []string{"b", "a"}},
		"severity info":    {store.AlertQuery{Severity: store.SeverityInfo}, []string{"d", "c", "b", "a"}},
		"severity warning": {store.AlertQuery{Severity: store.SeverityWarning}, []string{"c", "b"}},
		"severity crit":    {store.AlertQuery{Severity: store.SeverityCritical}, []string{"c"}},
		"label":            {store.AlertQuery{Labels: map[string]string{"site": "lab"}}, []string{"b", "a"}},
		"labels all match": {store.AlertQuery{Labels: map[string]string{"site": "lab", `we"ird.key`: "v"}}, []string{"b"}},
		"label quote dot":  {store.AlertQuery{Labels: map[string]string{`we"ird.key`: "v"}}, []string{"b"}},
		"label prefix":     {store.AlertQuery{Labels: map[string]string{`we`: "v"}}, []string{"c"}},
		"label injection":  {store.AlertQuery{Labels: map[string]string{`site' OR 1=1 --`: "lab"}}, nil},
		"label no value":   {store.AlertQuery{Labels: map[string]string{"site": "nowhere"}}, nil},
		"since":            {store.AlertQuery{Since: t0.Add(time.Minute)}, []string{"d", "c", "b"}},
		"until":            {store.AlertQuery{Until: t0.Add(time.Minute)}, []string{"a"}},
		"since until":      {store.AlertQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"c", "b"}},
		"limit":            {store.AlertQuery{Limit: 2}, []string{"d", "c"}},
		"together":         {store.AlertQuery{Device: "r1", Severity: store.SeverityWarning, Labels: map[string]string{"site": "prod"}}, []string{"c"}},
		"collector":        {store.AlertQuery{Kind: "log_access"}, []string{"d"}},
	}
	for name, tt := range tests {
		if got := groups(alerts(t, s, tt.q)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", name, got, tt.want)
		}
	}
	if _, err := s.Alerts(ctx, store.AlertQuery{Severity: "urgent"}); err == nil {
		t.Error("unknown severity accepted")
	}
	if _, err := s.Alerts(ctx, store.AlertQuery{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

// testAlertsByReceivedTime: lists, time windows and order follow the
// collector's receive time, not the device's. A device whose clock says
// 2076 (or 1970) neither pushes another device's newer alert down the
// list nor stays in "the last hour" for 50 years, and the device times
// are kept beside the receive times as given.
func testAlertsByReceivedTime(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	mk := func(group, device string, deviceLast, received time.Time) store.AlertUpsert {
		a := alert(group, deviceLast)
		a.Device, a.FirstReceived, a.LastReceived = device, received.Add(-time.Second), received
		return store.AlertUpsert{Alert: a}
	}
	future, past := t0.AddDate(50, 0, 0), time.Unix(0, 1).UTC()
	save(t, s, t0.Add(10*time.Minute), nil,
		mk("liar-ahead", "liar", future, t0),
		mk("honest", "honest", t0.Add(5*time.Minute), t0.Add(5*time.Minute)),
		mk("liar-behind", "liar", past, t0.Add(7*time.Minute)),
	)
	// Saved without receive times: the save's Now stands in for them.
	unset := alert("unset", future)
	unset.FirstReceived, unset.LastReceived = time.Time{}, time.Time{}
	save(t, s, t0.Add(-time.Hour), nil, store.AlertUpsert{Alert: unset})

	tests := map[string]struct {
		q    store.AlertQuery
		want []string
	}{
		"newest received first":           {store.AlertQuery{}, []string{"liar-behind", "honest", "liar-ahead", "unset"}},
		"limit keeps the newest received": {store.AlertQuery{Limit: 1}, []string{"liar-behind"}},
		"since":                           {store.AlertQuery{Since: t0.Add(time.Minute)}, []string{"liar-behind", "honest"}},
		"until":                           {store.AlertQuery{Until: t0.Add(6 * time.Minute)}, []string{"honest", "liar-ahead", "unset"}},
		"last hour after 2 h":             {store.AlertQuery{Since: t0.Add(time.Hour)}, nil},
		"window by receive":               {store.AlertQuery{Since: t0.Add(-time.Minute), Until: t0.Add(time.Minute)}, []string{"liar-ahead"}},
	}
	for name, tt := range tests {
		if got := groups(alerts(t, s, tt.q)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", name, got, tt.want)
		}
	}
	byGroup := map[string]store.Alert{}
	for _, a := range alerts(t, s, store.AlertQuery{}) {
		byGroup[a.GroupID] = a
	}
	if a := byGroup["liar-ahead"]; !a.Last.Equal(future) || !a.LastReceived.Equal(t0) || !a.FirstReceived.Equal(t0.Add(-time.Second)) {
		t.Errorf("liar-ahead: Last %v LastReceived %v FirstReceived %v, want %v, %v, %v",
			a.Last, a.LastReceived, a.FirstReceived, future, t0, t0.Add(-time.Second))
	}
	if a := byGroup["liar-behind"]; !a.Last.Equal(past) {
		t.Errorf("liar-behind: Last %v, want %v", a.Last, past)
	}
	if a := byGroup["unset"]; !a.LastReceived.Equal(t0.Add(-time.Hour)) || !a.FirstReceived.Equal(t0.Add(-time.Hour)) {
		t.Errorf("saved without receive times: %v..%v, want the save's Now %v", a.FirstReceived, a.LastReceived, t0.Add(-time.Hour))
	}
}
