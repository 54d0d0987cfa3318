package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

func init() {
	tests = append(tests,
		test{"CommitAndQuery", testCommitAndQuery},
		test{"DuplicateSeqRefused", testDuplicateSeqRefused},
		test{"HeadMovesOnlyFromExpected", testHeadMovesOnlyFromExpected},
		test{"ConcurrentCommits", testConcurrentCommits},
		test{"FileRangeDedup", testFileRangeDedup},
		test{"IntegrityEvents", testIntegrityEvents},
		test{"KeysAndSessions", testKeysAndSessions},
		test{"ReopenKeepsEverything", testReopenKeepsEverything},
		test{"CountStraddlingExact", testCountStraddlingExact},
		test{"CommitReportsRowAndSegments", testCommitReportsRowAndSegments},
	)
}

func commit(t *testing.T, s store.Ingester, dev *batchtest.Device, sealed *seal.Sealed, expect uint64, events ...store.IntegrityEvent) {
	t.Helper()
	b := batchtest.Commit(dev.Name, sealed, expect)
	b.Events = events
	if err := s.CommitBatch(ctx, b); err != nil {
		t.Fatalf("commit seq %d: %v", sealed.Seq, err)
	}
}

func collect(t *testing.T, s store.Reader, q store.RecordQuery) []store.Record {
	t.Helper()
	var out []store.Record
	for r, err := range s.Records(ctx, q) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func count(t *testing.T, s store.Reader, q store.RecordQuery) int64 {
	t.Helper()
	n, err := s.CountRecords(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// batches is what Batches yields for device.
func batches(t *testing.T, s store.Reader, device string) []*store.StoredBatch {
	t.Helper()
	var out []*store.StoredBatch
	for b, err := range s.Batches(ctx, device) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// testCommitAndQuery: three batches of file lines and heartbeats are
// stored with the right head, checkpoints, index, and come back in order
// from every query.
func testCommitAndQuery(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	dev := batchtest.NewDevice("router-1")
	f := batchtest.NewFile("file:/var/log/auth.log", 2049, 77)
	var sent []seal.WireRecord
	for i := range 3 {
		recs := append(f.Lines(10, 100), batchtest.Heartbeat(f.Time))
		sent = append(sent, recs...)
		commit(t, s, dev, dev.Next(recs...), uint64(i))
	}

	h, err := s.Head(ctx, "router-1")
	if err != nil || h.Seq != 3 || !bytes.Equal(h.Hash, dev.Prev) {
		t.Errorf("Head = %d %x, %v; want 3 %x", h.Seq, h.Hash, err, dev.Prev)
	}
	if h, _ := s.Head(ctx, "never-seen"); h.Seq != 0 || h.Hash != nil {
		t.Errorf("Head of an unknown device = %+v, want zero", h)
	}
	cps, err := s.Checkpoints(ctx, "router-1")
	if err != nil || len(cps) != 1 || cps[0].Offset != f.Offset || cps[0].File.Inode != 77 || cps[0].Source != f.Source {
		t.Errorf("Checkpoints = %+v, %v; want one at offset %d", cps, err, f.Offset)
	}
	d, ok, err := s.BatchDigest(ctx, "router-1", 3)
	if err != nil || !ok || !bytes.Equal(d[:], dev.Prev) {
		t.Errorf("BatchDigest(3) = %x %v %v", d, ok, err)
	}
	if _, ok, _ := s.BatchDigest(ctx, "router-1", 4); ok {
		t.Error("BatchDigest(4) found a batch never stored")
	}

	all := collect(t, s, store.RecordQuery{})
	if len(all) != len(sent) {
		t.Fatalf("Records yielded %d, want %d", len(all), len(sent))
	}
	for i, r := range all {
		w := sent[i]
		if r.Device != "router-1" || r.Seq != uint64(i/11+1) || r.Index != i%11 || !bytes.Equal(r.GetBody(), w.Body) ||
			r.GetTimeNs() != w.TimeNs || r.GetSource() != w.Source || r.Received.IsZero() {
			t.Fatalf("record %d = %+v, want %+v at seq %d index %d", i, r, w, i/11+1, i%11)
		}
	}
	queries := map[string]struct {
		q    store.RecordQuery
		want int
	}{
		"by device":            {store.RecordQuery{Device: "router-1"}, 33},
		"other device":         {store.RecordQuery{Device: "nope"}, 0},
		"by source":            {store.RecordQuery{Source: f.Source}, 30},
		"by kind":              {store.RecordQuery{Kind: offboxv1.Kind_KIND_HEARTBEAT}, 3},
		"since mid-batch":      {store.RecordQuery{Since: time.Unix(0, sent[15].TimeNs)}, 33 - 15},
		"until mid-batch":      {store.RecordQuery{Until: time.Unix(0, sent[15].TimeNs)}, 15},
		"window inside one":    {store.RecordQuery{Since: time.Unix(0, sent[12].TimeNs), Until: time.Unix(0, sent[14].TimeNs)}, 2},
		"source and time":      {store.RecordQuery{Source: f.Source, Since: time.Unix(0, sent[22].TimeNs)}, 10},
		"after everything":     {store.RecordQuery{Since: time.Unix(0, sent[32].TimeNs+1)}, 0},
		"device, kind, source": {store.RecordQuery{Device: "router-1", Source: "agent", Kind: offboxv1.Kind_KIND_HEARTBEAT}, 3},
	}
	for name, tt := range queries {
		got := collect(t, s, tt.q)
		if len(got) != tt.want {
			t.Errorf("%s: Records yielded %d, want %d", name, len(got), tt.want)
		}
		if n := count(t, s, tt.q); n != int64(tt.want) {
			t.Errorf("%s: CountRecords = %d, want %d", name, n, tt.want)
		}
	}

	devs, err := s.Devices(ctx)
	if err != nil || len(devs) != 1 || devs[0].Name != "router-1" || devs[0].Head.Seq != 3 {
		t.Errorf("Devices = %+v, %v", devs, err)
	}
	var seqs []uint64
	for _, b := range batches(t, s, "router-1") {
		seqs = append(seqs, b.Seq)
		if seal.Digest(b.Bytes) != [32]byte(b.Digest) || b.RecordCount != 11 || len(b.Segments) != 2 ||
			b.Segments[0].Count != 10 || b.Segments[1].Kind != offboxv1.Kind_KIND_HEARTBEAT || b.BootID != dev.BootID {
			t.Errorf("batch %d = %+v", b.Seq, b.Segments)
		}
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Errorf("Batches yielded seqs %v, want 1 2 3", seqs)
	}
}

// testDuplicateSeqRefused: a second batch with a stored (device, seq) is
// refused with ErrDuplicateSeq whatever head the caller claims, and
// nothing is stored twice.
func testDuplicateSeqRefused(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/x", 1, 2)
	first := dev.Next(f.Lines(5, 50)...)
	commit(t, s, dev, first, 0)

	other := dev.Seal(1, nil, f.Lines(5, 50)...) // same seq, other bytes
	for name, sealed := range map[string]*seal.Sealed{"same bytes": first, "other bytes": other} {
		// Claiming head 1 gets past the head check: only the constraint stops it.
		err := s.CommitBatch(ctx, batchtest.Commit("d", sealed, 1))
		if !errors.Is(err, store.ErrDuplicateSeq) {
			t.Errorf("%s: err = %v, want ErrDuplicateSeq", name, err)
		}
	}
	if n := count(t, s, store.RecordQuery{}); n != 5 {
		t.Errorf("%d records stored, want 5", n)
	}
	if bs := batches(t, s, "d"); len(bs) != 1 || !bytes.Equal(bs[0].Digest, first.Digest[:]) {
		t.Errorf("%d batches stored, want the first one only", len(bs))
	}
}

// testHeadMovesOnlyFromExpected: a batch judged against a stale head is
// refused and leaves nothing behind.
func testHeadMovesOnlyFromExpected(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	dev := batchtest.NewDevice("d")
	commit(t, s, dev, dev.Next(batchtest.Heartbeat(1)), 0)
	stale := dev.Next(batchtest.Heartbeat(2))
	if err := s.CommitBatch(ctx, batchtest.Commit("d", stale, 0)); !errors.Is(err, store.ErrHeadMoved) {
		t.Fatalf("err = %v, want ErrHeadMoved", err)
	}
	if h, _ := s.Head(ctx, "d"); h.Seq != 1 {
		t.Errorf("head = %d, want 1", h.Seq)
	}
	if n := count(t, s, store.RecordQuery{}); n != 1 {
		t.Errorf("%d records, want 1: a refused batch left rows behind", n)
	}
	// Nor backwards into a hole, even when the caller's head is right.
	commit(t, s, dev, dev.Seal(3, nil, batchtest.Heartbeat(3)), 1)
	if err := s.CommitBatch(ctx, batchtest.Commit("d", stale, 3)); !errors.Is(err, store.ErrHeadMoved) {
		t.Fatalf("behind the head: err = %v, want ErrHeadMoved", err)
	}
	if h, _ := s.Head(ctx, "d"); h.Seq != 3 {
		t.Errorf("head = %d, want 3", h.Seq)
	}
}

// testFileRangeDedup: lines resent in a new batch (an agent restarted
// before the checkpoint) are kept in the batch bytes but indexed once; a
// file rewritten in place is indexed again.
func testFileRangeDedup(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/var/log/app.log", 1, 5)
	first := f.Lines(10, 80)
	commit(t, s, dev, dev.Next(first...), 0)
	f.Rewind(first[5].File.Start) // lines 5..9 again, then 5 new ones
	again := f.Lines(10, 80)
	commit(t, s, dev, dev.Next(again...), 1)

	recs := collect(t, s, store.RecordQuery{Source: f.Source})
	if len(recs) != 15 {
		t.Fatalf("%d records indexed, want 15 (10 + 5 new)", len(recs))
	}
	seen := map[int64]bool{}
	for _, r := range recs {
		if seen[r.GetFile().GetStart()] {
			t.Errorf("range starting at %d indexed twice", r.GetFile().GetStart())
		}
		seen[r.GetFile().GetStart()] = true
	}
	if recs[10].Seq != 2 || recs[10].Index != 5 {
		t.Errorf("first new line is seq %d index %d, want seq 2 index 5", recs[10].Seq, recs[10].Index)
	}
	if bs := batches(t, s, "d"); len(bs) != 2 || bs[1].RecordCount != 10 {
		t.Errorf("the resent batch is not kept whole: %d batches", len(bs))
	}
	cps, _ := s.Checkpoints(ctx, "d")
	if len(cps) != 1 || cps[0].Offset != f.Offset {
		t.Errorf("checkpoint %+v, want offset %d", cps, f.Offset)
	}
	// copytruncate: same inode, new first bytes, offsets from 0 again.
	g := batchtest.NewFile("file:/var/log/app.log", 1, 5)
	lines := g.Lines(3, 80)
	for i := range lines {
		lines[i].File.FP = bytes.Repeat([]byte{9}, 32)
	}
	commit(t, s, dev, dev.Next(lines...), 2)
	if n := count(t, s, store.RecordQuery{Source: f.Source}); n != 18 {
		t.Errorf("after copytruncate %d records, want 18", n)
	}
}

// testIntegrityEvents: events with a batch and on their own are stored and
// filtered.
func testIntegrityEvents(t *testing.T, fa Factory) {
	s, c, _ := newStore(t, fa)
	dev := batchtest.NewDevice("d")
	gap := store.IntegrityEvent{Device: "d", Kind: store.EventGap, Seq: 5, Detail: "seqs 1..4 missing"}
	commit(t, s, dev, dev.Seal(5, nil, batchtest.Heartbeat(1)), 0, gap)
	t0 := c.Now()
	for _, e := range []store.IntegrityEvent{
		{Device: "d", Kind: store.EventReplay, Seq: 5, Detail: "again"},
		{Device: "other", Kind: store.EventIdentityMismatch, Detail: "claims d"},
	} {
		if err := s.AddIntegrityEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := map[string]struct {
		q    store.EventQuery
		want []string
	}{
		"all":       {store.EventQuery{}, []string{"gap", "replay", "identity_mismatch"}},
		"device":    {store.EventQuery{Device: "d"}, []string{"gap", "replay"}},
		"kind":      {store.EventQuery{Kind: store.EventReplay}, []string{"replay"}},
		"since":     {store.EventQuery{Since: t0}, []string{"replay", "identity_mismatch"}},
		"until":     {store.EventQuery{Until: t0}, []string{"gap"}},
		"no events": {store.EventQuery{Device: "nobody"}, nil},
	}
	for name, tt := range tests {
		evs, err := s.IntegrityEvents(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
		}
		if !slices.Equal(kinds, tt.want) {
			t.Errorf("%s: kinds %v, want %v", name, kinds, tt.want)
		}
	}
	evs, _ := s.IntegrityEvents(ctx, store.EventQuery{Kind: store.EventGap})
	if len(evs) != 1 || evs[0].Seq != 5 || evs[0].Detail != gap.Detail || evs[0].Device != "d" || evs[0].Time.IsZero() {
		t.Errorf("gap event = %+v", evs)
	}
}

// testKeysAndSessions: the first certificate for a key is kept; sessions
// are started and ended. (What a session row holds is not readable
// through the interface; engines check it themselves.)
func testKeysAndSessions(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	k := store.Key{Device: "d", KeyID: []byte("kid"), CertDER: []byte("cert-1")}
	if err := s.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.CertDER = []byte("cert-2")
	if err := s.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys(ctx, "d")
	if err != nil || len(keys) != 1 || string(keys[0].CertDER) != "cert-1" || string(keys[0].KeyID) != "kid" {
		t.Errorf("Keys = %+v, %v; want the first certificate only", keys, err)
	}
	id1, err := s.StartSession(ctx, store.Session{Device: "d", SessionID: []byte{1}, BootID: "b", AgentVersion: "v", RemoteAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.StartSession(ctx, store.Session{Device: "d", SessionID: []byte{2}, BootID: "b", AgentVersion: "v", RemoteAddr: "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	if id1 == id2 {
		t.Errorf("two sessions got the same id %d", id1)
	}
	end := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.EndSession(ctx, id1, end, 7, 700); err != nil {
		t.Fatal(err)
	}
}

// testReopenKeepsEverything: after Close, writes are refused with
// ErrClosed; a new handle sees every batch, head, checkpoint, key and
// event, and the chain goes on.
func testReopenKeepsEverything(t *testing.T, fa Factory) {
	c := &clock{t: time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)}
	open := fa(t, c.Now)
	s := open(t)
	closeS := closeOnce(t, s)
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/x", 1, 1)
	commit(t, s, dev, dev.Next(f.Lines(4, 30)...), 0)
	commit(t, s, dev, dev.Next(f.Lines(4, 30)...), 1, store.IntegrityEvent{Device: "d", Kind: store.EventFork, Seq: 2})
	if err := s.PutKey(ctx, store.Key{Device: "d", KeyID: dev.KeyID, CertDER: []byte("c")}); err != nil {
		t.Fatal(err)
	}
	if err := closeS(); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitBatch(ctx, batchtest.Commit("d", dev.Next(), 2)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("commit after Close: err = %v, want ErrClosed", err)
	}
	dev.Seq, dev.Prev = 2, nil // forget the refused batch

	s2 := open(t)
	closeOnce(t, s2)
	h, _ := s2.Head(ctx, "d")
	cps, _ := s2.Checkpoints(ctx, "d")
	keys, _ := s2.Keys(ctx, "d")
	evs, _ := s2.IntegrityEvents(ctx, store.EventQuery{})
	if n := count(t, s2, store.RecordQuery{}); n != 8 || h.Seq != 2 || len(cps) != 1 || cps[0].Offset != f.Offset || len(keys) != 1 || len(evs) != 1 {
		t.Errorf("reopened: %d records, head %d, checkpoints %+v, %d keys, %d events", n, h.Seq, cps, len(keys), len(evs))
	}
	d2 := batchtest.NewDevice("d2")
	commit(t, s2, d2, d2.Next(batchtest.Heartbeat(1)), 0)
	if n := count(t, s2, store.RecordQuery{Device: "d2"}); n != 1 {
		t.Errorf("reopened store has %d records of d2, want 1", n)
	}
}

// testCountStraddlingExact: with time bounds that cut through runs, the
// count equals the records yielded and a brute-force count.
func testCountStraddlingExact(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/x", 1, 1)
	var times []int64
	for i := range 5 {
		recs := f.Lines(37, 20)
		for _, r := range recs {
			times = append(times, r.TimeNs)
		}
		commit(t, s, dev, dev.Next(recs...), uint64(i))
	}
	for _, cut := range [][2]int{{0, 185}, {3, 100}, {36, 38}, {50, 51}, {184, 185}, {10, 10}} {
		q := store.RecordQuery{Since: time.Unix(0, times[cut[0]]), Until: time.Unix(0, times[cut[1]-1]+1)}
		want := 0
		for _, ts := range times {
			if q.MatchTime(ts) {
				want++
			}
		}
		if n := count(t, s, q); n != int64(want) {
			t.Errorf("cut %v: CountRecords = %d, want %d", cut, n, want)
		}
		if got := len(collect(t, s, q)); got != want {
			t.Errorf("cut %v: Records = %d, want %d", cut, got, want)
		}
	}
}

// testCommitReportsRowAndSegments: CommitBatch tells the caller the
// batch's row and segments: the same as reading it back gives.
func testCommitReportsRowAndSegments(t *testing.T, fa Factory) {
	s, _, _ := newStore(t, fa)
	d := batchtest.NewDevice("r")
	f := batchtest.NewFile("file:/x", 1, 2)
	var committed []*store.Batch
	for i := range 3 {
		b := batchtest.Commit("r", d.Next(append(f.Lines(3, 50), batchtest.Heartbeat(1))...), uint64(i))
		if err := s.CommitBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		committed = append(committed, b)
	}
	back, err := s.BatchesAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(committed) {
		t.Fatalf("BatchesAfter(0) = %d batches, want %d", len(back), len(committed))
	}
	for i, b := range committed {
		if b.Row != back[i].Row || !reflect.DeepEqual(b.Segments, back[i].Segments) {
			t.Errorf("batch %d: commit said row %d segments %+v; stored row %d segments %+v", i, b.Row, b.Segments, back[i].Row, back[i].Segments)
		}
	}
}
