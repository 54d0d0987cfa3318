package netlimit

import (
	"net"
	"testing"
	"time"
)

// TestLimitListener: past the limit a connection is closed at once and
// counted; a closed one frees its place.
func TestLimitListener(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := New(l, 2)
	defer lim.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := lim.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	n := 0
	dial := func() net.Conn {
		n++
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("connection %d: %v", n, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	a1, a2 := <-accepted, <-accepted
	// The third is reset: at once (the dial sees it), or on its first read.
	if third, err := net.Dial("tcp", l.Addr().String()); err == nil {
		third.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := third.Read(make([]byte, 1)); err == nil {
			t.Errorf("the third connection was not closed")
		}
		third.Close()
	}
	waitRefused := time.Now().Add(5 * time.Second)
	for lim.Refused() == 0 && time.Now().Before(waitRefused) {
		time.Sleep(time.Millisecond)
	}
	if lim.Refused() != 1 || lim.Open() != 2 {
		t.Errorf("refused %d open %d, want 1 and 2", lim.Refused(), lim.Open())
	}
	a1.Close()
	a1.Close() // twice: counted once
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection after one closed was not accepted")
	}
	if lim.Refused() != 1 || lim.Open() != 2 {
		t.Errorf("refused %d open %d, want 1 and 2", lim.Refused(), lim.Open())
	}
	a2.Close()
}
