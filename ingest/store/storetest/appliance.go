package storetest

import (
	"errors"

	"maps"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests, test{"Appliances", testAppliances}, test{"RecordsNameTheirRelay", testRecordsNameTheirRelay})
}

// testAppliances: an appliance is authorised for one relay at a time, the
// list survives a restart, and removal withdraws it.
func testAppliances(t *testing.T, fa Factory) {
	s, c, reopen := newStore(t, fa)
	added := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	fw1 := store.Appliance{Name: "fw1", Relay: "relay-a", Labels: map[string]string{"site": "hq", "role": "edge"}, Added: added, By: "alice"}
	if err := s.AddAppliance(ctx, fw1); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAppliance(ctx, store.Appliance{Name: "sw2", Relay: "relay-b", By: "bob"}); err != nil {
		t.Fatal(err)
	}
	// The name is taken, whichever relay asks: a name speaks through one relay.
	for _, relay := range []string{"relay-a", "relay-b"} {
		err := s.AddAppliance(ctx, store.Appliance{Name: "fw1", Relay: relay, By: "mallory"})
		if !errors.Is(err, store.ErrApplianceExists) {
			t.Errorf("fw1 added again for %s: err = %v, want ErrApplianceExists", relay, err)
		}
	}
	if err := s.AddAppliance(ctx, store.Appliance{Name: "x"}); err == nil {
		t.Error("an appliance without a relay was added")
	}

	s2 := reopen(t)
	defer closeOnce(t, s2)()
	got, ok, err := s2.Appliance(ctx, "fw1")
	if err != nil || !ok {
		t.Fatalf("Appliance(fw1) = %v, %v", ok, err)
	}
	if got.Name != "fw1" || got.Relay != "relay-a" || got.By != "alice" || !got.Added.Equal(added) || !maps.Equal(got.Labels, fw1.Labels) {
		t.Errorf("Appliance(fw1) = %+v, want %+v", got, fw1)
	}
	if _, ok, err := s2.Appliance(ctx, "fw9"); ok || err != nil {
		t.Errorf("Appliance(fw9) = %v, %v; want not found", ok, err)
	}
	all, err := s2.Appliances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "fw1" || all[1].Name != "sw2" || all[1].Relay != "relay-b" || len(all[1].Labels) != 0 {
		t.Errorf("Appliances = %+v, want fw1 (relay-a), sw2 (relay-b, no labels)", all)
	}
	if all[1].Added.IsZero() || all[1].Added.Before(c.t.Add(-time.Hour)) {
		t.Errorf("sw2 added at %v: want the store's clock", all[1].Added)
	}

	if err := s2.RemoveAppliance(ctx, "fw1"); err != nil {
		t.Fatal(err)
	}
	if err := s2.RemoveAppliance(ctx, "fw1"); !errors.Is(err, store.ErrApplianceUnknown) {
		t.Errorf("fw1 removed twice: err = %v, want ErrApplianceUnknown", err)
	}
	if _, ok, _ := s2.Appliance(ctx, "fw1"); ok {
		t.Error("fw1 still authorised after removal")
	}
	// Removed, the name may be authorised again, for another relay.
	if err := s2.AddAppliance(ctx, store.Appliance{Name: "fw1", Relay: "relay-b", By: "alice"}); err != nil {
		t.Errorf("fw1 re-added for relay-b: %v", err)
	}
}

// testRecordsNameTheirRelay: an appliance's records (a batch whose header
// names a relay) come back with Via, from Records and Record; a device's
// own do not.
func testRecordsNameTheirRelay(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	relay := batchtest.NewDevice("relay-1")
	f := batchtest.NewFile("relay:udp:0.0.0.0:514", 0, 0)
	h := relay.Header(1, nil, 3)
	h.DeviceID, h.Relay = "fw1", "relay-1"
	lines := f.Lines(3, 40)
	for i := range lines {
		lines[i].File = nil
	}
	sealed := relay.SealHeader(h, lines...)
	if err := s.CommitBatch(ctx, batchtest.Commit("fw1", sealed, 0)); err != nil {
		t.Fatal(err)
	}
	commit(t, s, relay, relay.Next(batchtest.Heartbeat(f.Time)), 0)
	got := collect(t, s, store.RecordQuery{Device: "fw1"})
	if len(got) != 3 {
		t.Fatalf("fw1: %d records, want 3", len(got))
	}
	for _, r := range got {
		if r.Via != "relay-1" || r.Device != "fw1" {
			t.Errorf("fw1 record: device %q via %q, want fw1 via relay-1", r.Device, r.Via)
		}
	}
	if r, ok, err := s.Record(ctx, "fw1", 1, 2); err != nil || !ok || r.Via != "relay-1" {
		t.Errorf("Record(fw1, 1, 2) = via %q, %v, %v", r.Via, ok, err)
	}
	for _, r := range collect(t, s, store.RecordQuery{Device: "relay-1"}) {
		if r.Via != "" {
			t.Errorf("relay-1's own record via %q", r.Via)
		}
	}
}
