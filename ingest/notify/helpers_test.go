package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// fakeOutbox is the delivery part of store.AlertStore in memory: the four
// methods detection and delivery use, with the semantics store.go states.
type fakeOutbox struct {
	mu         sync.Mutex
	nextID     int64
	alerts     map[string]*store.Alert // by GroupID
	deliveries []*store.Delivery       // Alert left empty; filled on read
	finishes   []store.Delivery        // every FinishDelivery, in order
	dueCalls   map[string]int          // DueDeliveries calls by sink
}

func newFakeOutbox() *fakeOutbox {
	return &fakeOutbox{alerts: map[string]*store.Alert{}, dueCalls: map[string]int{}}
}

func (f *fakeOutbox) SaveAlerts(_ context.Context, s store.AlertSave) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range s.Alerts {
		a := u.Alert
		if old, ok := f.alerts[a.GroupID]; ok {
			a.ID, a.Created = old.ID, old.Created
		} else {
			f.nextID++
			a.ID, a.Created = f.nextID, s.Now
		}
		a.Updated = s.Now
		f.alerts[a.GroupID] = &a
		for _, sink := range u.Sinks {
			i := slices.IndexFunc(f.deliveries, func(d *store.Delivery) bool { return d.AlertID == a.ID && d.Sink == sink })
			if i < 0 {
				f.deliveries = append(f.deliveries, &store.Delivery{AlertID: a.ID, Sink: sink})
				i = len(f.deliveries) - 1
			}
			d := f.deliveries[i]
			d.State, d.NextAttempt, d.Delivered = store.DeliveryPending, s.Now, time.Time{}
		}
	}
	return nil
}

func (f *fakeOutbox) alertByID(id int64) store.Alert {
	for _, a := range f.alerts {
		if a.ID == id {
			return *a
		}
	}
	panic(fmt.Sprintf("no alert %d", id))
}

func (f *fakeOutbox) DueDeliveries(_ context.Context, sink string, now time.Time, limit int) ([]store.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dueCalls[sink]++
	var out []store.Delivery
	for _, d := range f.deliveries {
		if d.Sink == sink && d.State == store.DeliveryPending && !d.NextAttempt.After(now) {
			c := *d
			c.Alert = f.alertByID(d.AlertID)
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b store.Delivery) int {
		if c := a.NextAttempt.Compare(b.NextAttempt); c != 0 {
			return c
		}
		return int(a.AlertID - b.AlertID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeOutbox) FinishDelivery(_ context.Context, d store.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.deliveries {
		if s.AlertID == d.AlertID && s.Sink == d.Sink {
			s.State, s.Attempts, s.NextAttempt, s.LastError, s.Delivered = d.State, d.Attempts, d.NextAttempt, d.LastError, d.Delivered
			f.finishes = append(f.finishes, d)
			return nil
		}
	}
	return fmt.Errorf("no delivery of alert %d to %s", d.AlertID, d.Sink)
}

func (f *fakeOutbox) PendingDeliveries(context.Context) (map[string]int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, d := range f.deliveries {
		if d.State == store.DeliveryPending {
			out[d.Sink]++
		}
	}
	return out, nil
}

// delivery is the stored delivery of the alert with groupID to sink.
func (f *fakeOutbox) delivery(t *testing.T, groupID, sink string) store.Delivery {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.alerts[groupID]
	if !ok {
		t.Fatalf("no alert %s", groupID)
	}
	for _, d := range f.deliveries {
		if d.AlertID == a.ID && d.Sink == sink {
			return *d
		}
	}
	t.Fatalf("no delivery of %s to %s", groupID, sink)
	return store.Delivery{}
}

func (f *fakeOutbox) dueCallCount(sink string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dueCalls[sink]
}

// pendingOutbox is what the tests need to wait for delivery: the fake and
// the real store both have it.
type pendingOutbox interface {
	PendingDeliveries(context.Context) (map[string]int, error)
}

// waitDelivered waits until nothing is pending in o.
func waitDelivered(t *testing.T, o pendingOutbox) {
	t.Helper()
	waitFor(t, "every delivery delivered", func() bool {
		p, err := o.PendingDeliveries(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(p) == 0 || sum(p) == 0
	})
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// waitFor polls cond until it holds, failing after a generous deadline; no
// test depends on how fast something happens, only that it does.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receiver is an HTTP endpoint that records what it accepts.
type receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests int                 // every request, accepted or not
	accepted []recorded          // requests answered 2xx
	byGroup  map[string]int      // accepted requests by Idempotency-Key
	status   func(n int) int     // the status for the n-th request (1-based); nil: 200
	hold     func(*http.Request) // runs before answering; nil: answer at once
}

type recorded struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{byGroup: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests++
	n := r.requests
	status, hold := http.StatusOK, r.hold
	if r.status != nil {
		status = r.status(n)
	}
	r.mu.Unlock()
	if hold != nil {
		hold(req)
		if req.Context().Err() != nil {
			return
		}
	}
	if status/100 == 2 {
		r.mu.Lock()
		r.accepted = append(r.accepted, recorded{Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
		r.byGroup[req.Header.Get("Idempotency-Key")]++
		r.mu.Unlock()
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "answer %d to request %d", status, n)
}

func (r *receiver) acceptedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted)
}

func (r *receiver) snapshot() ([]recorded, map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for k, v := range r.byGroup {
		m[k] = v
	}
	return slices.Clone(r.accepted), m
}

// run starts d.Run and stops it when the test ends, checking it returns.
func run(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// testLogger discards below error level, and fails nothing: tests assert
// on outcomes, not on logs.
func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// alertN is a distinct test alert.
func alertN(i int) store.Alert {
	first := time.Date(2026, 3, 1, 12, 0, i, 123456789, time.UTC)
	return store.Alert{
		GroupID:  fmt.Sprintf("auth_failure/router%d/root", i),
		Kind:     "auth_failure",
		Severity: store.SeverityWarning,
		Device:   fmt.Sprintf("router%d", i),
		Key:      "root",
		Summary:  fmt.Sprintf("failed login for root on router%d", i),
		Fields:   map[string]string{"user": "root", "from": "10.0.0.9"},
		Labels:   map[string]string{"site": "ams"},
		First:    first,
		Last:     first.Add(time.Minute),
		Count:    i + 1,
		Evidence: []store.AlertRef{{Device: fmt.Sprintf("router%d", i), Seq: uint64(10 + i), Index: 2}},
	}
}

// save stores alerts, each queued for sinks.
func save(t *testing.T, s interface {
	SaveAlerts(context.Context, store.AlertSave) error
}, now time.Time, alerts []store.Alert, sinks ...string) {
	t.Helper()
	var ups []store.AlertUpsert
	for _, a := range alerts {
		ups = append(ups, store.AlertUpsert{Alert: a, Sinks: sinks})
	}
	if err := s.SaveAlerts(context.Background(), store.AlertSave{Alerts: ups, Now: now}); err != nil {
		t.Fatal(err)
	}
}

func decodeWebhook(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("webhook body %s: %v", body, err)
	}
	return m
}
