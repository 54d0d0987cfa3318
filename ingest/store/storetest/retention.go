package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/seal"
)

func init() {
	tests = append(tests,
		test{"Prune", testPrune},
		test{"PruneNothing", testPruneNothing},
		test{"PruneKeepsUnread", testPruneKeepsUnread},
		test{"PruneKeepsCheckpoints", testPruneKeepsCheckpoints},
	)
}

// partitionSlack is how much older than the cutoff a batch must be for
// the suite to require Prune to remove it: a partitioned store removes
// only whole partitions that end at or before the cutoff.
const partitionSlack = 48 * time.Hour

const day = 24 * time.Hour

// commitAt commits the device's next batch as received at recv.
func commitAt(t *testing.T, s store.Ingester, dev *batchtest.Device, recv time.Time, recs []seal.WireRecord, events ...store.IntegrityEvent) *seal.Sealed {
	t.Helper()
	sealed := dev.Next(recs...)
	b := batchtest.Commit(dev.Name, sealed, sealed.Seq-1)
	b.Received, b.Events = recv, events
	if err := s.CommitBatch(ctx, b); err != nil {
		t.Fatalf("commit %s seq %d: %v", dev.Name, sealed.Seq, err)
	}
	return sealed
}

// seqsOf is "device/seq" of each batch.
func seqsOf(bs []*store.StoredBatch) []string {
	var out []string
	for _, b := range bs {
		out = append(out, fmt.Sprintf("%s/%d", b.Device, b.Seq))
	}
	return out
}

// checkPruned compares one removal with what it should say.
func checkPruned(t *testing.T, what string, got, want store.Pruned) {
	t.Helper()
	if got.Device != want.Device || got.FirstSeq != want.FirstSeq || got.LastSeq != want.LastSeq ||
		got.Batches != want.Batches || got.Records != want.Records || !bytes.Equal(got.LastDigest, want.LastDigest) ||
		!got.OldestReceived.Equal(want.OldestReceived) || !got.NewestReceived.Equal(want.NewestReceived) ||
		!got.Cutoff.Equal(want.Cutoff) || !got.At.Equal(want.At) || !sameCheckpoints(got.Checkpoints, want.Checkpoints) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// sameCheckpoints: the same checkpoints in the same order (none and an
// empty list alike).
func sameCheckpoints(a, b []store.Checkpoint) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func prunedDevices(ps []store.Pruned) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Device)
	}
	return out
}

// testPrune: batches received long before the cutoff are gone from every
// read; batches at or after it stay; heads, keys, checkpoints, integrity
// events and alerts stay; each device's removal is recorded with the
// sequences, counts, last digest and times a verifier needs; a later
// Prune records new removals; the chain goes on past pruned batches.
func testPrune(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	cutoff := base.Add(5 * day)
	recent := base.Add(10 * day)
	// Every old batch is received by day 1, well before the partition slack.
	if !base.Add(day).Before(cutoff.Add(-partitionSlack)) {
		t.Fatal("the old batches are too close to the cutoff for a partitioned store")
	}

	a, b, c := batchtest.NewDevice("a"), batchtest.NewDevice("b"), batchtest.NewDevice("c")
	fa1 := batchtest.NewFile("file:/var/log/auth.log", 1, 2)
	// a: seqs 1-3 old (day 0), 4 exactly at the cutoff, 5 recent.
	commitAt(t, s, a, base, fa1.Lines(2, 40),
		store.IntegrityEvent{Device: "a", Kind: store.EventConcurrentSession, Seq: 1, Detail: "old"})
	commitAt(t, s, a, base.Add(time.Hour), append(fa1.Lines(3, 40), batchtest.Heartbeat(fa1.Time)))
	a3 := commitAt(t, s, a, base.Add(2*time.Hour), fa1.Lines(1, 40))
	commitAt(t, s, a, cutoff, fa1.Lines(2, 40))
	commitAt(t, s, a, recent, fa1.Lines(2, 40))
	// b: seq 1 old (day 1), 2 recent. c: recent only.
	b1 := commitAt(t, s, b, base.Add(day), []seal.WireRecord{batchtest.Heartbeat(1), batchtest.Heartbeat(2)})
	commitAt(t, s, b, recent.Add(time.Minute), []seal.WireRecord{batchtest.Heartbeat(3)})
	commitAt(t, s, c, recent.Add(2*time.Minute), []seal.WireRecord{batchtest.Heartbeat(4)})

	if err := s.PutKey(ctx, store.Key{Device: "a", KeyID: a.KeyID, CertDER: []byte("cert-a"), FirstSeen: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddIntegrityEvent(ctx, store.IntegrityEvent{Device: "b", Time: base, Kind: store.EventReplay, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	al := alert("g-old", base)
	al.Device, al.Evidence = "a", []store.AlertRef{{Device: "a", Seq: 1, Index: 0}}
	save(t, s, base, nil, store.AlertUpsert{Alert: al, Sinks: []string{"mail"}})
	headA, _ := s.Head(ctx, "a")
	cpsA, _ := s.Checkpoints(ctx, "a")
	if len(cpsA) != 1 {
		t.Fatalf("checkpoints of a before pruning: %+v", cpsA)
	}

	now := base.Add(11 * day)
	CaughtUp(t, s)
	got, err := s.Prune(ctx, cutoff, now)
	if err != nil {
		t.Fatal(err)
	}
	// a's file stood after 2 + 3 + 1 lines of 41 bytes when seq 3 was stored.
	cpA3 := store.Checkpoint{Source: fa1.Source, File: cpsA[0].File, Offset: 6 * 41}
	wantA := store.Pruned{Device: "a", FirstSeq: 1, LastSeq: 3, Batches: 3, Records: 2 + 4 + 1, LastDigest: a3.Digest[:],
		OldestReceived: base, NewestReceived: base.Add(2 * time.Hour), Cutoff: cutoff, At: now,
		Checkpoints: []store.Checkpoint{cpA3}}
	wantB := store.Pruned{Device: "b", FirstSeq: 1, LastSeq: 1, Batches: 1, Records: 2, LastDigest: b1.Digest[:],
		OldestReceived: base.Add(day), NewestReceived: base.Add(day), Cutoff: cutoff, At: now}
	if devs := prunedDevices(got); !slices.Equal(devs, []string{"a", "b"}) {
		t.Fatalf("Prune removed from %v, want a and b: %+v", devs, got)
	}
	checkPruned(t, "Prune's removal from a", got[0], wantA)
	checkPruned(t, "Prune's removal from b", got[1], wantB)

	// Gone from every read; what is at or after the cutoff stays.
	after, err := s.BatchesAfter(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/4", "a/5", "b/2", "c/1"}; !slices.Equal(seqsOf(after), want) {
		t.Errorf("BatchesAfter(0) after pruning = %v, want %v", seqsOf(after), want)
	}
	for dev, want := range map[string][]string{"a": {"a/4", "a/5"}, "b": {"b/2"}, "c": {"c/1"}} {
		if got := seqsOf(batches(t, s, dev)); !slices.Equal(got, want) {
			t.Errorf("Batches(%s) after pruning = %v, want %v", dev, got, want)
		}
	}
	recs := collect(t, s, store.RecordQuery{})
	var where []string
	for _, r := range recs {
		where = append(where, fmt.Sprintf("%s/%d/%d", r.Device, r.Seq, r.Index))
	}
	if want := []string{"a/4/0", "a/4/1", "a/5/0", "a/5/1", "b/2/0", "c/1/0"}; !slices.Equal(where, want) {
		t.Errorf("Records after pruning = %v, want %v", where, want)
	}
	for q, want := range map[store.RecordQuery]int64{
		{}:                       6,
		{Device: "a"}:            4,
		{Device: "b"}:            1,
		{Source: fa1.Source}:     4,
		{Source: "agent"}:        2,
		{Until: time.Unix(0, 3)}: 0, // b's old heartbeats at 1 and 2 ns
	} {
		if n := count(t, s, q); n != want {
			t.Errorf("CountRecords(%+v) after pruning = %d, want %d", q, n, want)
		}
	}
	for _, ref := range []store.AlertRef{{Device: "a", Seq: 1, Index: 0}, {Device: "a", Seq: 3, Index: 0}, {Device: "b", Seq: 1, Index: 1}} {
		if _, ok, err := s.Record(ctx, ref.Device, ref.Seq, ref.Index); ok || err != nil {
			t.Errorf("Record(%s, %d, %d) after pruning = %v, %v; want not found", ref.Device, ref.Seq, ref.Index, ok, err)
		}
		if _, ok, err := s.BatchDigest(ctx, ref.Device, ref.Seq); ok || err != nil {
			t.Errorf("BatchDigest(%s, %d) after pruning = %v, %v; want not found", ref.Device, ref.Seq, ok, err)
		}
	}
	if _, ok, err := s.Record(ctx, "a", 4, 1); !ok || err != nil {
		t.Errorf("Record(a, 4, 1) at the cutoff = %v, %v; want found", ok, err)
	}

	// What proves the removed batches existed stays.
	if h, _ := s.Head(ctx, "a"); h.Seq != headA.Seq || !bytes.Equal(h.Hash, headA.Hash) {
		t.Errorf("head of a after pruning = %d %x, want %d %x", h.Seq, h.Hash, headA.Seq, headA.Hash)
	}
	if h, _ := s.Head(ctx, "b"); h.Seq != 2 {
		t.Errorf("head of b after pruning = %d, want 2", h.Seq)
	}
	if devs, err := s.Devices(ctx); err != nil || len(devs) != 3 {
		t.Errorf("Devices after pruning = %+v, %v", devs, err)
	}
	if keys, _ := s.Keys(ctx, "a"); len(keys) != 1 || string(keys[0].CertDER) != "cert-a" {
		t.Errorf("keys of a after pruning = %+v", keys)
	}
	if cps, _ := s.Checkpoints(ctx, "a"); len(cps) != 1 || !reflect.DeepEqual(cps[0], cpsA[0]) {
		t.Errorf("checkpoints of a after pruning = %+v, want %+v", cps, cpsA)
	}
	if evs, _ := s.IntegrityEvents(ctx, store.EventQuery{}); len(evs) != 2 {
		t.Errorf("integrity events after pruning = %+v, want both", evs)
	}
	if as := alerts(t, s, store.AlertQuery{}); len(as) != 1 || !slices.Equal(as[0].Evidence, al.Evidence) {
		t.Errorf("alerts after pruning = %+v", as)
	}
	if p, _ := s.PendingDeliveries(ctx); p["mail"] != 1 {
		t.Errorf("pending deliveries after pruning = %v, want mail 1", p)
	}

	// The record of the removal.
	all, err := s.Pruned(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("Pruned(\"\") = %+v, %v; want a and b", all, err)
	}
	checkPruned(t, "Pruned(\"\")[0]", all[0], wantA)
	checkPruned(t, "Pruned(\"\")[1]", all[1], wantB)
	if ps, err := s.Pruned(ctx, "b"); err != nil || len(ps) != 1 {
		t.Errorf("Pruned(b) = %+v, %v", ps, err)
	} else {
		checkPruned(t, "Pruned(b)", ps[0], wantB)
	}
	for _, dev := range []string{"c", "nobody"} {
		if ps, err := s.Pruned(ctx, dev); err != nil || len(ps) != 0 {
			t.Errorf("Pruned(%s) = %+v, %v; want none", dev, ps, err)
		}
	}

	// The chain goes on from the kept head.
	commitAt(t, s, a, recent.Add(time.Hour), fa1.Lines(1, 40))
	if h, _ := s.Head(ctx, "a"); h.Seq != 6 {
		t.Errorf("head of a after a commit past pruning = %d, want 6", h.Seq)
	}

	// A later Prune removes the rest and adds its own records.
	cutoff2 := recent.Add(10 * day) // recent.Add(time.Hour) is well before cutoff2 - partitionSlack
	now2 := cutoff2.Add(time.Hour)
	CaughtUp(t, s)
	got, err = s.Prune(ctx, cutoff2, now2)
	if err != nil {
		t.Fatal(err)
	}
	if devs := prunedDevices(got); !slices.Equal(devs, []string{"a", "b", "c"}) {
		t.Fatalf("second Prune removed from %v, want a, b and c", devs)
	}
	cpsA6, _ := s.Checkpoints(ctx, "a")
	wantA2 := store.Pruned{Device: "a", FirstSeq: 4, LastSeq: 6, Batches: 3, Records: 5, LastDigest: a.Prev,
		OldestReceived: cutoff, NewestReceived: recent.Add(time.Hour), Cutoff: cutoff2, At: now2, Checkpoints: cpsA6}
	checkPruned(t, "second Prune's removal from a", got[0], wantA2)
	if got[1].FirstSeq != 2 || got[1].LastSeq != 2 || got[2].FirstSeq != 1 || got[2].Records != 1 {
		t.Errorf("second Prune's removals from b and c = %+v", got[1:])
	}
	if after, _ := s.BatchesAfter(ctx, 0, 0); len(after) != 0 {
		t.Errorf("BatchesAfter(0) after pruning everything = %v", seqsOf(after))
	}
	if n := count(t, s, store.RecordQuery{}); n != 0 {
		t.Errorf("CountRecords after pruning everything = %d", n)
	}
	all, err = s.Pruned(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if devs := prunedDevices(all); !slices.Equal(devs, []string{"a", "b", "a", "b", "c"}) {
		t.Errorf("Pruned(\"\") after two prunes = %v, want a b a b c (by At, then device)", devs)
	}
	ps, err := s.Pruned(ctx, "a")
	if err != nil || len(ps) != 2 {
		t.Fatalf("Pruned(a) = %+v, %v; want two removals", ps, err)
	}
	checkPruned(t, "Pruned(a)[0]", ps[0], wantA)
	checkPruned(t, "Pruned(a)[1]", ps[1], wantA2)
	if h, _ := s.Head(ctx, "a"); h.Seq != 6 || !bytes.Equal(h.Hash, a.Prev) {
		t.Errorf("head of a after pruning everything = %d, want 6", h.Seq)
	}
}

// testPruneNothing: a Prune whose cutoff precedes every batch removes
// nothing and records nothing; so does one on an empty store.
func testPruneNothing(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if got, err := s.Prune(ctx, base, base); err != nil || len(got) != 0 {
		t.Errorf("Prune of an empty store = %+v, %v", got, err)
	}
	d := batchtest.NewDevice("d")
	commitAt(t, s, d, base.Add(10*day), []seal.WireRecord{batchtest.Heartbeat(1)})
	CaughtUp(t, s)
	if got, err := s.Prune(ctx, base.Add(10*day), base.Add(11*day)); err != nil || len(got) != 0 {
		t.Errorf("Prune before every batch = %+v, %v", got, err)
	}
	if bs := batches(t, s, "d"); len(bs) != 1 {
		t.Errorf("%d batches left, want 1", len(bs))
	}
	if ps, err := s.Pruned(ctx, ""); err != nil || len(ps) != 0 {
		t.Errorf("Pruned after removing nothing = %+v, %v", ps, err)
	}
}

// testPruneKeepsUnread: batches detection has not read (past the detect
// cursor) stay however old; once read, the next Prune removes them.
func testPruneKeepsUnread(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	cutoff, now := base.Add(5*day), base.Add(11*day)
	a, b := batchtest.NewDevice("a"), batchtest.NewDevice("b")
	for i := range 3 {
		commitAt(t, s, a, base.Add(time.Duration(i)*time.Hour), []seal.WireRecord{batchtest.Heartbeat(int64(i))})
	}
	commitAt(t, s, b, base.Add(day), []seal.WireRecord{batchtest.Heartbeat(9)})
	if got, err := s.Prune(ctx, cutoff, now); err != nil || len(got) != 0 {
		t.Fatalf("Prune before detection read anything = %+v, %v; want nothing removed", got, err)
	}
	// Detection has read a's three batches, not b's.
	bs, err := s.BatchesAfter(ctx, 0, 10)
	if err != nil || len(bs) != 4 || bs[2].Device != "a" {
		t.Fatalf("BatchesAfter = %v, %v", seqsOf(bs), err)
	}
	save(t, s, now, &store.Cursor{BatchRow: bs[2].Row})
	got, err := s.Prune(ctx, cutoff, now)
	if err != nil || len(got) != 1 || got[0].Device != "a" || got[0].LastSeq != 3 {
		t.Fatalf("Prune with b unread = %+v, %v; want a's seqs 1..3 only", got, err)
	}
	if left := seqsOf(batches(t, s, "b")); !slices.Equal(left, []string{"b/1"}) {
		t.Fatalf("b's unread batch: %v left, want b/1", left)
	}
	CaughtUp(t, s)
	got, err = s.Prune(ctx, cutoff, now.Add(time.Hour))
	if err != nil || len(got) != 1 || got[0].Device != "b" {
		t.Fatalf("Prune once b is read = %+v, %v; want b's seq 1", got, err)
	}
	if left := batches(t, s, "b"); len(left) != 0 {
		t.Errorf("b still has %v", seqsOf(left))
	}
}

// testPruneKeepsCheckpoints: see PruneKeepsCheckpoints.
func testPruneKeepsCheckpoints(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	PruneKeepsCheckpoints(t, s, nil)
}

// PruneKeepsCheckpoints: each removal keeps the device's file checkpoints
// as they stood after its last batch, taking each source's from its last
// line stored (not from a resent line the index skipped), and keeping
// those of sources whose lines went in an earlier removal. s must be
// empty. forget, when set, runs before the removals: an engine's own test
// drops the segments' fingerprints there, as in segments stored before the
// store kept them, and the removals must then read them from the bytes.
func PruneKeepsCheckpoints(t *testing.T, s store.Store, forget func()) {
	t.Helper()
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	d := batchtest.NewDevice("d")
	f1 := batchtest.NewFile("file:/var/log/auth.log", 1, 2)
	f2 := batchtest.NewFile("file:/var/log/messages", 1, 3)
	// 1 and 2 old; 3 resends f1's last line of 1 and adds one, past the
	// first cutoff; 4 recent.
	commitAt(t, s, d, base, f1.Lines(3, 40))
	commitAt(t, s, d, base.Add(time.Hour), append(f2.Lines(2, 60), f1.Lines(1, 40)...))
	f1.Rewind(f1.Offset - 41)
	commitAt(t, s, d, base.Add(6*day), append(f1.Lines(2, 40), batchtest.Heartbeat(f1.Time)))
	commitAt(t, s, d, base.Add(20*day), f2.Lines(1, 60))
	stored, err := s.Checkpoints(ctx, "d")
	if err != nil || len(stored) != 2 {
		t.Fatalf("checkpoints of d = %+v, %v", stored, err)
	}
	id := map[string]store.FileID{}
	for _, cp := range stored {
		id[cp.Source] = cp.File
	}
	// Segments keep their file's fingerprint (until forget drops it).
	if bs := batches(t, s, "d"); len(bs) != 4 || len(bs[0].Segments) != 1 || bs[0].Segments[0].File == nil ||
		!bytes.Equal(bs[0].Segments[0].File.FP, id[f1.Source].FP) || bs[0].Segments[0].File.FPLen != id[f1.Source].FPLen {
		t.Fatalf("stored batches of d, segments without their file's fingerprint: %+v", bs)
	}
	if forget != nil {
		forget()
		if g := batches(t, s, "d")[0].Segments[0]; g.File.FP != nil {
			t.Fatalf("forget left the fingerprint in %+v", g.File)
		}
	}
	cp := func(f *batchtest.File, lines, size int) store.Checkpoint {
		return store.Checkpoint{Source: f.Source, File: id[f.Source], Offset: int64(lines * (size + 1))}
	}
	CaughtUp(t, s)
	for i, step := range []struct {
		cutoff time.Time
		want   []store.Checkpoint
	}{
		{base.Add(5 * day), []store.Checkpoint{cp(f1, 4, 40), cp(f2, 2, 60)}},
		// The resent line moved nothing; the new one did; f2 is kept.
		{base.Add(10 * day), []store.Checkpoint{cp(f1, 5, 40), cp(f2, 2, 60)}},
	} {
		got, err := s.Prune(ctx, step.cutoff, step.cutoff.Add(time.Hour))
		if err != nil || len(got) != 1 {
			t.Fatalf("Prune %d = %+v, %v; want one removal from d", i+1, got, err)
		}
		if !sameCheckpoints(got[0].Checkpoints, step.want) {
			t.Errorf("Prune %d kept checkpoints\n%+v\nwant\n%+v", i+1, got[0].Checkpoints, step.want)
		}
		ps, err := s.Pruned(ctx, "d")
		if err != nil || len(ps) != i+1 || !sameCheckpoints(ps[i].Checkpoints, step.want) {
			t.Errorf("Pruned(d) after Prune %d = %+v, %v; want checkpoints %+v last", i+1, ps, err, step.want)
		}
	}
}
