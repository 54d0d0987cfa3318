// What detection reads after its cursor (batches, integrity events,
// accesses) and the single-record lookup of alert evidence.

package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
)

// testBatchesAfter: batches of every device in commit order from a row
// on, at most limit, each complete like Batches yields it.
func testBatchesAfter(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
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
		viaBatches = append(viaBatches, batches(t, s, dev)...)
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

// testEventsAfter: events of every device after an id, in id order, with
// device names and boot ids.
func testEventsAfter(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
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

// testAccesses: accesses come back in id order with every field.
func testAccesses(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
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

// testRecord: a stored record by (device, seq, index); anything not
// stored is ok=false, not an error.
func testRecord(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
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
