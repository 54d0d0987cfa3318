package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// fakeLocks is a store.Coordinator whose other collectors are a set of
// devices said to be held elsewhere. (ingest/store/postgres has the real
// one, tested against PostgreSQL there and in e2e.)
type fakeLocks struct {
	mu        sync.Mutex
	elsewhere map[string]bool
	held      map[string]chan struct{} // device → its lost channel
	releases  int
}

func newFakeLocks(elsewhere ...string) *fakeLocks {
	f := &fakeLocks{elsewhere: map[string]bool{}, held: map[string]chan struct{}{}}
	for _, d := range elsewhere {
		f.elsewhere[d] = true
	}
	return f
}

func (f *fakeLocks) LockDevice(ctx context.Context, device string) (func(), <-chan struct{}, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.elsewhere[device] {
		return nil, nil, false, nil
	}
	if _, ok := f.held[device]; ok {
		panic("LockDevice asked twice for " + device) // the server's own table must prevent this
	}
	lost := make(chan struct{})
	f.held[device] = lost
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.held[device] == lost {
				delete(f.held, device)
			}
			f.releases++
		})
	}, lost, true, nil
}

func (f *fakeLocks) Lead(ctx context.Context) (context.Context, func(), error) {
	return ctx, func() {}, nil
}

// lose breaks device's lock, as a broken store connection would.
func (f *fakeLocks) lose(device string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.held[device])
	delete(f.held, device)
}

func (f *fakeLocks) holds(device string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.held[device]
	return ok
}

// TestLockHeldByAnotherCollector: a device streaming to another collector
// of the same store is refused AlreadyExists, with a concurrent_session
// event, before anything of it is stored.
func TestLockHeldByAnotherCollector(t *testing.T) {
	t.Parallel()
	locks := newFakeLocks("a")
	h := startServer(t, func(c *Config) { c.Locks = locks }, "a", "b")
	c := h.dial(t, h.pki, "a")
	if _, err := c.hello(); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("stream of a device held elsewhere: %v, want AlreadyExists", err)
	}
	h.wantEvent("a", store.EventConcurrentSession, 0, "another collector")
	// Another device is not affected, and holds its lock while streaming.
	b := h.dial(t, h.pki, "b")
	b.mustHello()
	if !locks.holds("b") {
		t.Fatal("an open stream of b does not hold b's lock")
	}
	b.send(b.dev.Next(batchtest.Heartbeat(1)))
	b.wantAck(1, offboxv1.Ack_STATUS_STORED)
	b.stream.CloseSend()
	b.stream.Recv()
	waitFor(t, "b's lock released after its stream ended", func() bool { return !locks.holds("b") })
}

// TestLockLostEndsStream: when the store connection holding a device's
// lock breaks, its stream ends Unavailable (another collector may take
// the device now), and the agent can come back.
func TestLockLostEndsStream(t *testing.T) {
	t.Parallel()
	locks := newFakeLocks()
	h := startServer(t, func(c *Config) { c.Locks = locks }, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	c.send(c.dev.Next(batchtest.Heartbeat(1)))
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
	locks.lose("a")
	c.wantEnd(codes.Unavailable)
	again := h.dial(t, h.pki, "a")
	if w := again.mustHello(); w.GetHead().GetSeq() != 1 {
		t.Fatalf("head after reconnecting = %d, want 1", w.GetHead().GetSeq())
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
