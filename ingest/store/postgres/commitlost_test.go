package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
)

// cutProxy forwards TCP connections to the PostgreSQL server. Once armed,
// it hangs up on the client as it forwards the next COMMIT, and on the
// server a moment later: the server carries the commit out, and the client
// never hears so.
type cutProxy struct {
	ln     net.Listener
	target string
	armed  atomic.Bool
	cuts   chan struct{} // one send per cut, after the server side closed
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cuts: make(chan struct{}, 8)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		io.Copy(client, server)
		client.Close() // the server hung up (as after a cancel request)
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)

		if err != nil {
			return
		}
		// pgx commits with the simple query "commit", NUL-terminated.
		commit := bytes.Contains(bytes.ToLower(buf[:n]), []byte("commit\x00"))
		if commit && p.armed.CompareAndSwap(true, false) {
			client.Close() // no answer reaches the client
			server.Write(buf[:n])
			time.Sleep(300 * time.Millisecond) // the server commits
			server.Close()
			p.cuts <- struct{}{}
			return
		}
		if _, err := server.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestCommitOutcomeUnknown: a connection lost while COMMIT was under way
// gives store.ErrCommitUnknown to every write of that transaction, and
// none is tried again: each write is stored once (here the server did
// commit), never twice. A batch whose commit was cut is stored, and the
// device's next batch goes on from it.
func TestCommitOutcomeUnknown(t *testing.T) {
	t.Parallel()
	direct := pgtest.URL(t)
	u, _ := url.Parse(direct)
	p := newCutProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	s := openAt(t, u.String(), Options{})

	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/var/log/auth.log", 1, 2)
	commit(t, s, dev, dev.Next(f.Lines(3, 40)...), 0)
	p.armed.Store(true)
	err := s.CommitBatch(ctx, batchtest.Commit(dev.Name, dev.Next(f.Lines(3, 40)...), 1))
	if !errors.Is(err, store.ErrCommitUnknown) {
		t.Fatalf("commit cut at COMMIT: err = %v, want ErrCommitUnknown", err)
	}
	within(t, 10*time.Second, chanOf(p.cuts), "the cut")
	if h, err := s.Head(ctx, "d"); err != nil || h.Seq != 2 {
		t.Fatalf("head after the cut commit = %d, %v; want 2 (the server committed)", h.Seq, err)
	}
	commit(t, s, dev, dev.Next(f.Lines(1, 40)...), 2)

	// Writes grouped in the transaction that is cut are not retried one
	// by one, which would store them twice.
	const n = 24
	p.armed.Store(true)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.AddIntegrityEvent(ctx, store.IntegrityEvent{Device: "d", Time: time.Unix(int64(i), 0),
				Kind: store.EventReplay, Seq: 3, Detail: fmt.Sprintf("event %d", i)})
		})
	}
	wg.Wait()
	within(t, 10*time.Second, chanOf(p.cuts), "the cut")
	unknown := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, store.ErrCommitUnknown):
			unknown++
		case err != nil:
			t.Errorf("event %d: %v", i, err)
		}
	}
	if unknown == 0 {
		t.Errorf("no write was told its commit was cut: %v", errs)
	}
	evs, err := s.IntegrityEvents(ctx, store.EventQuery{Device: "d"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Detail]++
	}
	for i := range n {
		if d := fmt.Sprintf("event %d", i); seen[d] != 1 {
			t.Errorf("%q stored %d times, want once (%d writes were cut)", d, seen[d], unknown)
		}
	}
}

// chanOf turns the proxy's cut signal into what within waits on.
func chanOf(cuts chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		<-cuts
		close(done)
	}()
	return done
}
