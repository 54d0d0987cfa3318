package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// eventLines counts the server's one-by-one integrity event lines.
func (h *harness) eventLines() int {
	return strings.Count(h.logs.String(), `msg="integrity event"`)
}

// TestMalformedFloodCounted: a device with a valid certificate sends
// 2,000 batches that do not decode. Each is REJECTED, the first 10 are
// stored and logged one by one, and the other 1,990 become one summary
// event and one WARN line (here at shutdown, the interval being an hour),
// not 1,990 rows and lines.
func TestMalformedFloodCounted(t *testing.T) {
	t.Parallel()
	h := startServer(t, func(c *Config) { c.EventInterval = time.Hour }, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	const n = 2000
	go func() {
		for range n {
			c.sendRaw([]byte{0xff, 0xff, 0xff, 0xff}, []byte("sig"))
		}
	}()
	for i := range n {
		a, err := c.ack()
		if err != nil {
			t.Fatalf("ack %d: %v", i+1, err)
		}
		if a.GetStatus() != offboxv1.Ack_STATUS_REJECTED {
			t.Fatalf("ack %d: %v, want REJECTED", i+1, a.GetStatus())
		}
	}
	if got := len(h.events("a")); got != DefaultEventsPerInterval {
		t.Errorf("before the interval ends: %d events stored, want %d", got, DefaultEventsPerInterval)
	}
	// The flood holds back no other kind: a bad signature is stored at once.
	s := c.dev.Seal(1, nil, batchtest.Heartbeat(1))
	c.sendRaw(s.Bytes, append([]byte{s.Sig[0] ^ 1}, s.Sig[1:]...))
	c.wantAck(1, offboxv1.Ack_STATUS_REJECTED)
	h.wantEvent("a", store.EventBadSignature, 1, "signature")
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	var evs []store.IntegrityEvent
	for _, e := range h.events("a") {
		if e.Kind == store.EventMalformed {
			evs = append(evs, e)
		}
	}
	if len(evs) != DefaultEventsPerInterval+1 {
		t.Fatalf("%d integrity rows for %d malformed batches, want %d (one by one) + 1 summary", len(evs), n, DefaultEventsPerInterval)
	}
	sum := evs[len(evs)-1]
	want := fmt.Sprintf("%d more malformed events", n-DefaultEventsPerInterval)
	if sum.Kind != store.EventMalformed || !strings.Contains(sum.Detail, want) {
		t.Errorf("summary event %+v, want a malformed one saying %q", sum, want)
	}
	if got := h.eventLines(); got != DefaultEventsPerInterval+1 {
		t.Errorf("%d integrity event lines, want %d malformed and 1 bad_signature", got, DefaultEventsPerInterval)
	}
	if got := strings.Count(h.logs.String(), "counted, not logged one by one"); got != 1 {
		t.Errorf("%d summary lines, want 1:\n%s", got, h.logs.String())
	}
}

// TestEventBudgetPerInterval: with a short interval, the summary is
// stored when the interval ends, without a shutdown, and the next
// interval starts with a fresh budget; a device that reconnects for
// every refusal (a Hello naming another device ends the stream) is held
// to the same budget across its streams.
func TestEventBudgetPerInterval(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := startServer(t, func(c *Config) {
		// The windows follow the injected clock; the summaries are
		// looked for every 25 ms of real time.
		c.Now, c.EventInterval, c.EventsPerInterval = clock, 100*time.Millisecond, 3
	}, "a", "b")
	for range 20 {
		c := h.dial(t, h.pki, "b")
		if _, err := c.helloAs("someone-else", c.dev.KeyID); err == nil {
			t.Fatal("a Hello naming another device was welcomed")
		}
	}
	waitEvents := func(want int) []store.IntegrityEvent {
		t.Helper()
		var evs []store.IntegrityEvent
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if evs = h.events("b"); len(evs) >= want {
				break
			}
		}
		return evs
	}
	if evs := waitEvents(3); len(evs) != 3 {
		t.Fatalf("within the interval: %d events, want the 3 of the budget", len(evs))
	}
	time.Sleep(100 * time.Millisecond) // several summary rounds: nothing is due yet
	if evs := h.events("b"); len(evs) != 3 {
		t.Fatalf("before the interval ends: %d events, want 3", len(evs))
	}
	mu.Lock()
	now = now.Add(100 * time.Millisecond)
	mu.Unlock()
	evs := waitEvents(4)
	if len(evs) != 4 || !strings.Contains(evs[3].Detail, "17 more identity_mismatch events") {
		t.Fatalf("after 20 refused streams and the interval: %d events (%+v), want 3 one by one and a summary of 17", len(evs), evs)
	}
	if got := h.eventLines(); got != 3 {
		t.Errorf("%d integrity event lines, want 3", got)
	}
	// A fresh interval: the next refusal is stored at once, with its detail.
	c := h.dial(t, h.pki, "b")
	c.helloAs("someone-else", c.dev.KeyID)
	if evs := waitEvents(5); len(evs) != 5 || !strings.Contains(evs[4].Detail, "Hello names device") {
		t.Errorf("the first refusal of a new interval: %+v, want it stored one by one", evs[len(evs)-1])
	}
	// Another device's budget is its own.
	a := h.dial(t, h.pki, "a")
	a.mustHello()
	a.sendRaw([]byte{0xff}, nil)
	a.wantAck(0, offboxv1.Ack_STATUS_REJECTED)
	h.wantEvent("a", store.EventMalformed, 0, "")
}
