package server

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/transport/tlsconf"
)

// h2Preface is what an HTTP/2 client sends first: the preface and an
// empty SETTINGS frame. A peer that sends it and nothing more holds a
// ready connection with no stream.
var h2Preface = append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)

// idleDeviceConns opens n connections with device name's certificate,
// each past TLS and the HTTP/2 preface and never opening a stream;
// those the server reset may fail at any step, and are returned as nil.
func idleDeviceConns(t *testing.T, h *harness, name string, n int) []*tls.Conn {
	t.Helper()
	src, err := tlsconf.Load(pkiFiles(h.pki, name), tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := src.ClientConfig("localhost")
	cfg.NextProtos = []string{"h2"}
	var out []*tls.Conn
	for range n {
		c, err := tls.Dial("tcp", h.addr, cfg)
		if err == nil {
			opened := c // c is set to nil below when the preface fails
			t.Cleanup(func() { opened.Close() })
			_, err = c.Write(h2Preface)
		}
		if err != nil {
			c = nil
		}
		out = append(out, c)
	}
	return out
}

// TestConnectionsPerDevice: of N+k verified connections of one device
// that never open a stream, k are reset at the end of their handshake
// and counted; another device still connects and streams; the device's
// own stream is refused while its N are held, and gets a place once one
// closes.
func TestConnectionsPerDevice(t *testing.T) {
	t.Parallel()
	const n, k = 3, 2
	h := startServer(t, func(c *Config) { c.ConnectionsPerDevice = n }, "router-1", "router-2")
	flood := idleDeviceConns(t, h, "router-1", n+k)
	waitFor(t, "the refusals to be counted", func() bool { return h.srv.Connections().PerDevice == k })
	ended, held := closedByServer(flood, time.Second)
	if len(ended) != k || len(held) != n {
		t.Fatalf("%d of the device's connections ended, %d held; want %d and %d", len(ended), len(held), k, n)
	}
	h.dialFrom(t, "router-2", nil).streams(t)
	if st := h.srv.Connections(); st.PerDevice != k || st.Limit != 0 || st.PerAddress != 0 || st.Open != n+1 {
		t.Errorf("stats %+v, want %d open, %d refused per device, nothing else", st, n+1, k)
	}
	// router-1's own agent is refused while its places are held ...
	if err := tryStream(t, h, "router-1"); err == nil {
		t.Fatal("a stream of router-1 past its connections' bound was served")
	}
	waitFor(t, "the agent's refusal to be counted", func() bool { return h.srv.Connections().PerDevice == k+1 })
	// ... and gets one as soon as one of them closes.
	held[0].Close()
	waitFor(t, "the place to come back", func() bool { return h.srv.Connections().Open == n })
	h.dialFrom(t, "router-1", nil).streams(t)
	if st := h.srv.Connections(); st.PerDevice != k+1 {
		t.Errorf("stats %+v, want still %d refused per device", st, k+1)
	}
}

// tryStream opens a stream as device name and waits for the server's
// Welcome: nil if it came. The connection is closed on return.
func tryStream(t *testing.T, h *harness, name string) error {
	c, end, err := h.connect(t, h.pki, name, nil, 10*time.Second)
	defer end()
	if err != nil {
		return err
	}
	_, err = c.hello()
	return err
}

// TestMaxConnectionIdle: a verified connection that never opens a stream
// is closed MaxConnectionIdle (and gRPC's 5 s drain) after it is made,
// and its device's place comes back; a device that holds its stream and
// sends less often than that is not cut.
func TestMaxConnectionIdle(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	h := startServer(t, func(c *Config) { c.ConnectionsPerDevice = 1; c.MaxConnectionIdle = idle }, "router-1", "router-2")
	streaming := h.dialFrom(t, "router-2", nil)
	streaming.streams(t)
	start := time.Now()
	flood := idleDeviceConns(t, h, "router-1", 1)
	if ended, _ := closedByServer(flood, 15*time.Second); len(ended) != 1 {
		t.Fatal("an idle connection was held for 15 s")
	}
	if took := time.Since(start); took < idle {
		t.Errorf("idle connection closed after %v, before MaxConnectionIdle %v", took, idle)
	}
	waitFor(t, "the device's place to come back", func() bool { return h.srv.Connections().Open == 1 })
	h.dialFrom(t, "router-1", nil).streams(t)
	// router-2 was silent on its stream far longer than MaxConnectionIdle.
	f := batchtest.NewFile("file:/var/log/auth.log", 1, 2)
	streaming.send(streaming.dev.Next(f.Lines(1, 3)...))
	streaming.wantAck(streaming.dev.Seq, 1)
	if st := h.srv.Connections(); st.PerDevice != 0 {
		t.Errorf("stats %+v, want no refusal", st)
	}
}

// TestPrefaceTimeoutCounted: a peer that completes TLS and then sends
// nothing (no HTTP/2 preface), with a device certificate or, with
// enrollment's TLS, without one, is closed after HandshakeTimeout,
// counted as a handshake timeout, and its place given back.
func TestPrefaceTimeoutCounted(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	h := startServer(t, func(c *Config) {
		c.HandshakeTimeout, c.ConnectionsPerDevice, c.HandshakesPerAddress = timeout, 1, 1
		certIfGiven(c)
	}, "router-1")
	src, err := tlsconf.Load(pkiFiles(h.pki, "router-1"), tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	withCert := src.ClientConfig("localhost")
	withCert.NextProtos = []string{"h2"}
	noCert := noCertTLS(t, h)
	for i, cfg := range []*tls.Config{noCert, withCert} {
		c, err := tls.Dial("tcp", h.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if ended, _ := closedByServer([]*tls.Conn{c}, 5*time.Second); len(ended) != 1 {
			t.Fatalf("connection %d, silent after TLS, held for 5 s", i)
		}
		waitFor(t, "the timeout to be counted and the place freed", func() bool {
			st := h.srv.Connections()
			return st.HandshakeTimeout == uint64(i+1) && st.Open == 0
		})
	}
	h.dialFrom(t, "router-1", nil).streams(t) // the device's one place is free
	if st := h.srv.Connections(); st.PerDevice != 0 || st.PerAddress != 0 || st.Handshake != 0 {
		t.Errorf("stats %+v, want only the two timeouts", st)
	}
}
