package enroll

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the per-address limit on refused enrollments.
const (
	// DefaultRefusalsPerMinute is Config.RefusalsPerMinute's default:
	// a device retrying a mistyped or expired token is not held up, a
	// guesser gets 10 tries a minute.
	DefaultRefusalsPerMinute = 10
	// DefaultRefusalBurst is Config.RefusalBurst's default.
	DefaultRefusalBurst = 20
	// DefaultSummaryEvery is Config.SummaryEvery's default.
	DefaultSummaryEvery = time.Minute
)

// maxSources bounds the addresses whose limits are kept. When the table
// is full, addresses whose bucket has refilled (nothing to remember) are
// forgotten; if none has, every new address shares one bucket, so an
// attacker with many addresses is held to one address's rate.
const maxSources = 10000

// Refusal reasons, as the summary line counts them.
const (
	refusedToken   = "bad_token"   // unknown, used or expired
	refusedRequest = "bad_request" // a malformed CSR or token
	refusedRate    = "rate"        // over the address's limit
	// The collector could not check the token (its store failed, or the
	// caller gave up): counted, but charged to no address.
	refusedUnavailable = "unavailable"
)

// guard limits refused enrollment attempts per source (an IPv4 address,
// or an IPv6 /64, which one host usually holds whole) and counts
// refusals for one summary line per interval instead of one line each.
// Only refusals draw on an address's budget, so many devices enrolling
// with good tokens behind one NAT are never held up; once an address is
// over, every attempt from it is refused before anything is parsed or
// looked up.
type guard struct {
	perSecond float64
	burst     int
	every     time.Duration
	log       *slog.Logger

	mu       sync.Mutex
	sources  map[netip.Prefix]*rate.Limiter
	shared   *rate.Limiter // for new sources while the table is full
	window   refusals
	summary  *time.Timer // armed by the first refusal of a window
	disabled bool        // no limit (RefusalsPerMinute < 0)
}

// refusals is what one summary line says.
type refusals struct {
	start     time.Time
	total     int
	by        map[string]int
	addresses map[netip.Prefix]int // bounded by maxSources; beyond, counted in overflow
	overflow  int
}

func newGuard(perMinute float64, burst int, every time.Duration, log *slog.Logger) *guard {
	g := &guard{perSecond: perMinute / 60, burst: burst, every: every, log: log,
		sources: make(map[netip.Prefix]*rate.Limiter), disabled: perMinute < 0}
	g.shared = rate.NewLimiter(rate.Limit(g.perSecond), g.burst)
	return g
}

// source is the key of a peer address ("host:port"): its IPv4 address,
// or its IPv6 /64; the zero prefix when it cannot be read.
func source(addr string) netip.Prefix {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// admit takes one attempt from addr at now. When ok is false the
// attempt is refused (and counted) for the rate; otherwise done must be
// called with the attempt's refusal reason, or "" when it succeeded, which
// gives the address its token back.
func (g *guard) admit(addr string, now time.Time) (done func(refused string), ok bool) {
	src := source(addr)
	g.mu.Lock()
	var r *rate.Reservation
	if !g.disabled {
		// Taken now, given back on success: concurrent attempts from one
		// address cannot all pass on the same token.
		r = g.limiter(src, now).ReserveN(now, 1)
		if !r.OK() || r.DelayFrom(now) > 0 {
			r.CancelAt(now)
			g.countLocked(src, refusedRate, now)
			g.mu.Unlock()
			return nil, false
		}
	}
	g.mu.Unlock()
	return func(refused string) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if r != nil && (refused == "" || refused == refusedUnavailable) {
			r.CancelAt(now) // a success costs the address nothing
		}
		if refused != "" {
			g.countLocked(src, refused, now)
		}
	}, true
}

// limiter is src's bucket, made when first needed.
func (g *guard) limiter(src netip.Prefix, now time.Time) *rate.Limiter {
	if lim := g.sources[src]; lim != nil {
		return lim
	}
	if len(g.sources) >= maxSources {
		for k, lim := range g.sources {
			if lim.TokensAt(now) >= float64(g.burst) {
				delete(g.sources, k) // refilled: a new bucket is the same
			}
		}
	}
	if len(g.sources) >= maxSources {
		return g.shared
	}
	lim := rate.NewLimiter(rate.Limit(g.perSecond), g.burst)
	g.sources[src] = lim
	return lim
}

// countLocked adds one refusal to the window, arming its summary.
func (g *guard) countLocked(src netip.Prefix, reason string, now time.Time) {
	w := &g.window
	if w.total == 0 {
		*w = refusals{start: now, by: make(map[string]int), addresses: make(map[netip.Prefix]int)}
		if g.summary == nil {
			g.summary = time.AfterFunc(g.every, g.flush)
		} else {
			g.summary.Reset(g.every)
		}
	}
	w.total++
	w.by[reason]++
	if _, seen := w.addresses[src]; seen || len(w.addresses) < maxSources {
		w.addresses[src]++
	} else {
		w.overflow++
	}
}

// flush logs the window's refusals as one line and starts a new window.
func (g *guard) flush() {
	g.mu.Lock()
	w := g.window
	g.window = refusals{}
	g.mu.Unlock()
	if w.total == 0 {
		return
	}
	var top netip.Prefix
	for a, n := range w.addresses {
		if n > w.addresses[top] || (n == w.addresses[top] && a.String() < top.String()) {
			top = a
		}
	}
	addrs := fmt.Sprint(len(w.addresses))
	if w.overflow > 0 {
		addrs = "more than " + addrs
	}
	topName := top.String()
	if !top.IsValid() {
		topName = "unknown"
	}
	msg := fmt.Sprintf("enroll: refused %d attempts from %s addresses in the last %s (bad token: %d, bad request: %d, rate: %d)",
		w.total, addrs, shortDuration(g.every), w.by[refusedToken], w.by[refusedRequest], w.by[refusedRate])
	if n := w.by[refusedUnavailable]; n > 0 {
		msg = fmt.Sprintf("%s; %d could not be checked (the store failed or the caller gave up)", msg, n)
	}
	g.log.Warn(msg, "refused", w.total, "addresses", len(w.addresses), "bad_token", w.by[refusedToken],
		"bad_request", w.by[refusedRequest], "rate", w.by[refusedRate], "unavailable", w.by[refusedUnavailable],
		"top_source", topName, "top_refused", w.addresses[top])
}

// stop logs what is counted and not yet logged, and disarms the summary.
func (g *guard) stop() {
	g.mu.Lock()
	if g.summary != nil {
		g.summary.Stop()
	}
	g.mu.Unlock()
	g.flush()
}

// shortDuration is d without trailing zero units: 1m, not 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
