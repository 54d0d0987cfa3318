package clock

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/beevik/ntp"
)

// queryFunc asks one NTP server once. Tests replace it to run without a
// network.
type queryFunc func(ctx context.Context, addr string, timeout time.Duration) (*ntp.Response, error)

// ntpQuery is the real query: one NTPv4 client packet through beevik/ntp,
// with kernel receive timestamps, ended early if ctx ends.
func ntpQuery(ctx context.Context, addr string, timeout time.Duration) (*ntp.Response, error) {
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	return ntp.QueryWithOptions(addr, ntp.QueryOptions{
		Timeout: timeout,
		// The library's own dialer cannot be cancelled; this one can, and
		// still returns a *net.UDPConn so kernel timestamps keep working.
		Dialer: func(_, remote string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "udp", remote)
			if err != nil {
				return nil, err
			}
			stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
			return conn, nil
		},
	})
}

// PHI is NTP's assumed frequency tolerance of a clock: dispersion grows by
// 15 µs per second (RFC 5905).
const phi = 15e-6

// sample is one good answer.
type sample struct {
	offset int64         // ns, server minus local
	delay  int64         // ns, round trip
	base   int64         // ns: root delay/2 + root dispersion + server precision + PHI×delay
	at     time.Duration // monotonic time it was taken
}

// peer is one server's state between rounds. Only the round that polls it
// touches it.
type peer struct {
	addr   string // host:port as queried and as reported
	origin string // "config" or the DNS name

	window  []sample // oldest first
	reach   uint8
	polls   int
	every   time.Duration // this server's poll interval
	next    time.Duration // monotonic time of its next poll
	refused bool          // kiss-of-death DENY or RSTR: never polled again
	kiss    string        // kiss code of the last answer, "" if it was a normal one
	lastErr string

	// From the latest normal answer.
	stratum  uint8
	leap     uint8
	refid    string
	unsynced bool // leap 3 or stratum 16: its time is not to be used
}

// due reports whether the peer is polled in a round at monotonic time now.
// slack absorbs scheduling jitter so that a backed-off peer is not pushed a
// whole Interval later.
func (p *peer) due(now, slack time.Duration) bool {
	return !p.refused && now >= p.next-slack
}

// pollConfig is what one poll needs from the collector.
type pollConfig struct {
	query      queryFunc
	samples    int
	spacing    time.Duration // between samples of one poll
	timeout    time.Duration
	window     int
	interval   time.Duration // the normal poll interval
	maxEvery   time.Duration // ceiling of a backed-off poll interval
	mono       func() time.Duration
	onKiss     func(p *peer, code string) // for logging
	onRecovery func(p *peer)              // a peer that had failed answers again
}

// poll takes up to cfg.samples samples from the peer and updates its window,
// reach register and schedule. A kiss-of-death ends the poll at once. A peer
// whose previous poll failed too gets one try, not cfg.samples timeouts.
func (p *peer) poll(ctx context.Context, cfg *pollConfig) {
	start := cfg.mono()
	prevFailed := p.polls > 0 && p.reach&1 == 0
	good := false
	kissed := false
samples:
	for i := 0; i < cfg.samples; i++ {
		if i > 0 {
			t := time.NewTimer(cfg.spacing)
			select {
			case <-ctx.Done():
				t.Stop()
				break samples
			case <-t.C:
			}
		}
		r, err := cfg.query(ctx, p.addr, cfg.timeout)
		if err != nil {
			p.lastErr = err.Error()
			if ctx.Err() != nil || (prevFailed && !good) {
				break
			}
			continue
		}
		if r.IsKissOfDeath() {
			kissed = true
			p.handleKiss(r.KissCode, cfg)
			break
		}
		if err := r.Validate(); err != nil && !errors.Is(err, ntp.ErrInvalidLeapSecond) && !errors.Is(err, ntp.ErrInvalidStratum) {
			// Stale reference, dispersion over 16 s, transmit before
			// reference: not a time to use, and not a sign of life.
			p.lastErr = "invalid answer: " + err.Error()
			continue
		}
		p.kiss = ""
		p.stratum = r.Stratum
		p.leap = uint8(r.Leap)
		p.refid = r.ReferenceString()
		p.unsynced = r.Leap == ntp.LeapNotInSync || r.Stratum >= 16
		p.add(sample{
			offset: int64(r.ClockOffset),
			delay:  int64(r.RTT),
			base:   int64(r.RootDelay/2 + r.RootDispersion + r.Precision + time.Duration(phi*float64(r.RTT))),
			at:     cfg.mono(),
		}, cfg.window)
		good = true
	}
	if !good && ctx.Err() != nil {
		// Cut short by shutdown (or inspect's deadline): no evidence
		// either way, so no poll is counted.
		p.next = start
		return
	}
	if good {
		p.lastErr = ""
		if prevFailed && cfg.onRecovery != nil {
			cfg.onRecovery(p)
		}
		if !kissed && p.every > cfg.interval {
			p.every = max(p.every/2, cfg.interval) // RATE is over: come back gradually
		}
	}
	p.polls++
	p.reach = shiftReach(p.reach, good)
	p.next = start + p.every
}

// handleKiss applies a kiss-of-death (RFC 5905 section 7.4).
func (p *peer) handleKiss(code string, cfg *pollConfig) {
	p.kiss = code
	p.lastErr = "kiss-of-death " + code
	switch code {
	case "RATE":
		p.every = min(2*p.every, cfg.maxEvery)
	case "DENY", "RSTR":
		p.refused = true
	}
	if cfg.onKiss != nil {
		cfg.onKiss(p, code)
	}
}

func (p *peer) add(s sample, window int) {
	if len(p.window) >= window {
		copy(p.window, p.window[len(p.window)-window+1:])
		p.window = p.window[:window-1]
	}
	p.window = append(p.window, s)
}

// best is the index of the lowest-delay sample in the window, -1 if none.
func (p *peer) best() int {
	b := -1
	for i, s := range p.window {
		if b < 0 || s.delay < p.window[b].delay {
			b = i
		}
	}
	return b
}

// status is the peer's report at monotonic time now. Its error bound is the
// chosen sample's delay/2 + root delay/2 + root dispersion, plus RFC 5905's
// sample dispersion (server precision, PHI × round trip) and PHI × the
// sample's age, so that a server that stopped answering widens its interval
// instead of pinning the intersection with old news.
func (p *peer) status(now time.Duration) ServerStatus {
	st := ServerStatus{
		Address:   p.addr,
		Origin:    p.origin,
		State:     "pending",
		Reach:     p.reach,
		Polls:     p.polls,
		Samples:   len(p.window),
		Stratum:   p.stratum,
		Leap:      p.leap,
		RefID:     p.refid,
		PollNS:    int64(p.every),
		Kiss:      p.kiss,
		LastError: p.lastErr,
	}
	switch {
	case p.refused:
		st.State = "refused"
	case p.kiss == "RATE":
		st.State = "rate_limited"
	case p.unsynced:
		st.State = "unsynced"
	}
	b := p.best()
	if b < 0 {
		return st
	}
	s := p.window[b]
	offsets := make([]int64, len(p.window))
	for i, w := range p.window {
		offsets[i] = w.offset
	}
	age := max(now-s.at, 0)
	st.OffsetNS = s.offset
	st.DelayNS = s.delay
	st.JitterNS = jitter(offsets, b)
	st.AgeNS = int64(age)
	st.ErrorBoundNS = satAdd(satAdd(s.delay/2, s.base), int64(phi*float64(age)))
	st.usable = !p.refused && !p.unsynced && p.reach != 0
	return st
}
