package api

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Guard is a listener that lets through only clients in its address
// ranges. Any other connection is closed with a reset as soon as it is
// accepted, before TLS or HTTP: a refused client learns nothing (not even
// the certificate) and costs no handshake. Refusals are counted
// (Refused) and logged at most once a minute per remote IP, never once
// each.
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

// Accept returns the next connection from inside the ranges; any other is
// closed and counted here, and Accept waits for the next.
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
		n := g.refused.Add(1) // before the reset, which the client may see at once
		c.Close()
		if g.logs.allow(ip) {
			g.log.Warn("api: connection refused: address not in api.allow_cidrs", "remote", c.RemoteAddr().String(), "refused_total", n)
		}
	}
}

type refusedKey struct{}

// ConnContext is an http.Server ConnContext. Accept lets no connection
// from outside the ranges through; should one arrive by another way (a
// listener not wrapped by this Guard, say), this marks it, under any TLS
// layer, so that Permitted refuses its requests.
func (g *Guard) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if ip, ok := remoteIP(c.RemoteAddr()); !ok || !g.Allowed(ip) {
		return context.WithValue(ctx, refusedKey{}, ip)
	}
	return ctx
}

// Permitted is the outermost handler: a request on a connection
// ConnContext marked as outside the ranges is answered 403 through fail,
// naming the address, and the connection is closed; no other handler
// runs and nothing is read. With the Guard's Accept in front it is a
// second line only.
func Permitted(next http.Handler, fail Fail) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip, refused := r.Context().Value(refusedKey{}).(netip.Addr); refused {
			w.Header().Set("Connection", "close")
			fail(w, r, http.StatusForbidden, "your address "+ip.String()+" is not permitted by api.allow_cidrs")
			return
		}
		next.ServeHTTP(w, r)
	})
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
