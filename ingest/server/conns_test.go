package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"

	"github.com/offbox/offbox/ingest/batchtest"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/tlsconf"
)

// rawConns opens n TCP connections to addr from local (nil: any) that
// never send a byte, closed at the end of the test. One the server reset
// so fast that the dial saw it is nil.
func rawConns(t *testing.T, addr string, local net.Addr, n int) []net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	var out []net.Conn
	for i := range n {
		c, err := d.Dial("tcp", addr)
		if errors.Is(err, syscall.ECONNRESET) {
			out = append(out, nil)
			continue
		}
		if err != nil {
			t.Fatalf("raw connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, c)
	}
	return out
}

// closedByServer sorts conns into those the server ended within wait (a
// read fails other than by the deadline; nil: reset while dialling) and
// those it still holds. A read goes on past what the server sends (its
// HTTP/2 SETTINGS after TLS) until the end or the deadline.
func closedByServer[C interface {
	net.Conn
	comparable
}](conns []C, wait time.Duration) (closed, held []C) {
	var none C
	isHeld := make([]bool, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		if c == none {
			continue
		}
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(wait))
			buf := make([]byte, 4096)
			var err error
			for err == nil {
				_, err = c.Read(buf)
			}
			isHeld[i] = errors.Is(err, os.ErrDeadlineExceeded)
			c.SetReadDeadline(time.Time{})
		})
	}
	wg.Wait()
	for i, c := range conns {
		if isHeld[i] {
			held = append(held, c)
		} else {
			closed = append(closed, c)
		}
	}
	return closed, held
}

// dialFrom opens a stream as device name from the local address local
// (nil: any).
func (h *harness) dialFrom(t *testing.T, name string, local net.Addr) *client {
	t.Helper()
	c, end, err := h.connect(t, h.pki, name, local, 10*time.Second)
	t.Cleanup(end)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// certIfGiven gives c enrollment's TLS: a client certificate asked for,
// not required.
func certIfGiven(c *Config) {
	perConn := c.TLS.GetConfigForClient
	c.TLS.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cfg, err := perConn(hello)
		if cfg != nil {
			cfg = cfg.Clone()
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
		return cfg, err
	}
}

// noCertTLS is a client TLS that trusts h's CA, speaks h2 and has no
// certificate.
func noCertTLS(t *testing.T, h *harness) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(pkiFiles(h.pki, "ingest").CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &tls.Config{ServerName: "localhost", RootCAs: roots, NextProtos: []string{"h2"}}
}

// streams checks that c is a working session: Hello, a batch, its ack.
func (c *client) streams(t *testing.T) {
	t.Helper()
	c.mustHello()
	f := batchtest.NewFile("file:/var/log/syslog", 1, 2)
	c.send(c.dev.Next(f.Lines(1, 5)...))
	c.wantAck(c.dev.Seq, offboxv1.Ack_STATUS_STORED)
}

// TestMaxConnections: with MaxConnections N, of N+k connections that
// stall before TLS, k are reset at once and counted, N held; a device
// still connects, streams and is acknowledged while N-1 are held, and
// every place comes back when the flood ends.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	const n, k = 6, 4
	h := startServer(t, func(c *Config) { c.MaxConnections = n }, "router-1")
	flood := rawConns(t, h.addr, nil, n+k)
	waitFor(t, "the refusals to be counted", func() bool { return h.srv.Connections().Limit == k })
	closed, held := closedByServer(flood, time.Second)
	if len(closed) != k || len(held) != n {
		t.Fatalf("%d connections closed at once, %d held; want %d and %d", len(closed), len(held), k, n)
	}
	if st := h.srv.Connections(); st.Open != n || st.Limit != k || st.PerAddress != 0 {
		t.Errorf("stats %+v, want %d open, %d refused for the limit", st, n, k)
	}
	held[0].Close()
	waitFor(t, "the place to come back", func() bool { return h.srv.Connections().Open == n-1 })
	h.dialFrom(t, "router-1", nil).streams(t)
	if st := h.srv.Connections(); st.Open != n || st.Limit != k {
		t.Errorf("with the device: stats %+v, want %d open, still %d refused", st, n, k)
	}
	for _, c := range held {
		c.Close()
	}
	waitFor(t, "the flood's places to come back", func() bool { return h.srv.Connections().Open == 1 })
}

// TestHandshakeTimeout: a peer that connects and never sends its
// ClientHello is dropped after HandshakeTimeout, counted, and its place
// given back; not before.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	h := startServer(t, func(c *Config) { c.HandshakeTimeout = timeout; c.MaxConnections = 1 }, "router-1")
	start := time.Now()
	silent := rawConns(t, h.addr, nil, 1)[0]
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := silent.Read(make([]byte, 1))
	took := time.Since(start)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent peer: read %v after %v, want the server to close it", err, took)
	}
	if took < timeout-50*time.Millisecond || took > 5*time.Second {
		t.Errorf("silent peer dropped after %v, want about %v", took, timeout)
	}
	waitFor(t, "the timeout to be counted and the place freed", func() bool {
		st := h.srv.Connections()
		return st.HandshakeTimeout == 1 && st.Open == 0
	})
	// The one place is free: a device gets it.
	h.dialFrom(t, "router-1", nil).streams(t)
	if st := h.srv.Connections(); st.Limit != 0 || st.HandshakeTimeout != 1 {
		t.Errorf("stats %+v, want no refusal for the limit, one timeout", st)
	}
}

// TestHandshakesPerAddress: past HandshakesPerAddress connections without
// a device certificate from one address, the next from it is reset and
// counted; another address is not held by it; a device whose certificate
// is verified gives its address's place back at once (many devices may
// share an address).
func TestHandshakesPerAddress(t *testing.T) {
	t.Parallel()
	const per = 3
	h := startServer(t, func(c *Config) { c.HandshakesPerAddress = per }, "router-1", "router-2", "router-3")
	one := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	flood := rawConns(t, h.addr, one, per+2)
	waitFor(t, "the refusals to be counted", func() bool { return h.srv.Connections().PerAddress == 2 })
	closed, held := closedByServer(flood, time.Second)
	if len(closed) != 2 || len(held) != per {
		t.Fatalf("%d connections closed at once, %d held; want 2 and %d", len(closed), len(held), per)
	}
	// Another address (all of 127/8 is loopback) is not held by it.
	h.dialFrom(t, "router-1", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}).streams(t)
	// One of the flood closed: a device from the same address gets the
	// place, and gives it back once verified.
	held[0].Close()
	waitFor(t, "the place to come back", func() bool { return h.srv.Connections().Open == per }) // per-1 stalled, router-1
	h.dialFrom(t, "router-2", one).streams(t)
	h.dialFrom(t, "router-3", one).streams(t)
	more := rawConns(t, h.addr, one, 2)
	waitFor(t, "the next refusal to be counted", func() bool { return h.srv.Connections().PerAddress == 3 })
	if closed, held := closedByServer(more, time.Second); len(closed) != 1 || len(held) != 1 {
		t.Errorf("with two devices streaming from the address: %d of 2 more closed, %d held; want 1 and 1", len(closed), len(held))
	}
	if st := h.srv.Connections(); st.Limit != 0 || st.Open != per+3 {
		t.Errorf("stats %+v, want %d open (%d stalled, 3 devices), none refused for the limit", st, per+3, per)
	}
}

// TestEnrollingConnectionsPerAddress: with enrollment's TLS (a client
// certificate asked for, not required), a peer past the handshake
// without one keeps its address's place until it closes, so one address
// cannot hold the listener with certificate-less connections.
func TestEnrollingConnectionsPerAddress(t *testing.T) {
	t.Parallel()
	const per = 2
	h := startServer(t, func(c *Config) {
		c.HandshakesPerAddress = per
		certIfGiven(c)
	}, "router-1")
	noCert := noCertTLS(t, h)
	var tlsConns []*tls.Conn
	for i := range per {
		c, err := tls.Dial("tcp", h.addr, noCert)
		if err != nil {
			t.Fatalf("TLS without a certificate %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		tlsConns = append(tlsConns, c)
	}
	extra := rawConns(t, h.addr, nil, 1)
	waitFor(t, "the refusal to be counted", func() bool { return h.srv.Connections().PerAddress == 1 })
	if closed, _ := closedByServer(extra, time.Second); len(closed) != 1 {
		t.Fatal("a connection past the certificate-less ones was not closed")
	}
	tlsConns[0].Close()
	waitFor(t, "the place to come back", func() bool { return h.srv.Connections().Open == per-1 })
	h.dialFrom(t, "router-1", nil).streams(t)
	if st := h.srv.Connections(); st.PerAddress != 1 || st.Handshake != 0 {
		t.Errorf("stats %+v, want one refusal per address, no failed handshake", st)
	}
}

// TestConnectWaveFromOneAddress: a wave of connections from one address
// (BenchmarkFanIn10k's simulator; a NAT after a collector restart) is not
// refused when each client holds one of HandshakesPerAddress places until
// its connection is ready, as the simulator does: a gRPC connection is
// ready once the server's HTTP/2 settings arrive, which it sends after its
// end of the handshake. Without the places the same wave is cut.
func TestConnectWaveFromOneAddress(t *testing.T) {
	t.Parallel()
	const per, wave = 4, 150
	h := startServer(t, func(c *Config) { c.HandshakesPerAddress = per }, "router-1")
	src, err := tlsconf.Load(pkiFiles(h.pki, "router-1"), tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewTLS(src.ClientConfig("localhost"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run := func(places chan struct{}) (ready int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range wave {
			wg.Go(func() {
				conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(creds))
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close()
				if places != nil {
					places <- struct{}{}
					defer func() { <-places }()
				}
				conn.Connect()
				st := conn.GetState()
				for ; st != connectivity.Ready && st != connectivity.TransientFailure; st = conn.GetState() {
					if !conn.WaitForStateChange(ctx, st) {
						return
					}
				}
				if st == connectivity.Ready {
					mu.Lock()
					ready++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return ready
	}
	if got := run(make(chan struct{}, per)); got != wave || h.srv.Connections().PerAddress != 0 {
		t.Fatalf("holding %d places: %d of %d ready, %d refused; want all ready, none refused", per, got, wave, h.srv.Connections().PerAddress)
	}
	if got := run(nil); got == wave || h.srv.Connections().PerAddress == 0 {
		t.Errorf("all at once: %d of %d ready, %d refused; want some refused (else this test shows nothing)", got, wave, h.srv.Connections().PerAddress)
	}
}
