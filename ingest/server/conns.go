// Connections to the ingest listener: at most MaxConnections open
// (internal/netlimit, the excess reset at once); each must finish its TLS
// handshake and HTTP/2 set-up within HandshakeTimeout (gRPC's
// ConnectionTimeout); and one address may hold at most
// HandshakesPerAddress connections that have no verified device
// certificate: those still in their handshake and, with enrollment on,
// those past it without one. Once a device certificate is verified the
// connection no longer counts against its address, so any number of
// devices may share one address (a NAT, a relay); instead one device
// (its certificate's identity) may hold at most ConnectionsPerDevice, so
// a stolen key cannot fill MaxConnections for the fleet. A connection
// with no stream for MaxConnectionIdle is closed (gRPC's GOAWAY).
// Refusals are counted, never logged one by one.

package server

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/offbox/offbox/internal/netlimit"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Defaults of the connection bounds.
const (
	DefaultMaxConnections       = 16384
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultHandshakesPerAddress = 64
	// An agent holds one connection (its stream), a relay one more (its
	// appliances' streams), a renewal one for a moment, and a reconnect
	// may overlap the old connection until keepalive drops it.
	DefaultConnectionsPerDevice = 4
	// Agents always hold a stream on their connection, and open it as
	// soon as the connection is made; a relay's shared connection may be
	// streamless while its appliances' senders back off, and is remade on
	// the next stream. So only a peer that holds a connection and no
	// stream is cut, gracefully.
	DefaultMaxConnectionIdle = 2 * time.Minute
)

// ConnStats is what the ingest listener counts of its connections.
type ConnStats struct {
	Open             int64  // connections open now
	Limit            uint64 // reset at once: MaxConnections were open
	PerAddress       uint64 // reset at once: their address had HandshakesPerAddress without a device certificate
	HandshakeTimeout uint64 // TLS handshakes, or the HTTP/2 preface after them, not done within HandshakeTimeout
	Handshake        uint64 // TLS handshakes that failed otherwise (no TLS, a certificate refused, the peer gone)
	PerDevice        uint64 // reset at handshake end: the device had ConnectionsPerDevice open
}

// Connections is the ingest listener's figures (zero before Serve).
func (s *Server) Connections() ConnStats {
	g := s.conns
	st := ConnStats{PerAddress: g.perAddress.Load(), HandshakeTimeout: g.timeouts.Load(), Handshake: g.failed.Load(),
		PerDevice: g.perDevice.Load()}
	if l := g.lis.Load(); l != nil {
		st.Open, st.Limit = l.Open(), l.Refused()
	}
	return st
}

// connGate counts, per address, the connections without a verified
// device certificate, and per device those with one.
type connGate struct {
	lis atomic.Pointer[netlimit.Listener] // the listener Serve wraps

	addrs   places[netip.Prefix] // connections without a verified device certificate
	devices places[string]       // verified connections, by device

	perAddress, timeouts, failed, perDevice atomic.Uint64
}

func newConnGate(perAddr, perDev int) *connGate {
	return &connGate{addrs: newPlaces[netip.Prefix](perAddr), devices: newPlaces[string](perDev)}
}

// places counts the connections open under each key, at most max a key.
// Its map holds only keys with a connection open, so it is bounded by
// MaxConnections.
type places[K comparable] struct {
	mu   sync.Mutex
	max  int
	open map[K]int
}

func newPlaces[K comparable](max int) places[K] { return places[K]{max: max, open: make(map[K]int)} }

// enter takes a place of k's, or reports false when k has max.
func (p *places[K]) enter(k K) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[k] >= p.max {
		return false
	}
	p.open[k]++
	return true
}

// leave gives a place of k's back.
func (p *places[K]) leave(k K) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open[k]--; p.open[k] <= 0 {
		delete(p.open, k)
	}
}

// deviceKey is the device a verified certificate names, as the stream
// will (peerIdentity); a certificate naming none (the stream refuses it)
// counts under its own fingerprint.
func deviceKey(leaf *x509.Certificate) string {
	if dev, _, err := tlsconf.Identity(leaf); err == nil {
		return dev
	}
	sum := sha256.Sum256(leaf.Raw)
	return "cert:" + hex.EncodeToString(sum[:])
}

// addrKey is the unit an address bound applies to: an IPv4 address, or
// an IPv6 /64 (what one subscriber is given, and can pick addresses in).
func addrKey(a net.Addr) netip.Prefix {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	bits := ip.BitLen()
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

var (
	errPerAddress = errors.New("too many connections without a device certificate from this address")
	errPerDevice  = errors.New("too many connections of this device")
)

// gatedCreds is the server's TLS credentials under the gate.
type gatedCreds struct {
	credentials.TransportCredentials
	g *connGate
}

// ServerHandshake refuses the connection when its address is at its
// bound, and otherwise holds a place of the address's until the peer's
// device certificate is verified, or the connection ends.
func (c *gatedCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	k := addrKey(raw.RemoteAddr())
	if !c.g.addrs.enter(k) {
		c.g.perAddress.Add(1)
		netlimit.Reset(raw)
		return nil, nil, errPerAddress
	}
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.g.addrs.leave(k)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.g.timeouts.Add(1)
		} else {
			c.g.failed.Add(1)
		}
		return nil, nil, err
	}
	if ti, ok := info.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
		c.g.addrs.leave(k)
		dev := deviceKey(ti.State.PeerCertificates[0])
		if !c.g.devices.enter(dev) {
			c.g.perDevice.Add(1)
			netlimit.Reset(raw)
			return nil, nil, errPerDevice
		}
		return &placeConn{Conn: conn, g: c.g, leave: func() { c.g.devices.leave(dev) }}, info, nil
	}
	// Enrollment: TLS without a certificate. The place is the address's
	// until the connection closes.
	return &placeConn{Conn: conn, g: c.g, leave: func() { c.g.addrs.leave(k) }}, info, nil
}

func (c *gatedCreds) Clone() credentials.TransportCredentials {
	return &gatedCreds{TransportCredentials: c.TransportCredentials.Clone(), g: c.g}
}

// placeConn gives its place (its address's, or its device's) back when
// closed, and counts a read that hit gRPC's HandshakeTimeout deadline
// (the HTTP/2 preface not sent within it) as a handshake timeout: no
// other deadline is set on the connection.
type placeConn struct {
	net.Conn
	g        *connGate
	once     sync.Once
	leave    func()
	timedOut atomic.Bool
}

func (c *placeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && c.timedOut.CompareAndSwap(false, true) {
		c.g.timeouts.Add(1)
	}
	return n, err
}

func (c *placeConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.leave)
	return err
}
