package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func alert(group string, last time.Time) store.Alert {
	return store.Alert{GroupID: group, Kind: "auth_failure", Severity: store.SeverityWarning, Device: "router-1",
		Key: "root", Summary: "failed logins for root", First: last.Add(-time.Minute), Last: last, Count: 1}
}

func save(t *testing.T, s *Store, now time.Time, cur *store.Cursor, ups ...store.AlertUpsert) {
	t.Helper()
	if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: ups, Cursor: cur, Now: now}); err != nil {
		t.Fatalf("SaveAlerts: %v", err)
	}
}

func alerts(t *testing.T, s *Store, q store.AlertQuery) []store.Alert {
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

func due(t *testing.T, s *Store, sink string, now time.Time) []store.Delivery {
	t.Helper()
	ds, err := s.DueDeliveries(ctx, sink, now, 0)
	if err != nil {
		t.Fatalf("DueDeliveries(%s): %v", sink, err)
	}
	return ds
}

// TestSaveAlertsUpsert: a second upsert of a group keeps the alert's ID
// and Created and replaces every other column.
func TestSaveAlertsUpsert(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
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

// TestDeliveries: a queued delivery is due at once, is not due after it
// is delivered, waits for its next attempt after a failure, and a
// re-notified alert is pending again with its attempts kept.
func TestDeliveries(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	save(t, s, t0, nil,
		store.AlertUpsert{Alert: alert("g1", t0), Sinks: []string{"mail", "hook"}},
		store.AlertUpsert{Alert: alert("g2", t0)}) // stored only

	if ds := due(t, s, "mail", t0.Add(-time.Second)); len(ds) != 0 {
		t.Errorf("due before it was queued: %+v", ds)
	}
	ds := due(t, s, "mail", t0)
	if len(ds) != 1 || ds[0].Alert.GroupID != "g1" || ds[0].AlertID != ds[0].Alert.ID || ds[0].Sink != "mail" ||
		ds[0].State != store.DeliveryPending || ds[0].Attempts != 0 || !ds[0].NextAttempt.Equal(t0) || !ds[0].Delivered.IsZero() {
		t.Fatalf("due to mail = %+v, want g1 pending", ds)
	}
	if p, err := s.PendingDeliveries(ctx); err != nil || p["mail"] != 1 || p["hook"] != 1 || len(p) != 2 {
		t.Errorf("PendingDeliveries = %v, %v; want mail 1, hook 1", p, err)
	}

	d := ds[0]
	d.State, d.Attempts, d.Delivered = store.DeliveryDelivered, 1, t0.Add(time.Second)
	if err := s.FinishDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	if ds := due(t, s, "mail", t0.Add(time.Hour)); len(ds) != 0 {
		t.Errorf("delivered alert still due: %+v", ds)
	}
	if p, _ := s.PendingDeliveries(ctx); p["mail"] != 0 || p["hook"] != 1 {
		t.Errorf("PendingDeliveries after delivery = %v", p)
	}

	// A failed attempt to hook, retried in a minute.
	h := due(t, s, "hook", t0)[0]
	h.Attempts, h.LastError, h.NextAttempt = 1, "connection refused", t0.Add(time.Minute)
	if err := s.FinishDelivery(ctx, h); err != nil {
		t.Fatal(err)
	}
	if ds := due(t, s, "hook", t0.Add(59*time.Second)); len(ds) != 0 {
		t.Errorf("due before its next attempt: %+v", ds)
	}
	if ds := due(t, s, "hook", t0.Add(time.Minute)); len(ds) != 1 || ds[0].Attempts != 1 || ds[0].LastError != "connection refused" {
		t.Errorf("due at its next attempt = %+v", ds)
	}

	// Re-notify: both sinks due again now, attempts kept.
	again := t0.Add(2 * time.Hour)
	save(t, s, again, nil, store.AlertUpsert{Alert: alert("g1", again), Sinks: []string{"mail", "hook"}})
	for sink, attempts := range map[string]int{"mail": 1, "hook": 1} {
		ds := due(t, s, sink, again)
		if len(ds) != 1 || ds[0].State != store.DeliveryPending || ds[0].Attempts != attempts ||
			!ds[0].NextAttempt.Equal(again) || !ds[0].Delivered.IsZero() {
			t.Errorf("re-notified to %s = %+v, want pending with %d attempts", sink, ds, attempts)
		}
	}

	if err := s.FinishDelivery(ctx, store.Delivery{AlertID: 999, Sink: "mail", State: store.DeliveryDelivered}); err == nil {
		t.Error("FinishDelivery of a delivery never queued succeeded")
	}
}

// TestDueDeliveriesOrderAndLimit: oldest due first, ties by alert, at
// most limit.
func TestDueDeliveriesOrderAndLimit(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	save(t, s, t0.Add(time.Second), nil, store.AlertUpsert{Alert: alert("late", t0), Sinks: []string{"mail"}})
	save(t, s, t0, nil,
		store.AlertUpsert{Alert: alert("early-a", t0), Sinks: []string{"mail"}},
		store.AlertUpsert{Alert: alert("early-b", t0), Sinks: []string{"mail"}})
	ds := due(t, s, "mail", t0.Add(time.Hour))
	var got []string
	for _, d := range ds {
		got = append(got, d.Alert.GroupID)
	}
	if want := []string{"early-a", "early-b", "late"}; !slices.Equal(got, want) {
		t.Errorf("due order %v, want %v", got, want)
	}
	if ds, err := s.DueDeliveries(ctx, "mail", t0.Add(time.Hour), 2); err != nil || len(ds) != 2 {
		t.Errorf("limit 2: %d deliveries, %v", len(ds), err)
	}
}

// TestDetectCursor: zero before any save; moved with the alerts in the
// same call; left alone when the save carries no cursor.
func TestDetectCursor(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	if c, err := s.DetectCursor(ctx); err != nil || c != (store.Cursor{}) {
		t.Errorf("DetectCursor of a new store = %+v, %v", c, err)
	}
	want := store.Cursor{BatchRow: 3, EventID: 2, AccessID: 1}
	save(t, s, t0, &want, store.AlertUpsert{Alert: alert("g1", t0), Sinks: []string{"mail"}})
	if c, err := s.DetectCursor(ctx); err != nil || c != want {
		t.Errorf("DetectCursor = %+v, %v; want %+v", c, err, want)
	}
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g2", t0)})
	if c, _ := s.DetectCursor(ctx); c != want {
		t.Errorf("a save without a cursor moved it to %+v", c)
	}
	want = store.Cursor{BatchRow: 10, EventID: 20, AccessID: 30}
	save(t, s, t0, &want)
	if c, _ := s.DetectCursor(ctx); c != want {
		t.Errorf("cursor-only save: %+v, want %+v", c, want)
	}

	// States: each named device's state is replaced, the others kept.
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

	// One transaction: an alert that fails leaves the cursor, the states
	// and the alerts saved before it in the same call as they were.
	if _, err := s.write.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON alerts WHEN NEW.group_id = 'boom'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	before, _ := s.DetectCursor(ctx)
	err = s.SaveAlerts(ctx, store.AlertSave{Cursor: &store.Cursor{BatchRow: 1000}, Now: t0,
		States: map[string][]byte{"r1": []byte("lost")}, Alerts: []store.AlertUpsert{
			{Alert: alert("g5", t0), Sinks: []string{"mail"}},
			{Alert: alert("boom", t0)},
		}})
	if err == nil {
		t.Fatal("save with a refused alert succeeded")
	}
	if c, _ := s.DetectCursor(ctx); c != before {
		t.Errorf("failed save moved the cursor to %+v", c)
	}
	if st, _ := s.DetectStates(ctx); string(st["r1"]) != "a2" {
		t.Errorf("failed save replaced r1's state with %q", st["r1"])
	}
	if got := alerts(t, s, store.AlertQuery{}); slices.Contains(groups(got), "g5") {
		t.Errorf("failed save stored g5: %v", groups(got))
	}
}

// TestAlertFilters: each filter alone and together, newest first.
func TestAlertFilters(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
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

// TestAlertCorruptJSON: a stored alert whose JSON does not decode is an
// error that names the alert.
func TestAlertCorruptJSON(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0)})
	id := alerts(t, s, store.AlertQuery{})[0].ID
	if _, err := s.write.Exec(`UPDATE alerts SET labels = '{"site":' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	_, err := s.Alerts(ctx, store.AlertQuery{})
	if want := "alert " + strconv.FormatInt(id, 10) + " labels"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Alerts of a corrupt row: err = %v, want it to name %q", err, want)
	}
}

// TestBatchesAfter: batches of every device in commit order from a row
// on, at most limit, each complete like Batches yields it.
func TestBatchesAfter(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	d1, d2 := batchtest.NewDevice("d1"), batchtest.NewDevice("d2")
	f := batchtest.NewFile("file:/var/log/syslog", 1, 2)
	commit(t, s, d1, d1.Next(f.Lines(3, 20)...), 0)
	commit(t, s, d2, d2.Next(batchtest.Heartbeat(1)), 0)
	commit(t, s, d1, d1.Next(f.Lines(2, 20)...), 1)

	all, err := s.BatchesAfter(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range all {
		got = append(got, fmt.Sprintf("%s/%d", b.Device, b.Seq))
	}
	if want := []string{"d1/1", "d2/1", "d1/2"}; !slices.Equal(got, want) {
		t.Fatalf("BatchesAfter(0) = %v, want %v", got, want)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Row <= all[i-1].Row {
			t.Errorf("rows not increasing: %d then %d", all[i-1].Row, all[i].Row)
		}
	}

	// Each batch is the one Batches yields, Row included.
	var viaBatches []*store.StoredBatch
	for _, dev := range []string{"d1", "d2"} {
		for b, err := range s.Batches(ctx, dev) {
			if err != nil {
				t.Fatal(err)
			}
			viaBatches = append(viaBatches, b)
		}
	}
	for _, b := range all {
		i := slices.IndexFunc(viaBatches, func(o *store.StoredBatch) bool { return o.Row == b.Row })
		if i < 0 {
			t.Errorf("row %d not yielded by Batches", b.Row)
			continue
		}
		if o := viaBatches[i]; !reflect.DeepEqual(o, b) || len(b.Bytes) == 0 || len(b.Segments) == 0 || b.BootID == "" {
			t.Errorf("row %d: BatchesAfter gave %s seq %d with %d bytes, %d segments; Batches gave %s seq %d",
				b.Row, b.Device, b.Seq, len(b.Bytes), len(b.Segments), o.Device, o.Seq)
		}
	}

	page, err := s.BatchesAfter(ctx, all[0].Row, 1)
	if err != nil || len(page) != 1 || page[0].Row != all[1].Row {
		t.Errorf("BatchesAfter(row 1, limit 1) = %v, %v; want row %d", page, err, all[1].Row)
	}
	if rest, err := s.BatchesAfter(ctx, all[2].Row, 10); err != nil || len(rest) != 0 {
		t.Errorf("BatchesAfter(last) = %d batches, %v", len(rest), err)
	}
}

// TestEventsAfter: events of every device after an id, in id order, with
// device names and boot ids.
func TestEventsAfter(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	dev := batchtest.NewDevice("d")
	commit(t, s, dev, dev.Next(batchtest.Heartbeat(1)), 0,
		store.IntegrityEvent{Device: "d", Kind: store.EventChainRestart, Seq: 1, BootID: "boot-2"})
	for _, e := range []store.IntegrityEvent{
		{Device: "other", Kind: store.EventBadSignature, Seq: 4},
		{Device: "d", Kind: store.EventReplay, Seq: 1},
	} {
		if err := s.AddIntegrityEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.EventsAfter(ctx, 0, -5)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Device+":"+e.Kind+":"+e.BootID)
	}
	if want := []string{"d:chain_restart:boot-2", "other:bad_signature:", "d:replay:"}; !slices.Equal(got, want) {
		t.Fatalf("EventsAfter(0) = %v, want %v", got, want)
	}
	page, err := s.EventsAfter(ctx, evs[0].ID, 1)
	if err != nil || len(page) != 1 || page[0].ID != evs[1].ID {
		t.Errorf("EventsAfter(first, 1) = %+v, %v", page, err)
	}
	if all, _ := s.IntegrityEvents(ctx, store.EventQuery{Kind: store.EventChainRestart}); len(all) != 1 || all[0].BootID != "boot-2" {
		t.Errorf("IntegrityEvents BootID: %+v", all)
	}
}

// TestAccesses: accesses come back in id order with every field.
func TestAccesses(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	in := []store.Access{
		{Time: t0, Who: "alice", Via: "cli", What: "query --device r1"},
		{Time: t0.Add(time.Second), Who: "bob", Via: "api", Remote: "10.0.0.2:5555", What: "GET /v1/records"},
		{Who: "carol", Via: "cli", What: "alerts"}, // dated by the store
	}
	for _, a := range in {
		if err := s.RecordAccess(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.AccessesAfter(ctx, 0, 0)
	if err != nil || len(got) != 3 {
		t.Fatalf("AccessesAfter(0) = %+v, %v", got, err)
	}
	for i, a := range got {
		w := in[i]
		if a.ID == 0 || a.Who != w.Who || a.Via != w.Via || a.Remote != w.Remote || a.What != w.What ||
			(!w.Time.IsZero() && !a.Time.Equal(w.Time)) || a.Time.IsZero() {
			t.Errorf("access %d = %+v, want %+v", i, a, w)
		}
	}
	if page, err := s.AccessesAfter(ctx, got[0].ID, 1); err != nil || len(page) != 1 || page[0].Who != "bob" {
		t.Errorf("AccessesAfter(first, 1) = %+v, %v", page, err)
	}
}

// TestRecord: a stored record by (device, seq, index); anything not
// stored is ok=false, not an error.
func TestRecord(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/var/log/auth.log", 1, 2)
	lines := f.Lines(3, 40)
	commit(t, s, dev, dev.Next(lines...), 0)

	r, ok, err := s.Record(ctx, "d", 1, 2)
	if err != nil || !ok || r.Device != "d" || r.Seq != 1 || r.Index != 2 || r.Received.IsZero() ||
		string(r.GetBody()) != string(lines[2].Body) || r.GetTimeNs() != lines[2].TimeNs {
		t.Errorf("Record(d, 1, 2) = %+v, %v, %v", r, ok, err)
	}
	for name, q := range map[string]struct {
		dev   string
		seq   uint64
		index int
	}{
		"device":   {"nobody", 1, 0},
		"seq":      {"d", 2, 0},
		"huge seq": {"d", 1 << 63, 0},
		"index":    {"d", 1, 3},
		"negative": {"d", 1, -1},
	} {
		if _, ok, err := s.Record(ctx, q.dev, q.seq, q.index); ok || err != nil {
			t.Errorf("%s: Record(%s, %d, %d) = %v, %v; want not found", name, q.dev, q.seq, q.index, ok, err)
		}
	}
}

// TestAlertStoreReadOnly: a read-only store answers queries and refuses
// every write.
func TestAlertStoreReadOnly(t *testing.T) {
	t.Parallel()
	s, path := tempStore(t)
	save(t, s, t0, &store.Cursor{BatchRow: 1}, store.AlertUpsert{Alert: alert("g1", t0), Sinks: []string{"mail"}})
	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := alerts(t, ro, store.AlertQuery{}); len(got) != 1 {
		t.Errorf("read-only Alerts = %v", groups(got))
	}
	writes := map[string]error{
		"SaveAlerts":     ro.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: alert("g2", t0)}}}),
		"RecordAccess":   ro.RecordAccess(ctx, store.Access{Who: "x"}),
		"FinishDelivery": ro.FinishDelivery(ctx, store.Delivery{AlertID: 1, Sink: "mail", State: store.DeliveryDelivered}),
	}
	for name, err := range writes {
		if !errors.Is(err, errReadOnly) {
			t.Errorf("read-only %s: err = %v, want errReadOnly", name, err)
		}
	}
}

// TestMigrateFromV1: a database made by the first schema opens, keeps its
// batches and events, and reads the events with no boot id.
func TestMigrateFromV1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", dsn(path, Options{BusyTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	dev := batchtest.NewDevice("d")
	sealed := dev.Next(batchtest.Heartbeat(1))
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version (version) VALUES (1)`,
		migrations[0],
		`INSERT INTO devices (id, name, first_seen_ns, last_seen_ns, head_seq, head_hash) VALUES (1, 'd', 1, 1, 1, x'00')`,
		`INSERT INTO integrity_events (device_id, time_ns, kind, seq, detail) VALUES (1, 5, 'gap', 1, 'old')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO batches (device_id, seq, digest, prev_hash, key_id, signature, received_ns,
		sealed_ns, boot_id, session_id, record_count, dropped_records, dropped_bytes, bytes)
		VALUES (1, 1, ?, NULL, ?, ?, 7, 8, 'b', NULL, 1, 0, 0, ?)`, sealed.Digest[:], dev.KeyID, sealed.Sig, sealed.Bytes); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, path)
	defer s.Close()
	evs, err := s.IntegrityEvents(ctx, store.EventQuery{})
	if err != nil || len(evs) != 1 || evs[0].Detail != "old" || evs[0].BootID != "" || evs[0].Device != "d" {
		t.Errorf("migrated events = %+v, %v; want the old gap with BootID \"\"", evs, err)
	}
	if bs, err := s.BatchesAfter(ctx, 0, 10); err != nil || len(bs) != 1 || bs[0].Seq != 1 {
		t.Errorf("migrated batches = %v, %v", bs, err)
	}
	if _, ok, err := s.Record(ctx, "d", 1, 0); !ok || err != nil {
		t.Errorf("migrated Record = %v, %v", ok, err)
	}
	if c, err := s.DetectCursor(ctx); err != nil || c != (store.Cursor{}) {
		t.Errorf("migrated cursor = %+v, %v", c, err)
	}
	var v int
	if err := s.read.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Errorf("schema version %d, %v; want %d", v, err, schemaVersion)
	}
}

// An alert queued again (it escalated) while an attempt to deliver its
// older version was under way stays pending when that attempt reports
// success: the newer version still goes out.
func TestRequeuedDuringAttemptStaysPending(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0), Sinks: []string{"hook"}})
	d := due(t, s, "hook", t0)[0] // the attempt starts
	if !d.Queued.Equal(t0) {
		t.Fatalf("Queued = %v, want %v", d.Queued, t0)
	}
	escalated := alert("g1", t0)
	escalated.Severity = store.SeverityCritical
	save(t, s, t0.Add(time.Second), nil, store.AlertUpsert{Alert: escalated, Sinks: []string{"hook"}})
	d.State, d.Attempts, d.Delivered = store.DeliveryDelivered, 1, t0.Add(2*time.Second)
	if err := s.FinishDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	ds := due(t, s, "hook", t0.Add(3*time.Second))
	if len(ds) != 1 || ds[0].Alert.Severity != store.SeverityCritical {
		t.Fatalf("after the older version's attempt: due %+v, want the escalated alert still pending", ds)
	}
	// Its own attempt is recorded.
	ds[0].State, ds[0].Delivered = store.DeliveryDelivered, t0.Add(4*time.Second)
	if err := s.FinishDelivery(ctx, ds[0]); err != nil {
		t.Fatal(err)
	}
	if ds := due(t, s, "hook", t0.Add(time.Hour)); len(ds) != 0 {
		t.Errorf("still due after the newer version was delivered: %+v", ds)
	}
}
