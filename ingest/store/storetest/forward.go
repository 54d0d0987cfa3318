// Forward sinks' cursors, their backlog, and alerts by id.

package storetest

import (
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests,
		test{"ForwardCursor", testForwardCursor},
		test{"AlertsAfter", testAlertsAfter},
	)
}

// testForwardCursor: a sink's cursor is zero until saved, survives a
// reopen, is kept per sink, and the backlog counts what is past it.
func testForwardCursor(t *testing.T, fa Factory) {
	s, _, reopen := newStore(t, fa)
	if c, err := s.ForwardCursor(ctx, "siem"); err != nil || c.BatchRow != 0 || c.Index != 0 || c.AlertID != 0 || c.Sink != "siem" {
		t.Fatalf("cursor of a new sink = %+v, %v; want zero", c, err)
	}
	if b, err := s.ForwardBacklog(ctx, store.ForwardCursor{}); err != nil || b.Batches != 0 || b.Records != 0 || !b.Oldest.IsZero() {
		t.Fatalf("backlog of an empty store = %+v, %v", b, err)
	}
	d := batchtest.NewDevice("d1")
	f := batchtest.NewFile("file:/var/log/syslog", 1, 2)
	commit(t, s, d, d.Next(f.Lines(3, 20)...), 0)
	commit(t, s, d, d.Next(f.Lines(4, 20)...), 1)
	all, err := s.BatchesAfter(ctx, 0, 0)
	if err != nil || len(all) != 2 {
		t.Fatalf("BatchesAfter = %d, %v", len(all), err)
	}
	b, err := s.ForwardBacklog(ctx, store.ForwardCursor{})
	if err != nil || b.Batches != 2 || b.Records != 7 || !b.Oldest.Equal(all[0].Received) {
		t.Fatalf("backlog from the start = %+v, %v; want 2 batches, 7 records, oldest %v", b, err, all[0].Received)
	}
	if b, err = s.ForwardBacklog(ctx, store.ForwardCursor{BatchRow: all[1].Row, Index: 1}); err != nil || b.Batches != 1 || b.Records != 3 ||
		!b.Oldest.Equal(all[1].Received) {
		t.Fatalf("backlog from the second batch's record 1 = %+v, %v; want 1 batch, 3 records", b, err)
	}
	if b, err = s.ForwardBacklog(ctx, store.ForwardCursor{BatchRow: all[1].Row + 1}); err != nil || b.Batches != 0 || b.Records != 0 {
		t.Fatalf("backlog past the end = %+v, %v", b, err)
	}

	want := store.ForwardCursor{Sink: "siem", BatchRow: all[1].Row, Index: 2, AlertID: 5}
	if err := s.SaveForwardCursor(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveForwardCursor(ctx, store.ForwardCursor{Sink: "es", BatchRow: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveForwardCursor(ctx, store.ForwardCursor{}); err == nil {
		t.Error("a cursor without a sink name was saved")
	}
	s2 := reopen(t)
	defer closeOnce(t, s2)()
	got, err := s2.ForwardCursor(ctx, "siem")
	if err != nil || got.BatchRow != want.BatchRow || got.Index != want.Index || got.AlertID != want.AlertID || got.Updated.IsZero() {
		t.Fatalf("cursor after reopen = %+v, %v; want %+v with Updated set", got, err, want)
	}
	// A later save replaces it.
	want.BatchRow, want.Index = all[1].Row+1, 0
	if err := s2.SaveForwardCursor(ctx, want); err != nil {
		t.Fatal(err)
	}
	cs, err := s2.ForwardCursors(ctx)
	if err != nil || len(cs) != 2 || cs[0].Sink != "es" || cs[1].Sink != "siem" || cs[1].BatchRow != want.BatchRow || cs[1].Index != 0 {
		t.Fatalf("ForwardCursors = %+v, %v; want es then siem at row %d", cs, err, want.BatchRow)
	}
}

// testAlertsAfter: alerts past an id, by id, at most limit; an upsert of
// a stored alert keeps its id.
func testAlertsAfter(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	t0 := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	for _, g := range []string{"g1", "g2", "g3", "g1"} {
		if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: alert(g, t0)}}}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AlertsAfter(ctx, 0, 0)
	if err != nil || len(all) != 3 || all[0].GroupID != "g1" || all[1].GroupID != "g2" || all[2].GroupID != "g3" {
		t.Fatalf("AlertsAfter(0) = %+v, %v; want g1, g2, g3", all, err)
	}
	page, err := s.AlertsAfter(ctx, all[0].ID, 1)
	if err != nil || len(page) != 1 || page[0].ID != all[1].ID || page[0].Kind != all[1].Kind {
		t.Fatalf("AlertsAfter(first, 1) = %+v, %v", page, err)
	}
	if rest, err := s.AlertsAfter(ctx, all[2].ID, 5); err != nil || len(rest) != 0 {
		t.Fatalf("AlertsAfter(last) = %+v, %v", rest, err)
	}
}
