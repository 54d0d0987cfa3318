package forward

import (
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// heapAfterGC is the live heap, in bytes.
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStuckDestination: a destination that takes a request and never
// answers, and one that accepts connections and never reads: commits go
// on at full speed, the backlog grows in the store, and the forwarder's
// memory does not grow with it (one bounded batch).
func TestStuckDestination(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	// A TCP listener whose connections are never read: syslog writes fill
	// the socket buffers and block.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()

	st, _ := newStore(t)
	fl := newFleet("router-1", "sw-2")
	fl.commit(t, st, 2, 500, 200)
	fw, _ := runForwarderEvery(t, st, 100*time.Millisecond,
		SinkConfig{Name: "stuck-http", Type: TypeHTTP, URL: srv.URL, Timeout: time.Hour},
		SinkConfig{Name: "stuck-syslog", Type: TypeSyslog, Transport: TransportTCP, Address: l.Addr().String(), Timeout: time.Hour})
	time.Sleep(300 * time.Millisecond) // both sinks are now inside a send that never ends
	base := heapAfterGC()

	// 200 more batches (100,000 records, 20 MB) commit as fast as without
	// forwarding: nothing waits for the sinks.
	start := time.Now()
	fl.commit(t, st, 100, 500, 200)
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("200 commits took %s with stuck sinks", d)
	}
	time.Sleep(300 * time.Millisecond) // a backlog measurement
	if grown := int64(heapAfterGC()) - int64(base); grown > 4<<20 {
		t.Errorf("the heap grew by %d bytes while 20 MB waited for stuck sinks", grown)
	}
	for _, s := range fw.Stats() {
		if s.Records != 0 {
			t.Errorf("%s: %d records acknowledged by a destination that never answered", s.Sink, s.Records)
		}
		if s.Backlog.Batches < 4 {
			t.Errorf("%s: Stats' backlog %+v, measured %v: not kept up to date while a send hangs", s.Sink, s.Backlog, s.Measured)
		}
	}
	cur, err := st.ForwardCursor(ctx, "stuck-http")
	if err != nil {
		t.Fatal(err)
	}
	if cur.Updated.IsZero() {
		t.Error("a sink that never delivered has no saved cursor: the dashboard and forward status would not show its lag")
	}
	b, err := st.ForwardBacklog(ctx, cur)
	if err != nil || b.Batches != 204 || b.Records != int64(fl.total) {
		t.Errorf("backlog %+v, %v; want 204 batches, %d records", b, err, fl.total)
	}
}
