package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
	"github.com/offbox/offbox/ingest/store/storetest"
)

// TestCommitOrderConcurrent: two collectors on one database commit batches
// (some with integrity events), events and accesses from many goroutines
// while a follower reads past its cursors the way detection does. It must
// see every batch, event and access exactly once, batch rows gapless: a
// row, or id, that became visible after a higher one would be skipped.
func TestCommitOrderConcurrent(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	stores := []*Store{openAt(t, url, Options{}), openAt(t, url, Options{})}
	const devices, perDevice = 12, 15
	stop := make(chan struct{})
	type seen struct {
		batches  map[string]int
		rows     []int64
		events   map[string]int
		accesses map[string]int
	}
	got := seen{batches: map[string]int{}, events: map[string]int{}, accesses: map[string]int{}}
	var cur store.Cursor
	follow := func() error {
		for {
			bs, err := stores[0].BatchesAfter(ctx, cur.BatchRow, 7)
			if err != nil {
				return err
			}
			for _, b := range bs {
				got.batches[fmt.Sprintf("%s/%d", b.Device, b.Seq)]++
				got.rows = append(got.rows, b.Row)
				cur.BatchRow = b.Row
			}
			es, err := stores[1].EventsAfter(ctx, cur.EventID, 7)
			if err != nil {
				return err
			}
			for _, e := range es {
				got.events[e.Detail]++
				cur.EventID = e.ID
			}
			as, err := stores[0].AccessesAfter(ctx, cur.AccessID, 7)
			if err != nil {
				return err
			}
			for _, a := range as {
				got.accesses[a.What]++
				cur.AccessID = a.ID
			}
			if len(bs)+len(es)+len(as) == 0 {
				return nil
			}
		}
	}
	followed := make(chan error, 1)
	go func() {
		for {
			if err := follow(); err != nil {
				followed <- err
				return
			}
			select {
			case <-stop:
				followed <- follow() // what committed last
				return
			default:
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, devices*perDevice*3)
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[d%2]
			dev := batchtest.NewDevice(fmt.Sprintf("dev-%d", d))
			f := batchtest.NewFile("file:/var/log/syslog", 1, uint64(d))
			for i := range perDevice {
				b := batchtest.Commit(dev.Name, dev.Next(f.Lines(5, 100)...), uint64(i))
				if i%3 == 0 {
					b.Events = []store.IntegrityEvent{{Device: dev.Name, Kind: store.EventGap, Detail: fmt.Sprintf("b %s %d", dev.Name, i)}}
				}
				errs <- s.CommitBatch(ctx, b)
				if i%4 == 0 {
					errs <- stores[(d+1)%2].AddIntegrityEvent(ctx, store.IntegrityEvent{Device: dev.Name, Kind: store.EventReplay,
						Detail: fmt.Sprintf("e %s %d", dev.Name, i)})
					errs <- s.RecordAccess(ctx, store.Access{Who: "op", Via: "cli", What: fmt.Sprintf("a %s %d", dev.Name, i)})
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-followed; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got.batches) != devices*perDevice {
		t.Errorf("follower saw %d batches, want %d", len(got.batches), devices*perDevice)
	}
	for k, n := range got.batches {
		if n != 1 {
			t.Errorf("batch %s seen %d times", k, n)
		}
	}
	for i, row := range got.rows {
		if row != int64(i+1) {
			t.Fatalf("row %d of the follower's reads is %d, want %d: rows not gapless in commit order", i, row, i+1)
		}
	}
	wantEvents := devices * ((perDevice+2)/3 + (perDevice+3)/4)
	if len(got.events) != wantEvents {
		t.Errorf("follower saw %d events, want %d", len(got.events), wantEvents)
	}
	if len(got.accesses) != devices*((perDevice+3)/4) {
		t.Errorf("follower saw %d accesses, want %d", len(got.accesses), devices*((perDevice+3)/4))
	}
	for k, n := range got.events {
		if n != 1 {
			t.Errorf("event %s seen %d times", k, n)
		}
	}
	if txns := stores[0].w.txns.Load() + stores[1].w.txns.Load(); txns > 0 {
		t.Logf("%d commits in %d transactions", devices*perDevice, txns)
	}
}

// TestPartitionsTwoStores: collectors starting together on an empty
// database migrate once and make the same partitions without failing,
// and again when the clock moves on.
func TestPartitionsTwoStores(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	now := time.Date(2026, 11, 22, 18, 30, 0, 0, time.UTC)
	opt := Options{Now: func() time.Time { return now }, PartitionSpan: time.Hour}
	stores := make([]*Store, 4)
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, url, opt)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	later := now.Add(10 * time.Hour)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = stores[i].ensurePartitions(ctx, later)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d at a later time: %v", i, err)
		}
	}
	parts, err := partitions(ctx, stores[0].pool, "segments")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range parts {
		names = append(names, p.name)
	}
	// now-1h .. now+2h and later-1h .. later+2h, 1 h each, and the default.
	want := []string{"segments_default"}
	for _, base := range []time.Time{now, later} {
		for h := -1; h <= 2; h++ {
			want = append(want, partitionName("segments", partitionStart(base.Add(time.Duration(h)*time.Hour), time.Hour)))
		}
	}
	if len(names) != len(want) {
		t.Errorf("partitions %v, want %v", names, want)
	}
	for _, w := range want {
		if !strings.Contains(strings.Join(names, " "), w) {
			t.Errorf("partition %s missing from %v", w, names)
		}
	}
	// A batch far outside every partition still commits (default).
	dev := batchtest.NewDevice("d")
	b := batchtest.Commit("d", dev.Next(batchtest.Heartbeat(1)), 0)
	b.Received = now.Add(-1000 * time.Hour)
	if err := stores[1].CommitBatch(ctx, b); err != nil {
		t.Fatalf("commit outside every partition: %v", err)
	}
}

// TestPruneDropsPartitions: partitions that end at or before the cutoff
// are dropped with their batches and index; the default partition loses
// only rows before the cutoff; a partition straddling the cutoff stays
// whole; what went is recorded per device with the last digest.
func TestPruneDropsPartitions(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	T := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	s := openAt(t, url, Options{Now: func() time.Time { return T }, PartitionSpan: time.Hour})
	if err := s.ensurePartitions(ctx, T.Add(-4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	dev := batchtest.NewDevice("a")
	f := batchtest.NewFile("file:/var/log/a", 1, 2)
	var digests [][]byte
	for _, at := range []time.Duration{-100 * time.Hour, -5 * time.Hour, -4*time.Hour - 30*time.Minute, -3 * time.Hour, -30 * time.Minute} {
		sealed := dev.Next(f.Lines(4, 50)...)
		b := batchtest.Commit("a", sealed, sealed.Seq-1)
		b.Received = T.Add(at)
		if err := s.CommitBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, sealed.Digest[:])
	}
	// -5h is 13:00, in the default partition too (partitions start at 13:00
	// for now-4h = 14:00 minus a span); -4h30 is in 13:00's.
	cutoff := T.Add(-2*time.Hour - 30*time.Minute) // 15:30: 15:00's partition straddles it
	storetest.CaughtUp(t, s)
	got, err := s.Prune(ctx, cutoff, T)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("Prune = %+v, want one device", got)
	}
	p := got[0]
	if p.Device != "a" || p.FirstSeq != 1 || p.LastSeq != 3 || p.Batches != 3 || p.Records != 12 ||
		!bytes.Equal(p.LastDigest, digests[2]) || !p.OldestReceived.Equal(T.Add(-100*time.Hour)) ||
		!p.NewestReceived.Equal(T.Add(-4*time.Hour-30*time.Minute)) || !p.Cutoff.Equal(cutoff) || !p.At.Equal(T) {
		t.Errorf("Prune = %+v, want seqs 1-3, 3 batches, 12 records, digest of 3", p)
	}
	parts, err := partitions(ctx, s.pool, "batches")
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range parts {
		if !pt.def && pt.to <= cutoff.UnixNano() {
			t.Errorf("partition %s ends at or before the cutoff and was kept", pt.name)
		}
	}
	bs, err := s.BatchesAfter(ctx, 0, 10)
	if err != nil || len(bs) != 2 || bs[0].Seq != 4 || bs[1].Seq != 5 || len(bs[0].Segments) != 1 {
		t.Errorf("after Prune BatchesAfter = %d batches, %v; want seqs 4 and 5", len(bs), err)
	}
	if n, err := s.CountRecords(ctx, store.RecordQuery{}); err != nil || n != 8 {
		t.Errorf("after Prune %d records, %v; want 8", n, err)
	}
	if _, ok, _ := s.BatchDigest(ctx, "a", 2); ok {
		t.Error("BatchDigest finds a pruned batch")
	}
	if h, _ := s.Head(ctx, "a"); h.Seq != 5 {
		t.Errorf("head %d after Prune, want 5", h.Seq)
	}
	if again, err := s.Prune(ctx, cutoff, T.Add(time.Minute)); err != nil || len(again) != 0 {
		t.Errorf("second Prune = %+v, %v; want nothing", again, err)
	}
	all, err := s.Pruned(ctx, "")
	if err != nil || len(all) != 1 || all[0].LastSeq != 3 {
		t.Errorf("Pruned = %+v, %v", all, err)
	}
	// The same seq cannot come back: batch_log forgot it, but the head
	// has not.
	stale := batchtest.Commit("a", dev.Seal(2, nil, batchtest.Heartbeat(1)), 1)
	if err := s.CommitBatch(ctx, stale); !errors.Is(err, store.ErrHeadMoved) {
		t.Errorf("re-commit of a pruned seq: err = %v, want ErrHeadMoved", err)
	}
}

// backendPID is the server process of s's lock connection.
func backendPID(t *testing.T, s *Store) uint32 {
	t.Helper()
	s.lk.mu.Lock()
	defer s.lk.mu.Unlock()
	if s.lk.conn == nil {
		t.Fatal("no lock connection")
	}
	return s.lk.conn.PgConn().PID()
}

// terminate ends a server process from an admin connection, as a
// failover or a network cut would.
func terminate(t *testing.T, url string, pid uint32) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}

func within(t *testing.T, d time.Duration, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s: not within %v", what, d)
	}
}

// TestDeviceLocks: one collector at a time holds a device; release lets
// another take it; a lock connection that dies reports the lock lost, and
// the store locks again afterwards.
func TestDeviceLocks(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	opt := Options{LockCheck: 50 * time.Millisecond}
	a, b := openAt(t, url, opt), openAt(t, url, opt)
	relA, lostA, ok, err := a.LockDevice(ctx, "d")
	if err != nil || !ok {
		t.Fatalf("a.LockDevice = %v, %v", ok, err)
	}
	if _, _, ok, err := b.LockDevice(ctx, "d"); err != nil || ok {
		t.Fatalf("b.LockDevice of a held device = %v, %v; want refused", ok, err)
	}
	if _, _, ok, err := a.LockDevice(ctx, "d"); err != nil || ok {
		t.Fatalf("a.LockDevice again = %v, %v; want refused", ok, err)
	}
	if _, _, ok, err := b.LockDevice(ctx, "other"); err != nil || !ok {
		t.Fatalf("b.LockDevice(other) = %v, %v", ok, err)
	}
	relA()
	relA() // idempotent
	select {
	case <-lostA:
		t.Fatal("release closed lost")
	default:
	}
	relB, lostB, ok, err := b.LockDevice(ctx, "d")
	if err != nil || !ok {
		t.Fatalf("b.LockDevice after release = %v, %v", ok, err)
	}
	terminate(t, pgtest.AdminURL(t), backendPID(t, b))
	within(t, 5*time.Second, lostB, "lost after the lock connection died")
	relB() // after a loss: nothing to do, no panic
	// The server released b's locks with the session: a takes d.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, ok, err := a.LockDevice(ctx, "d")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a cannot take d after b's connection died")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And b works again on a new connection.
	if _, _, ok, err := b.LockDevice(ctx, "third"); err != nil || !ok {
		t.Errorf("b.LockDevice after reconnecting = %v, %v", ok, err)
	}
	if _, _, ok, err := b.LockDevice(ctx, "d"); err != nil || ok {
		t.Errorf("b.LockDevice(d) held by a = %v, %v; want refused", ok, err)
	}
}

// TestLead: one of two collectors leads; the other takes over within a
// few polls when the leader resigns, its lock connection dies, or it
// closes.
func TestLead(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	opt := Options{LockCheck: 50 * time.Millisecond, LeaderPoll: 20 * time.Millisecond}
	a, b := openAt(t, url, opt), openAt(t, url, opt)
	leadA, resignA, err := a.Lead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type led struct {
		ctx    context.Context
		resign func()
		err    error
	}
	follow := func(s *Store) chan led {
		ch := make(chan led, 1)
		go func() {
			c, r, err := s.Lead(ctx)
			ch <- led{c, r, err}
		}()
		return ch
	}
	chB := follow(b)
	select {
	case l := <-chB:
		t.Fatalf("b leads while a does: %v", l.err)
	case <-time.After(200 * time.Millisecond):
	}
	resignA()
	within(t, time.Second, leadA.Done(), "a's leading context after resign")
	var lb led
	select {
	case lb = <-chB:
	case <-time.After(2 * time.Second):
		t.Fatal("b does not lead after a resigned")
	}
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	// b's lock connection dies: b's leadership ends, a takes over.
	chA := follow(a)
	terminate(t, pgtest.AdminURL(t), backendPID(t, b))
	within(t, 5*time.Second, lb.ctx.Done(), "b's leading context after its connection died")
	var la led
	select {
	case la = <-chA:
	case <-time.After(5 * time.Second):
		t.Fatal("a does not lead after b's connection died")
	}
	if la.err != nil {
		t.Fatal(la.err)
	}
	// a closes: b leads again.
	chB = follow(b)
	a.Close()
	within(t, time.Second, la.ctx.Done(), "a's leading context after Close")
	select {
	case lb = <-chB:
		if lb.err != nil {
			t.Fatal(lb.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b does not lead after a closed")
	}
	// A Lead whose ctx ends returns ctx's error.
	c, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := openAt(t, url, opt).Lead(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lead with an ending ctx: err = %v", err)
	}
}

// TestSaveAlertsFromFence: two detections that read the same cursor save
// at once; exactly one wins, the other is told ErrCursorMoved and saved
// nothing.
func TestSaveAlertsFromFence(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	stores := []*Store{openAt(t, url, Options{}), openAt(t, url, Options{})}
	from := store.Cursor{}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := store.Alert{GroupID: fmt.Sprintf("g%d", i), Kind: "k", Severity: store.SeverityInfo, Count: 1}
			errs[i] = s.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: a}},
				Cursor: &store.Cursor{BatchRow: int64(i + 1)}, From: &from})
		}()
	}
	wg.Wait()
	var won int
	for i, err := range errs {
		switch {
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrCursorMoved):
			t.Fatalf("store %d: %v", i, err)
		}
	}
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("errs = %v; want exactly one ErrCursorMoved", errs)
	}
	as, err := stores[0].Alerts(ctx, store.AlertQuery{})
	if err != nil || len(as) != 1 || as[0].GroupID != fmt.Sprintf("g%d", won) {
		t.Errorf("alerts = %+v, %v; want only the winner's", as, err)
	}
	if c, _ := stores[1].DetectCursor(ctx); c.BatchRow != int64(won+1) {
		t.Errorf("cursor = %+v, want the winner's", c)
	}
}

// TestOpenErrors: each error names what is wrong and never the password.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	admin := pgtest.AdminURL(t)
	u, _ := url.Parse(admin)
	pass, _ := u.User.Password()
	down := *u
	down.Host = "127.0.0.1:1"
	wrongPass := *u
	wrongPass.User = url.UserPassword(u.User.Username(), "not-the-"+pass)
	tests := map[string]struct{ url, want string }{
		"scheme":         {"mysql://u:secretpw@h/db", "scheme"},
		"garbage":        {"postgres://u:secretpw@h:notaport/db", "postgres URL"},
		"nothing there":  {down.String(), "cannot connect to 127.0.0.1:1"},
		"wrong password": {wrongPass.String(), "cannot connect to " + u.Host},
	}
	for name, tt := range tests {
		_, err := Open(ctx, tt.url, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to say %q", name, err, tt.want)
			continue
		}
		for _, secret := range []string{"secretpw", "not-the-" + pass} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: err = %v shows the password", name, err)
			}
		}
	}
}

// TestSchemaVersions: a newer schema is refused by Open and OpenReadOnly;
// an empty database is not an offbox one; a read-only store refuses
// writes and coordination.
func TestSchemaVersions(t *testing.T) {
	t.Parallel()
	if _, err := OpenReadOnly(ctx, pgtest.URL(t), Options{}); err == nil || !strings.Contains(err.Error(), "not an offbox-ingest database") {
		t.Errorf("OpenReadOnly of an empty database: err = %v", err)
	}
	s, url := tempStore(t)
	dev := batchtest.NewDevice("d")
	commit(t, s, dev, dev.Next(batchtest.Heartbeat(1)), 0)
	ro, err := OpenReadOnly(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if h, err := ro.Head(ctx, "d"); err != nil || h.Seq != 1 {
		t.Errorf("read-only Head = %+v, %v", h, err)
	}
	if err := ro.CommitBatch(ctx, batchtest.Commit("d", dev.Next(batchtest.Heartbeat(2)), 1)); !errors.Is(err, errReadOnly) {
		t.Errorf("read-only CommitBatch: err = %v", err)
	}
	if _, err := ro.Prune(ctx, time.Now(), time.Now()); !errors.Is(err, errReadOnly) {
		t.Errorf("read-only Prune: err = %v", err)
	}
	if _, _, _, err := ro.LockDevice(ctx, "d"); !errors.Is(err, errReadOnly) {
		t.Errorf("read-only LockDevice: err = %v", err)
	}
	s.Close()
	if err := s.CommitBatch(ctx, batchtest.Commit("d", dev.Next(batchtest.Heartbeat(2)), 1)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("CommitBatch after Close: err = %v, want ErrClosed", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, url, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Errorf("Open of a newer schema: err = %v", err)
	}
	if _, err := OpenReadOnly(ctx, url, Options{}); err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("OpenReadOnly of a newer schema: err = %v", err)
	}
}

// TestGroupFailureIsolated: in one transaction, a failing write is rolled
// back alone (its savepoint); the writes before and after it are stored
// and told so.
func TestGroupFailureIsolated(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	batches := storetest.GroupWithFailure(t, s)
	group := make([]*op, len(batches))
	for i, bt := range batches {
		group[i] = &op{Size: len(bt.Bytes), Done: make(chan error, 1), Apply: func(ctx context.Context, tx pgx.Tx) error {
			_, err := s.commitBatch(ctx, tx, bt, bt.Decoded)
			return err
		}}
	}
	s.w.commitGroup(group)
	errs := make([]error, len(group))
	for i, o := range group {
		errs[i] = <-o.Done
	}
	storetest.CheckGroupWithFailure(t, s, errs)
	// The rolled-back op gave its row back: rows stay gapless.
	bs, err := s.BatchesAfter(ctx, 0, 10)
	if err != nil || len(bs) != 3 {
		t.Fatalf("BatchesAfter = %d, %v; want 3", len(bs), err)
	}
	for i, bt := range bs {
		if bt.Row != int64(i+1) {
			t.Errorf("batch %d has row %d, want %d", i, bt.Row, i+1)
		}
	}
}

// TestPruneCheckpointsFromBytes: segments stored before they kept their
// file's fingerprint (schema 1) still give a removal its checkpoints, read
// from the batch bytes.
func TestPruneCheckpointsFromBytes(t *testing.T) {
	t.Parallel()
	s, url := tempStore(t)
	storetest.PruneKeepsCheckpoints(t, s, func() {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `UPDATE segments SET file_fp_len = NULL, file_fp = NULL`); err != nil {
			t.Fatal(err)
		}
	})
}
