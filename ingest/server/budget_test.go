package server

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// blockingStore holds every CommitBatch until open is closed: a collector
// whose store (or CPU) cannot keep up.
type blockingStore struct {
	store.Ingester
	open chan struct{}
}

func (b *blockingStore) CommitBatch(ctx context.Context, bt *store.Batch) error {
	<-b.open
	return b.Ingester.CommitBatch(ctx, bt)
}

// TestInFlightBudget: with the store stalled, streams flooding batches
// make the collector hold at most InFlightBytes of them (the rest waits in
// each stream's flow-control window), and once the store moves every
// batch is stored and acknowledged in order. Without the budget each
// stream would hold its window of judged batches and more.
func TestInFlightBudget(t *testing.T) {
	const (
		streams, perStream = 4, 6
		lineBytes          = 8 << 10
		budgetBytes        = 3 * (lineBytes + 1024) // about three batches
	)
	devices := []string{"d1", "d2", "d3", "d4"}
	bs := &blockingStore{open: make(chan struct{})}
	h := startServer(t, func(c *Config) {
		bs.Ingester = c.Store
		c.Store = bs
		c.InFlightBytes = budgetBytes
	}, devices...)
	clients := make([]*client, streams)
	for i, d := range devices {
		clients[i] = h.dial(t, h.pki, d)
		clients[i].mustHello()
	}
	// 48 KiB a stream: within its 64 KiB flow-control window, so every
	// send returns while the collector reads nothing more.
	for i, c := range clients {
		f := batchtest.NewFile("file:/var/log/flood", 1, uint64(i+1))
		for range perStream {
			c.send(c.dev.Next(f.Lines(1, lineBytes)...))
		}
	}
	// Every stream has had time to send all it has; the store is stalled.
	time.Sleep(time.Second)
	peak := h.srv.inflight.peak.Load()
	if peak == 0 || peak > budgetBytes {
		t.Fatalf("held at most %d batch bytes with the store stalled; want 1 to %d (the budget)", peak, budgetBytes)
	}
	close(bs.open)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func(c *client) {
			defer wg.Done()
			for seq := uint64(1); seq <= perStream; seq++ {
				c.wantAck(seq, offboxv1.Ack_STATUS_STORED)
			}
		}(c)
	}
	wg.Wait()
	for _, d := range devices {
		if got := h.head(d).Seq; got != perStream {
			t.Errorf("%s: stored head %d, want %d", d, got, perStream)
		}
	}
	if p := h.srv.inflight.peak.Load(); p > budgetBytes {
		t.Errorf("held %d batch bytes at the peak; the budget is %d", p, budgetBytes)
	}
	if n := h.srv.inflight.held(); n != 0 {
		t.Errorf("%d bytes still charged after every batch was settled", n)
	}
}

// TestBudgetOrder: charges are granted first come, first served (a
// charge that fits waits behind an earlier one that does not), a
// cancelled wait is charged nothing, and a charge never exceeds the size.
func TestBudgetOrder(t *testing.T) {
	if got := newBudget(1 << 20).charge(0); got != minCharge {
		t.Errorf("charge(0) = %d, want %d", got, minCharge)
	}
	if got := newBudget(1 << 20).charge(5 << 10); got != 5<<10 {
		t.Errorf("charge(5 KiB) = %d, want %d", got, 5<<10)
	}
	b := newBudget(10)
	if got := b.charge(25); got != 10 {
		t.Errorf("charge(25) of a 10-byte budget = %d, want 10", got)
	}
	ctx := context.Background()
	if !b.acquire(ctx, 8) {
		t.Fatal("first acquire refused")
	}
	got := make(chan int, 2)
	go func() { b.acquire(ctx, 5); got <- 5 }()
	for len(b.waitersNow()) < 1 {
		time.Sleep(time.Millisecond)
	}
	go func() { b.acquire(ctx, 1); got <- 1 }() // fits, but waits behind 5
	cctx, cancel := context.WithCancel(ctx)
	gave := make(chan bool)
	go func() { gave <- b.acquire(cctx, 9) }()
	for len(b.waitersNow()) < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if <-gave {
		t.Error("a cancelled wait was charged")
	}
	select {
	case n := <-got:
		t.Fatalf("the %d-byte charge passed while 8 of 10 were held", n)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(8)
	if a, c := <-got, <-got; a+c != 6 {
		t.Errorf("charged %d and %d after the release; want 5 and 1", a, c)
	}
	b.release(6)
	if n := b.held(); n != 0 {
		t.Errorf("held %d after every release, want 0", n)
	}
}

func (b *budget) waitersNow() []*budgetWaiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*budgetWaiter(nil), b.waiters...)
}
