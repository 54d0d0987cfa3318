package notify

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

func newDispatcher(t *testing.T, out Outbox, sinks ...SinkConfig) *Dispatcher {
	t.Helper()
	return newDispatcherAt(t, nil, out, sinks...)
}

// newDispatcherAt is newDispatcher with a clock; a stopped clock makes a
// failed delivery never due again, so a test can count one attempt's
// requests.
func newDispatcherAt(t *testing.T, now func() time.Time, out Outbox, sinks ...SinkConfig) *Dispatcher {
	t.Helper()
	d, err := New(Config{Sinks: sinks, Outbox: out, Logger: testLogger(), Poll: 50 * time.Millisecond, Collector: "ingest1", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestWebhookDeliversEachAlertOnce(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	out := newFakeOutbox()
	d := newDispatcher(t, out, SinkConfig{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL + "/offbox",
		Headers: map[string]string{"Authorization": "Bearer s3cret"}})
	var alerts []store.Alert
	for i := range 40 { // more than one round of dueBatch
		alerts = append(alerts, alertN(i))
	}
	save(t, out, time.Now(), alerts, "hook")
	run(t, d)
	d.Kick()
	waitDelivered(t, out)

	got, byGroup := rcv.snapshot()
	if len(got) != len(alerts) {
		t.Errorf("receiver accepted %d requests, want %d", len(got), len(alerts))
	}
	for _, a := range alerts {
		if n := byGroup[a.GroupID]; n != 1 {
			t.Errorf("%s delivered %d times, want once", a.GroupID, n)
		}
	}
	for _, r := range got {
		if r.Path != "/offbox" {
			t.Errorf("path %q, want /offbox", r.Path)
		}
		if g, w := r.Header.Get("Authorization"), "Bearer s3cret"; g != w {
			t.Errorf("Authorization %q, want %q", g, w)
		}
		if g := r.Header.Get("Content-Type"); g != "application/json" {
			t.Errorf("Content-Type %q", g)
		}
		m := decodeWebhook(t, r.Body)
		if m["group_id"] != r.Header.Get("Idempotency-Key") {
			t.Errorf("Idempotency-Key %q, body group_id %v", r.Header.Get("Idempotency-Key"), m["group_id"])
		}
	}
	// Fields of one alert, as the receiver saw them.
	a := alerts[7]
	for _, r := range got {
		m := decodeWebhook(t, r.Body)
		if m["group_id"] != a.GroupID {
			continue
		}
		want := map[string]any{"kind": a.Kind, "severity": a.Severity, "device": a.Device, "key": a.Key,
			"summary": a.Summary, "count": float64(a.Count), "first": "2026-03-01T12:00:07.123456789Z",
			"last": "2026-03-01T12:01:07.123456789Z", "collector": "ingest1"}
		for k, w := range want {
			if m[k] != w {
				t.Errorf("%s: got %v, want %v", k, m[k], w)
			}
		}
		if f := m["fields"].(map[string]any); f["user"] != "root" || f["from"] != "10.0.0.9" {
			t.Errorf("fields %v", f)
		}
		if id := m["id"].(float64); id < 1 {
			t.Errorf("id %v, want the stored id", id)
		}
	}
	st := d.Stats()["hook"]
	if st.Sent != uint64(len(alerts)) || st.Failed != 0 {
		t.Errorf("Stats %+v, want Sent %d Failed 0", st, len(alerts))
	}
	dl := out.delivery(t, alerts[0].GroupID, "hook")
	if dl.State != store.DeliveryDelivered || dl.Delivered.IsZero() || dl.Attempts != 1 || dl.LastError != "" {
		t.Errorf("stored delivery %+v, want delivered after 1 attempt", dl)
	}
}

func TestWebhookRetriesUntilAccepted(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.status = func(n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	out := newFakeOutbox()
	d := newDispatcher(t, out, SinkConfig{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL})
	alerts := []store.Alert{alertN(1), alertN(2), alertN(3)}
	save(t, out, time.Now(), alerts, "hook")
	run(t, d)
	waitDelivered(t, out)

	_, byGroup := rcv.snapshot()
	for _, a := range alerts {
		if n := byGroup[a.GroupID]; n != 1 {
			t.Errorf("%s accepted %d times, want once", a.GroupID, n)
		}
		if dl := out.delivery(t, a.GroupID, "hook"); dl.State != store.DeliveryDelivered || dl.Delivered.IsZero() {
			t.Errorf("%s: stored %+v, want delivered", a.GroupID, dl)
		}
	}
	// The first alert took all three 500s (retryablehttp's 2 retries) in
	// one attempt, which was recorded as pending with the error and a
	// backoff, then delivered.
	first := out.delivery(t, alerts[0].GroupID, "hook")
	if first.Attempts != 2 {
		t.Errorf("first alert attempts %d, want 2", first.Attempts)
	}
	out.mu.Lock()
	fail := out.finishes[0]
	out.mu.Unlock()
	if fail.State != store.DeliveryPending || !strings.HasPrefix(fail.LastError, "HTTP 500: answer 500 to request 3") {
		t.Errorf("first outcome %+v, want pending with HTTP 500 and the body", fail)
	}
	if wait := time.Until(fail.NextAttempt); wait > firstBackoff {
		t.Errorf("next attempt in %s, want at most %s", wait, firstBackoff)
	}
	if st := d.Stats()["hook"]; st.Sent != 3 || st.Failed != 1 {
		t.Errorf("Stats %+v, want Sent 3 Failed 1", st)
	}
}

func TestHangingSinkDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := newReceiver(t)
	slow.hold = func(r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	fast := newReceiver(t)
	out := newFakeOutbox()
	d := newDispatcher(t, out,
		SinkConfig{Name: "slow", Type: TypeWebhook, URL: slow.srv.URL, Timeout: time.Minute},
		SinkConfig{Name: "fast", Type: TypeWebhook, URL: fast.srv.URL})
	alerts := []store.Alert{alertN(1), alertN(2), alertN(3)}
	save(t, out, time.Now(), alerts, "slow", "fast")
	run(t, d)

	// The slow sink holds its first request until released, so the fast
	// one can only finish if it does not wait for the slow one.
	waitFor(t, "fast sink to get every alert while the slow one hangs", func() bool {
		return fast.acceptedCount() == len(alerts)
	})
	if n := slow.acceptedCount(); n != 0 {
		t.Fatalf("slow sink accepted %d before release", n)
	}
	close(release)
	waitDelivered(t, out)
	for _, r := range []*receiver{slow, fast} {
		_, byGroup := r.snapshot()
		for _, a := range alerts {
			if byGroup[a.GroupID] != 1 {
				t.Errorf("%s got %s %d times, want once", r.srv.URL, a.GroupID, byGroup[a.GroupID])
			}
		}
	}
}

func TestTimeoutLeavesDeliveryPending(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.hold = func(r *http.Request) { <-r.Context().Done() }
	out := newFakeOutbox()
	stopped := time.Now().Add(time.Minute) // after the save below
	d := newDispatcherAt(t, func() time.Time { return stopped }, out, SinkConfig{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL, Timeout: 100 * time.Millisecond})
	a := alertN(1)
	save(t, out, time.Now(), []store.Alert{a}, "hook")
	run(t, d)
	waitFor(t, "a failed attempt recorded", func() bool { return out.delivery(t, a.GroupID, "hook").Attempts > 0 })
	dl := out.delivery(t, a.GroupID, "hook")
	if dl.State != store.DeliveryPending || !strings.Contains(dl.LastError, "Timeout") {
		t.Errorf("stored %+v, want pending with a timeout error", dl)
	}
	rcv.mu.Lock()
	n := rcv.requests
	rcv.mu.Unlock()
	if n != 1+retryMax {
		t.Errorf("receiver saw %d requests, want %d (1 + retries)", n, 1+retryMax)
	}
}

func TestRejectedAlertIsKept(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.status = func(int) int { return http.StatusBadRequest }
	out := newFakeOutbox()
	stopped := time.Now().Add(time.Minute) // after the save below
	d := newDispatcherAt(t, func() time.Time { return stopped }, out, SinkConfig{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL})
	a := alertN(1)
	save(t, out, time.Now(), []store.Alert{a}, "hook")
	run(t, d)
	waitFor(t, "a failed attempt recorded", func() bool { return out.delivery(t, a.GroupID, "hook").Attempts > 0 })
	dl := out.delivery(t, a.GroupID, "hook")
	if dl.State != store.DeliveryPending || dl.LastError != "HTTP 400: answer 400 to request 1" {
		t.Errorf("stored %+v, want pending with the 400 and its body", dl)
	}
	if !dl.NextAttempt.After(stopped) {
		t.Errorf("next attempt %s, want a backoff from now", dl.NextAttempt)
	}
	rcv.mu.Lock()
	n := rcv.requests
	rcv.mu.Unlock()
	if n != 1 {
		t.Errorf("receiver saw %d requests, want 1: a 400 is not retried within an attempt", n)
	}
}

func TestKickWakesSinks(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	out := newFakeOutbox()
	d, err := New(Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL}},
		Outbox: out, Logger: testLogger(), Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	waitFor(t, "the first look for due deliveries", func() bool { return out.dueCallCount("hook") > 0 })
	save(t, out, time.Now(), []store.Alert{alertN(1)}, "hook")
	d.Kick()
	d.Kick() // never blocks, even with a wake-up pending
	waitDelivered(t, out)
	if n := rcv.acceptedCount(); n != 1 {
		t.Errorf("accepted %d, want 1", n)
	}
}

func TestAlertmanagerSinkPostsToAPI(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	out := newFakeOutbox()
	d := newDispatcher(t, out, SinkConfig{Name: "am", Type: TypeAlertmanager, URL: rcv.srv.URL + "/prefix/"})
	save(t, out, time.Now(), []store.Alert{alertN(1)}, "am")
	run(t, d)
	waitDelivered(t, out)
	got, _ := rcv.snapshot()
	if len(got) != 1 {
		t.Fatalf("got %d requests, want 1", len(got))
	}
	if got[0].Path != "/prefix/api/v2/alerts" {
		t.Errorf("path %q, want /prefix/api/v2/alerts", got[0].Path)
	}
	var body []amAlert
	if err := json.Unmarshal(got[0].Body, &body); err != nil || len(body) != 1 {
		t.Fatalf("body %s: %v", got[0].Body, err)
	}
	if body[0].Labels["offbox_group"] != alertN(1).GroupID {
		t.Errorf("labels %v", body[0].Labels)
	}
}

func TestHTTPSWithCA(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	out := newFakeOutbox()
	d := newDispatcher(t, out,
		SinkConfig{Name: "trusted", Type: TypeWebhook, URL: srv.URL, CA: ca},
		SinkConfig{Name: "untrusted", Type: TypeWebhook, URL: srv.URL})
	a := alertN(1)
	save(t, out, time.Now(), []store.Alert{a}, "trusted", "untrusted")
	run(t, d)
	waitFor(t, "both sinks tried", func() bool {
		return out.delivery(t, a.GroupID, "trusted").State == store.DeliveryDelivered &&
			out.delivery(t, a.GroupID, "untrusted").Attempts > 0
	})
	if dl := out.delivery(t, a.GroupID, "untrusted"); dl.State != store.DeliveryPending || !strings.Contains(dl.LastError, "certificate") {
		t.Errorf("untrusted: %+v, want pending with a certificate error", dl)
	}
}

func TestRunStopsAndKeepsUnfinished(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	rcv := newReceiver(t)
	rcv.hold = func(r *http.Request) {
		started <- struct{}{}
		<-r.Context().Done()
	}
	out := newFakeOutbox()
	d := newDispatcher(t, out, SinkConfig{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL, Timeout: time.Minute})
	a := alertN(1)
	save(t, out, time.Now(), []store.Alert{a}, "hook")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	<-started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if dl := out.delivery(t, a.GroupID, "hook"); dl.State != store.DeliveryPending || dl.Attempts != 0 {
		t.Errorf("stored %+v, want still pending with no attempt counted", dl)
	}
	if err := d.Run(context.Background()); err == nil {
		t.Error("second Run: want an error")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int
		max  time.Duration
		r    float64
		want time.Duration
	}{
		{1, 5 * time.Minute, 0, time.Second},
		{2, 5 * time.Minute, 0, 2 * time.Second},
		{3, 5 * time.Minute, 0, 4 * time.Second},
		{9, 5 * time.Minute, 0, 256 * time.Second},
		{10, 5 * time.Minute, 0, 5 * time.Minute},
		{1000, 5 * time.Minute, 0, 5 * time.Minute},
		{1, 5 * time.Minute, 0.5, 900 * time.Millisecond},
		{3, 3 * time.Second, 0, 3 * time.Second},
	} {
		if got := backoff(tc.n, tc.max, tc.r); got != tc.want {
			t.Errorf("backoff(%d, %s, %v) = %s, want %s", tc.n, tc.max, tc.r, got, tc.want)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Outbox: newFakeOutbox(), Sinks: []SinkConfig{{Name: "x", Type: "pager", URL: "http://h"}}}); err == nil {
		t.Error("bad sink: want an error")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("no outbox: want an error")
	}
}

func TestRejectionLoggedOncePerAlert(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.status = func(int) int { return http.StatusUnprocessableEntity }
	out := newFakeOutbox()
	var logs syncBuffer
	var clock atomic.Int64
	clock.Store(time.Now().Add(time.Minute).UnixNano())
	d, err := New(Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL}}, Outbox: out,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return time.Unix(0, clock.Load()) }, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a := alertN(1)
	save(t, out, time.Now(), []store.Alert{a}, "hook")
	run(t, d)
	for attempts := 1; attempts <= 3; attempts++ {
		waitFor(t, fmt.Sprintf("attempt %d", attempts), func() bool { return out.delivery(t, a.GroupID, "hook").Attempts >= attempts })
		clock.Add(int64(time.Hour)) // past any backoff
		d.Kick()
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error-level logs, want 1:\n%s", n, logs.String())
	}
	if dl := out.delivery(t, a.GroupID, "hook"); dl.State != store.DeliveryPending {
		t.Errorf("stored %+v, want pending: a rejected alert is kept", dl)
	}
}
