package storetest

// Alert deliveries: queued with an alert, due, finished, queued again.

import (
	"slices"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func due(t *testing.T, s store.AlertStore, sink string, now time.Time) []store.Delivery {
	t.Helper()
	ds, err := s.DueDeliveries(ctx, sink, now, 0)
	if err != nil {
		t.Fatalf("DueDeliveries(%s): %v", sink, err)
	}
	return ds
}

// testDeliveries: a queued delivery is due at once, is not due after it
// is delivered, waits for its next attempt after a failure, and a
// re-notified alert is pending again with its attempts kept.
func testDeliveries(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
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

// testDueDeliveriesOrderAndLimit: oldest due first, ties by alert, at
// most limit.
func testDueDeliveriesOrderAndLimit(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
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

// testRequeuedDuringAttemptStaysPending: an alert queued again (it
// escalated) while an attempt to deliver its older version was under way
// stays pending when that attempt reports success: the newer version
// still goes out.
func testRequeuedDuringAttemptStaysPending(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
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
