package storetest

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func init() {
	tests = append(tests, test{"Appliances", testAppliances})
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
