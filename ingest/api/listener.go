package api

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Guard is a listener that accepts connections only from its address
// ranges. Any other connection is closed as soon as it is accepted,
// before TLS and before any handler, counted, and logged at most once a
// minute per remote IP.
type Guard struct {
	net.Listener
	allow   []netip.Prefix
	log     *slog.Logger
	refused atomic.Uint64
	logs    perIP
}

// AllowListener wraps l so that only clients in allow get through; an
// empty allow admits loopback clients only. log nil: slog.Default().
func AllowListener(l net.Listener, allow []netip.Prefix, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.Default()
	}
	return &Guard{Listener: l, allow: allow, log: log}
}

// Accept returns the next permitted connection.
func (g *Guard) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, ok := remoteIP(c.RemoteAddr())
		if ok && g.Allowed(ip) {
			return c, nil
		}
		if tc, isTCP := c.(*net.TCPConn); isTCP {
			tc.SetLinger(0) // a reset: no TIME_WAIT kept for a refused peer
		}
		c.Close()
		n := g.refused.Add(1)
		if g.logs.allow(ip) {
			g.log.Warn("api: connection refused: address not in api.allow_cidrs", "remote", c.RemoteAddr().String(), "refused_total", n)
		}
	}
}

// Allowed reports whether a client at ip may connect.
func (g *Guard) Allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if len(g.allow) == 0 {
		return ip.IsLoopback()
	}
	for _, p := range g.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Refused is the number of connections refused so far.
func (g *Guard) Refused() uint64 { return g.refused.Load() }

func remoteIP(a net.Addr) (netip.Addr, bool) {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(ta.IP)
		return ip.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap(), err == nil
}

// logEvery is how often one IP is logged again.
const logEvery = time.Minute

// perIP rate-limits log lines about one remote IP to one per logEvery.
// The zero value is ready.
type perIP struct {
	now func() time.Time // nil: time.Now

	mu   sync.Mutex
	last map[netip.Addr]time.Time // when each IP was last logged
}

// maxTracked bounds perIP's memory under a scan from many addresses; when
// that many IPs were logged within logEvery, new ones are not logged
// (they are still counted and audited).
const maxTracked = 4096

func (p *perIP) allow(ip netip.Addr) bool {
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if last, ok := p.last[ip]; ok && now.Sub(last) < logEvery {
		return false
	}
	if p.last == nil {
		p.last = map[netip.Addr]time.Time{}
	}
	if len(p.last) >= maxTracked {
		for k, t := range p.last {
			if now.Sub(t) >= logEvery {
				delete(p.last, k)
			}
		}
		if len(p.last) >= maxTracked {
			return false
		}
	}
	p.last[ip] = now
	return true
}
