package search_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/search"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/seal"
)

type testStore interface {
	search.Store
	search.IndexStore
	store.Ingester
	store.Retention
	SaveAlerts(ctx context.Context, s store.AlertSave) error
	Close() error
}

// engine opens a fresh store and runs SQL on it behind the store's back
// (to tamper with the index).
type engine struct {
	name string
	open func(t *testing.T) (testStore, func(query string))
}

var engines = []engine{
	{"sqlite", func(t *testing.T) (testStore, func(string)) {
		path := filepath.Join(t.TempDir(), "s.db")
		st, err := sqlite.Open(path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(q string) {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}},
	{"postgres", func(t *testing.T) (testStore, func(string)) {
		url := pgtest.URL(t)
		st, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, func(q string) {
			conn, err := pgx.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}},
}

var ctx = context.Background()

var base = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// fill stores 3 devices x 8 batches of 20 lines from two sources; every
// 7th line is a failed password.
func fill(t *testing.T, st store.Ingester) {
	t.Helper()
	n := 0
	for b := range 8 {
		for _, name := range []string{"r1", "r2", "sw3"} {
			dev := devices[name]
			var recs []seal.WireRecord
			for i := range 20 {
				n++
				src, body := "file:/var/log/syslog", fmt.Sprintf("kernel: eth0 link up speed %d line %d", 100*(i%3), n)
				if n%7 == 0 {
					src, body = "file:/var/log/auth.log", fmt.Sprintf("sshd[%d]: Failed password for root from 10.0.%d.%d port 22", n, b, i)
				}
				recs = append(recs, seal.WireRecord{TimeNs: base.Add(time.Duration(n) * time.Second).UnixNano(), Kind: 1, Source: src, Body: []byte(body)})
			}
			sealed := dev.Next(recs...)
			c := batchtest.Commit(name, sealed, sealed.Seq-1)
			c.Received = base.Add(time.Duration(n) * time.Second)
			if err := st.CommitBatch(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
}

var devices map[string]*batchtest.Device

func newDevices() {
	devices = map[string]*batchtest.Device{}
	for _, n := range []string{"r1", "r2", "sw3"} {
		devices[n] = batchtest.NewDevice(n)
	}
}

// brute is every stored record matching q, newest received first, by
// reading all records.
func brute(t *testing.T, st store.Reader, q *search.Query, source string) []string {
	t.Helper()
	var out []store.Record
	m := q.Matcher()
	for r, err := range st.Records(ctx, store.RecordQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		if (source == "" || r.GetSource() == source) && m.Match(r.GetBody()) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b store.Record) int {
		if c := b.Received.Compare(a.Received); c != 0 {
			return c
		}
		return b.Index - a.Index
	})
	var refs []string
	for _, r := range out {
		refs = append(refs, search.Ref(&r))
	}
	return refs
}

func all(t *testing.T, st search.Store, req search.Request) []string {
	t.Helper()
	var refs []string
	for {
		p, err := search.Run(ctx, st, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Results {
			refs = append(refs, search.Ref(&r.Record))
		}
		if p.Next == "" {
			return refs
		}
		req.Cursor = p.Next
	}
}

func TestSearch(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			newDevices()
			st, exec := e.open(t)
			fill(t, st)
			// Index part of the store: the rest is scanned without filters.
			x := &search.Indexer{Store: st, Batch: 10}
			if n, err := x.Step(ctx); err != nil || n != 10 {
				t.Fatalf("indexer step: %d, %v", n, err)
			}
			for _, query := range []string{`"failed password" root`, `re:"port \d+$" -"10.0.3"`, "speed", "nothing-matches", "-speed"} {
				q, err := search.Parse(query)
				if err != nil {
					t.Fatal(err)
				}
				want := brute(t, st, q, "")
				for _, limit := range []int{1, 3, 1000} {
					if got := all(t, st, search.Request{Query: q, Limit: limit}); !slices.Equal(got, want) {
						t.Fatalf("%q limit %d: got %d results %v,\nwant %d %v", query, limit, len(got), got, len(want), want)
					}
				}
				p, err := search.Run(ctx, st, search.Request{Query: q, Count: true})
				if err != nil || p.Count != int64(len(want)) {
					t.Fatalf("%q count: %d, %v; want %d", query, p.Count, err, len(want))
				}
				asc := all(t, st, search.Request{Query: q, Asc: true, Limit: 4})
				slices.Reverse(asc)
				if !slices.Equal(asc, want) {
					t.Fatalf("%q -asc: got %v, want reversed %v", query, asc, want)
				}
			}
			q, _ := search.Parse("failed")
			if len(brute(t, st, q, "")) == 0 {
				t.Fatal("no failed lines stored")
			}
			// The whole store indexed: a word no batch holds skips them all.
			for {
				if n, err := x.Step(ctx); err != nil {
					t.Fatal(err)
				} else if n == 0 {
					break
				}
			}
			q, _ = search.Parse("nothing-matches")
			p, err := search.Run(ctx, st, search.Request{Query: q})
			if err != nil || p.Stats.Batches != 24 || p.Stats.Skipped < 20 || p.Stats.Unindexed != 0 || p.Stats.FullScan {
				t.Fatalf("indexed store: %+v, %v", p.Stats, err)
			}
			q, _ = search.Parse("-xyz")
			if p, err = search.Run(ctx, st, search.Request{Query: q, Count: true}); err != nil || !p.Stats.FullScan || p.Stats.Scanned != 24 {
				t.Fatalf("a query without words must say it scanned everything: %+v, %v", p.Stats, err)
			}

			// Filters by device, source and time.
			q, _ = search.Parse("failed")
			got := all(t, st, search.Request{Query: q, Devices: []string{"r2"}, Source: "file:/var/log/auth.log",
				Since: base.Add(100 * time.Second), Until: base.Add(300 * time.Second)})
			for _, ref := range got {
				if !strings.HasPrefix(ref, "r2/") {
					t.Fatalf("device filter: %s", ref)
				}
			}
			if len(got) == 0 {
				t.Fatal("device+time search found nothing")
			}
			if p, _ := search.Run(ctx, st, search.Request{Query: q, Devices: []string{}}); len(p.Results) != 0 {
				t.Fatal("an empty device list (labels matching none) must find nothing")
			}

			// Context: the lines of the same device and source around a result.
			p, err = search.Run(ctx, st, search.Request{Query: q, Devices: []string{"r1"}, Limit: 1, Context: 2})
			if err != nil || len(p.Results) != 1 {
				t.Fatal(err)
			}
			r := p.Results[0]
			var same []string
			for rec, err := range st.Records(ctx, store.RecordQuery{Device: "r1", Source: r.GetSource()}) {
				if err != nil {
					t.Fatal(err)
				}
				same = append(same, search.Ref(&rec))
			}
			at := slices.Index(same, search.Ref(&r.Record))
			var ctxRefs []string
			for _, c := range append(append(slices.Clone(r.Before), r.Record), r.After...) {
				ctxRefs = append(ctxRefs, search.Ref(&c))
			}
			if want := same[max(0, at-2):min(len(same), at+3)]; !slices.Equal(ctxRefs, want) {
				t.Fatalf("context: got %v, want %v", ctxRefs, want)
			}

			// Retention removes the filters with their batches.
			defer func() {
				bs, err := st.SearchBatches(ctx, store.SearchQuery{})
				if err != nil || len(bs) != 24 {
					t.Fatalf("before prune: %d batches, %v", len(bs), err)
				}
				if err := st.SaveAlerts(ctx, store.AlertSave{Cursor: &store.Cursor{BatchRow: 1 << 40}, Now: base}); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Prune(ctx, base.Add(1000*time.Hour), base.Add(1000*time.Hour)); err != nil {
					t.Fatal(err)
				}
				for i := range bs {
					bs[i].Filter = nil
				}
				if err := st.LoadSearchFilters(ctx, bs); err != nil {
					t.Fatal(err)
				}
				for _, b := range bs {
					if b.Filter != nil {
						t.Fatalf("filter of %s/%d kept after its batch was pruned", b.Device, b.Seq)
					}
				}
			}()
			// A tampered index shows no false result: every filter claims
			// every word, and segments are relabelled as another source.
			want := brute(t, st, q, "")
			exec(`UPDATE search_filters SET bits = ` + allOnes(e.name))
			exec(`UPDATE segments SET source = 'file:/var/log/auth.log'`)
			if got := all(t, st, search.Request{Query: q}); !slices.Equal(got, want) {
				t.Fatalf("tampered index: got %v, want %v", got, want)
			}
			q2, _ := search.Parse("speed")
			if got := all(t, st, search.Request{Query: q2, Source: "file:/var/log/auth.log"}); len(got) != 0 {
				t.Fatalf("relabelled segments invented %d results: %v", len(got), got)
			}
		})
	}
}

// allOnes is a filter of 4096 set bits in each engine's SQL.
func allOnes(engine string) string {
	hex := "0106" + strings.Repeat("ff", 512)
	if engine == "sqlite" {
		return "X'" + hex + "'"
	}
	return `'\x` + hex + `'::bytea`
}

func TestBadCursor(t *testing.T) {
	newDevices()
	st, _ := engines[0].open(t)
	q, _ := search.Parse("x")
	for _, c := range []string{"!!", "eA", "MS4yLjM"} {
		if _, err := search.Run(ctx, st, search.Request{Query: q, Cursor: c}); err == nil {
			t.Errorf("cursor %q accepted", c)
		}
	}
}

func TestTimeout(t *testing.T) {
	newDevices()
	st, _ := engines[0].open(t)
	fill(t, st)
	q, _ := search.Parse("speed")
	c, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	p, err := search.Run(c, st, search.Request{Query: q, Count: true})
	if err != nil || p.Stats.Stopped != "timeout" {
		t.Fatalf("got %+v, %v; want a page stopped by timeout", p, err)
	}
}

// TestOfferedBatches: filters built from the records the server decoded
// (Offer) are the filters of the stored bytes, whether a batch was offered
// or not, and an offer that names another batch of that row is ignored.
func TestOfferedBatches(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { testOfferedBatches(t, e) })
	}
}

func testOfferedBatches(t *testing.T, e engine) {
	newDevices()
	st, _ := e.open(t)
	offered := &search.Indexer{Store: st, Batch: 5}
	want := map[string][]byte{} // device/seq → the filter of its stored bytes
	var plain search.Indexer
	n := 0
	for b := range 6 {
		for _, name := range []string{"r1", "r2", "sw3"} {
			n++
			sealed := devices[name].Next(seal.WireRecord{TimeNs: base.Add(time.Duration(n) * time.Second).UnixNano(), Kind: 1,
				Source: "file:/var/log/auth.log", Body: []byte(fmt.Sprintf("sshd[%d]: Failed password for user%d from 10.0.0.%d", n, b, n))})
			c := batchtest.Commit(name, sealed, sealed.Seq-1)
			c.Received = base.Add(time.Duration(n) * time.Second)
			if err := st.CommitBatch(ctx, c); err != nil {
				t.Fatal(err)
			}
			f, err := plain.Filter(sealed.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			want[fmt.Sprintf("%s/%d", name, sealed.Seq)] = f
			switch n % 3 {
			case 0: // offered as committed
				offered.Offer(c)
			case 1: // an offer for this row that is another batch: not used
				other := *c
				other.Decoded = batchtest.Commit("x", batchtest.NewDevice("x").Next(seal.WireRecord{Kind: 1, Body: []byte("unrelated words only")}), 0).Decoded
				other.Device = "elsewhere"
				offered.Offer(&other)
			} // else not offered: read and decoded from the store
		}
	}
	for {
		k, err := offered.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	bs, err := st.SearchBatches(ctx, store.SearchQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.LoadSearchFilters(ctx, bs); err != nil {
		t.Fatal(err)
	}
	if len(bs) != len(want) {
		t.Fatalf("%d batches, want %d", len(bs), len(want))
	}
	for _, b := range bs {
		key := fmt.Sprintf("%s/%d", b.Device, b.Seq)
		if !bytes.Equal(b.Filter, want[key]) {
			t.Errorf("filter of %s differs from its stored bytes' filter", key)
		}
	}
}

// TestIndexerWokenByOffers: an idle indexer does not sleep its Idle out
// while offers pile up towards the bound past which they are dropped
// (and read back from the store).
func TestIndexerWokenByOffers(t *testing.T) {
	e := engines[0]
	newDevices()
	st, _ := e.open(t)
	x := &search.Indexer{Store: st, Idle: time.Hour}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(rctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // Run found nothing and waits its hour
	var last int64
	for n := range 40 {
		sealed := devices["r1"].Next(seal.WireRecord{TimeNs: base.Add(time.Duration(n) * time.Second).UnixNano(), Kind: 1,
			Source: "file:/var/log/syslog", Body: []byte(fmt.Sprintf("line %d", n))})
		c := batchtest.Commit("r1", sealed, sealed.Seq-1)
		c.Received = base.Add(time.Duration(n) * time.Second)
		if err := st.CommitBatch(ctx, c); err != nil {
			t.Fatal(err)
		}
		x.Offer(c)
		last = c.Row
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cur, err := st.SearchCursor(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cur >= last/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexer cursor at %d after 10 s with %d batches offered: not woken", cur, 40)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
