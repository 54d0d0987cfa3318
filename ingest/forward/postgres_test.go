package forward

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/leader"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
)

// idleDetector stands in for detection on a leader: it has read
// everything and waits.
type idleDetector struct{ caught chan struct{} }

func (d idleDetector) Offer(*store.Batch)              {}
func (d idleDetector) CaughtUp() <-chan struct{}       { return d.caught }
func (d idleDetector) Run(ctx context.Context) error   { <-ctx.Done(); return nil }
func (idleDetector) deliver(ctx context.Context) error { <-ctx.Done(); return nil }

type runFunc func(context.Context) error

func (f runFunc) Run(ctx context.Context) error { return f(ctx) }

// TestForwardPostgresLeaderOnly: two collectors share a PostgreSQL store,
// each with the same forward sink; only the leader forwards. When it
// stops, the other takes over from the cursor in the shared store: every
// record arrives once (HTTP: nothing acknowledged is sent again).
func TestForwardPostgresLeaderOnly(t *testing.T) {
	url := pgtest.URL(t)
	var sts []*postgres.Store
	for range 2 {
		st, err := postgres.Open(ctx, url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		sts = append(sts, st)
	}
	fl := newFleet("router-1", "sw-2")
	fl.commit(t, sts[0], 3, 200, 80)
	var mu sync.Mutex
	servedBy := map[string]int{} // requests by the collector that sent them
	srv, got, _ := httpDestination(t, FormatNDJSON, false, func(r *http.Request) bool {
		mu.Lock()
		servedBy[r.Header.Get("X-Collector")]++
		mu.Unlock()
		return false
	})
	stops := make([]context.CancelFunc, 2)
	dones := make([]chan struct{}, 2)
	for i, st := range sts {
		fw, err := New(Config{Store: st, Logger: quietLogger(), Poll: 20 * time.Millisecond, MinBackoff: 20 * time.Millisecond,
			Sinks: []SinkConfig{{Name: "siem", Type: TypeHTTP, URL: srv.URL, BatchRecords: 50,
				Headers: map[string]string{"Authorization": "Bearer t0ken", "X-Collector": fmt.Sprint(i)}}}})
		if err != nil {
			t.Fatal(err)
		}
		det := idleDetector{caught: make(chan struct{})}
		close(det.caught)
		l, err := leader.New(leader.Config{Coordinator: st, Detector: det, Delivery: runFunc(det.deliver), Forward: fw, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		c, cancel := context.WithCancel(ctx)
		stops[i], dones[i] = cancel, make(chan struct{})
		go func() { defer close(dones[i]); l.Run(c) }()
	}
	defer func() {
		for i := range stops {
			stops[i]()
			<-dones[i]
		}
	}()
	waitFor(t, 30*time.Second, "the first records", func() bool { return got.count() >= fl.total })
	mu.Lock()
	if len(servedBy) != 1 {
		t.Errorf("requests by collector: %v; want one collector (the leader) only", servedBy)
	}
	var first int
	for k := range servedBy {
		first, _ = strconv.Atoi(k)
	}
	mu.Unlock()

	// The leader goes; the other leads and forwards what comes next.
	stops[first]()
	<-dones[first]
	fl.commit(t, sts[1-first], 2, 200, 80)
	waitFor(t, 30*time.Second, "the records stored after the leader went", func() bool { return got.count() >= fl.total })
	if dups := got.check(t, fl.want); dups != 0 {
		t.Errorf("%d records arrived twice", dups)
	}
	mu.Lock()
	if servedBy[fmt.Sprint(1-first)] == 0 {
		t.Errorf("requests by collector: %v; the second leader sent nothing", servedBy)
	}
	mu.Unlock()
}
