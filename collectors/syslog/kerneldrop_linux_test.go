package syslog

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

// kdropMessage is the i-th message of TestKernelDropsAreCounted, 200 bytes.
func kdropMessage(i int) []byte {
	b := fmt.Appendf(nil, "<13>Nov 22 18:00:00 host app: kdrop %08d ", i)
	return append(b, bytes.Repeat([]byte{'k'}, 200-len(b))...)
}

// TestKernelDropsAreCounted fills a small UDP receive buffer while the
// collector does not read yet: the datagrams the kernel drops are reported
// in gap records (SO_RXQ_OVFL) and, with those delivered, add up to every
// datagram sent.
func TestKernelDropsAreCounted(t *testing.T) {
	t.Parallel()
	const sent = 2000
	c, err := New(Config{UDP: []string{"127.0.0.1:0"}, ReadBufferBytes: 8 << 10, GapEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src := c.Sources()[0]
	u, err := net.Dial("udp", c.Addrs()[0].String())
	if err != nil {
		c.close()
		t.Fatal(err)
	}
	defer u.Close()
	// Nobody reads yet: the receive buffer fills and the kernel drops the rest.
	for i := range sent {
		if _, err := u.Write(kdropMessage(i)); err != nil {
			c.close()
			t.Fatal(err)
		}
	}

	e := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, e) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	// The buffer drains at once; the kernel reports the drops that came
	// after the last queued datagram only with the next one, so once the
	// buffer is empty a final datagram (not counted) carries them.
	last, since := -1, time.Now()
	waitFor(t, "the receive buffer to drain", func() bool {
		if l, _ := e.counts(); l != last {
			last, since = l, time.Now()
		}
		return last > 0 && time.Since(since) > 200*time.Millisecond
	})
	final := []byte("<13>Nov 22 18:00:00 host app: final")
	if _, err := u.Write(final); err != nil {
		t.Fatal(err)
	}

	var delivered, reported, kernel int
	// The gap record with the final datagram's count goes out before it.
	waitFor(t, "the final datagram", func() bool {
		delivered, reported, kernel = 0, 0, 0
		finalSeen := false
		for _, r := range e.snapshot() {
			switch r.Kind {
			case collectors.KindLog:
				if bytes.Equal(r.Body, final) {
					finalSeen = true
				} else {
					delivered++
				}
			case collectors.KindGap:
				n, _ := strconv.Atoi(attr(r, "dropped"))
				k, _ := strconv.Atoi(attr(r, "kernel_dropped"))
				reported += n
				kernel += k
			}
		}
		return finalSeen
	})

	seen := make([]bool, sent)
	for _, r := range e.snapshot() {
		switch {
		case r.Source != src:
			t.Fatalf("record of source %q, want %q", r.Source, src)
		case r.Kind == collectors.KindGap:
			if attr(r, "source") != src || attr(r, "reason") != "receive_buffer_full" || attr(r, "dropped") != attr(r, "kernel_dropped") {
				t.Errorf("gap record %+v: want reason receive_buffer_full, dropped = kernel_dropped", r)
			}
		case r.Kind == collectors.KindLog && !bytes.Equal(r.Body, final):
			i := bytes.Index(r.Body, []byte("kdrop ")) + len("kdrop ")
			k, err := strconv.Atoi(string(r.Body[i:min(i+8, len(r.Body))]))
			if i < len("kdrop ") || err != nil || k < 0 || k >= sent || !bytes.Equal(r.Body, kdropMessage(k)) || seen[k] {
				t.Fatalf("body %q is not a test message, or came twice", r.Body)
			}
			seen[k] = true
		}
	}
	if kernel == 0 {
		t.Fatalf("the kernel dropped nothing (%d delivered): the test proves nothing; shrink ReadBufferBytes", delivered)
	}
	if delivered+reported != sent || kernel != reported {
		t.Fatalf("%d delivered + %d reported dropped (%d by the kernel), want %d", delivered, reported, kernel, sent)
	}
	t.Logf("%d sent: %d delivered, %d dropped by the kernel", sent, delivered, kernel)
}

func attr(r collectors.Record, key string) string {
	for _, a := range r.Attrs {
		if a.Key == key {
			return a.Value
		}
	}
	return ""
}
