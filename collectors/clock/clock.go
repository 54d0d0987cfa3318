// Package clock measures how far the local clock is from the internal NTP
// servers, the way an NTP client would (several samples per server, the
// lowest-delay one kept, error bounds, reachability, Marzullo's selection of
// truechimers and falsetickers), and reads the kernel's own view with
// read-only adjtimex. It emits one CLOCK record per interval. It never sets
// or slews the clock: no adjtimex with modes, no settimeofday, no
// clock_settime; all it sends are NTP client packets and DNS queries.
package clock

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Config says which servers to measure against and how often. Its zero value
// is the default: every address of ntp.internal, port 123, every 64 s.
// The yaml tags are its keys in the agent's configuration file (offbox.yaml;
// json the same, for the config hash); a field the file does not set is "-".
type Config struct {
	Servers  []string         `yaml:"servers" json:"servers"`   // "host", "host:port", "[v6]:port" or bare IPv6; port 123 when none
	Name     string           `yaml:"name" json:"name"`         // DNS name whose every A/AAAA record is a server; "" means ntp.internal when Servers is empty, none otherwise; re-resolved after its TTL (30 s..1 h; 5 min if unknown)
	NamePort int              `yaml:"port" json:"port"`         // port of the servers found through Name; 0 means 123
	Resolver Resolver         `yaml:"-" json:"-"`               // resolves Name; nil: the nameservers of /etc/resolv.conf asked directly (for TTLs), then Go's resolver
	Interval time.Duration    `yaml:"interval" json:"interval"` // one CLOCK record, and one poll of each server, per Interval; 0 means 64 s
	Samples  int              `yaml:"samples" json:"samples"`   // samples per server per poll, a little apart; 0 means 4
	Window   int              `yaml:"window" json:"window"`     // samples kept per server, the lowest-delay one used; 0 means 8
	Timeout  time.Duration    `yaml:"timeout" json:"timeout"`   // per NTP query; 0 means 2 s
	Root     string           `yaml:"-" json:"-"`               // host root for files read from the host; "" means "/" (nothing is read today: adjtimex is a system call)
	Now      func() time.Time `yaml:"-" json:"-"`
	Logger   *slog.Logger     `yaml:"-" json:"-"` // nil: slog.Default()
}

// Defaults of Config's zero values (offbox check-config shows them).
const (
	DefaultName     = "ntp.internal"
	DefaultPort     = 123
	DefaultInterval = 64 * time.Second
	DefaultSamples  = 4
	DefaultWindow   = 8
	DefaultTimeout  = 2 * time.Second
)

const (
	maxSamples     = 64
	maxWindow      = 1024
	resolveTimeout = 5 * time.Second
	// maxBackoff is the ceiling of a RATE-limited server's poll interval
	// (never below Interval).
	maxBackoff = time.Hour
)

// Collector is the clock collector. Create it with New.
type Collector struct {
	servers  []string // config servers as host:port
	name     string
	namePort int
	resolver Resolver
	interval time.Duration
	root     string
	now      func() time.Time
	log      *slog.Logger

	// Fixed after New; tests replace the query, monotonic clock and
	// kernel reader before the first round.
	pc     pollConfig
	kernel func() Kernel

	round    sync.Mutex // one round at a time; guards everything down to latestMu
	peers    map[string]*peer
	dnsAddrs []string // host:port from the last good answer for name
	dnsErr   string   // the last resolution failed: why

	// implicit: name is DefaultName only because nothing was configured. A
	// device without NTP configuration is told once (an agent_status record
	// and an info line), not in a warning and a reason every round.
	implicit    bool
	unsaid      string // an agent_status message not yet emitted
	saidMissing bool   // the missing configuration was stated
	resolved    bool
	resolveAt   time.Duration // monotonic
	prevWall    time.Time
	prevMono    time.Duration
	states      map[string]string // last reported state per server, for logging changes
	noMaj       bool

	latestMu  sync.Mutex
	latest    Summary
	hasLatest bool
}

// New checks cfg and returns a collector. It does no I/O.
func New(cfg Config) (*Collector, error) {
	c := &Collector{
		name:     cfg.Name,
		namePort: cfg.NamePort,
		resolver: cfg.Resolver,
		interval: cfg.Interval,
		root:     cfg.Root,
		now:      cfg.Now,
		log:      cfg.Logger,
		peers:    make(map[string]*peer),
		states:   make(map[string]string),
	}
	seen := make(map[string]bool)
	for _, s := range cfg.Servers {
		a, err := serverAddr(s)
		if err != nil {
			return nil, fmt.Errorf("clock: server %q: %w", s, err)
		}
		if !seen[a] {
			seen[a] = true
			c.servers = append(c.servers, a)
		}
	}
	if c.name == "" && len(c.servers) == 0 {
		c.name, c.implicit = DefaultName, true
	}
	if c.name != "" && (strings.ContainsAny(c.name, " \t/:[]") || len(c.name) > 253) {
		return nil, fmt.Errorf("clock: name %q is not a DNS name", c.name)
	}
	switch {
	case c.namePort == 0:
		c.namePort = DefaultPort
	case c.namePort < 0 || c.namePort > 65535:
		return nil, fmt.Errorf("clock: name port %d out of range", c.namePort)
	}
	if c.resolver == nil {
		c.resolver = systemResolver{resolvConf: "/etc/resolv.conf"}
	}
	if c.interval < 0 || cfg.Timeout < 0 || cfg.Samples < 0 || cfg.Window < 0 {
		return nil, errors.New("clock: negative Interval, Timeout, Samples or Window")
	}
	if c.interval == 0 {
		c.interval = DefaultInterval
	}
	samples, window, timeout := cfg.Samples, cfg.Window, cfg.Timeout
	if samples == 0 {
		samples = DefaultSamples
	}
	if window == 0 {
		window = DefaultWindow
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if samples > maxSamples || window > maxWindow {
		return nil, fmt.Errorf("clock: Samples over %d or Window over %d", maxSamples, maxWindow)
	}
	if c.root == "" {
		c.root = "/"
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("collector", "clock")
	base := time.Now()
	c.pc = pollConfig{
		query:    ntpQuery,
		samples:  samples,
		spacing:  min(max(c.interval/32, time.Millisecond), 250*time.Millisecond),
		timeout:  timeout,
		window:   window,
		interval: c.interval,
		maxEvery: max(c.interval, maxBackoff),
		mono:     func() time.Duration { return time.Since(base) }, // monotonic: steps of the wall clock do not move it
		onKiss: func(p *peer, code string) {
			c.log.Warn("kiss-of-death", "server", p.addr, "code", code, "poll", p.every, "refused", p.refused)
		},
		onRecovery: func(p *peer) { c.log.Info("server answers again", "server", p.addr) },
	}
	c.kernel = readKernel
	return c, nil
}

// serverAddr turns a configured server into host:port.
func serverAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty")
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return "", errors.New("bad port")
		}
		if host == "" {
			return "", errors.New("no host")
		}
		return net.JoinHostPort(host, port), nil
	}
	h := s
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if strings.ContainsAny(h, "[] \t/") {
		return "", errors.New("not a host")
	}
	if strings.Contains(h, ":") {
		if _, err := netip.ParseAddr(h); err != nil {
			return "", errors.New("not a host or host:port")
		}
	}
	return net.JoinHostPort(h, strconv.Itoa(DefaultPort)), nil
}

// Name implements collectors.Collector.
func (c *Collector) Name() string { return "clock" }

// Run measures every Interval, starting at once, and emits one CLOCK record
// per round until ctx ends; then it returns nil. It returns an error only if
// the emitter fails for another reason than ctx ending.
func (c *Collector) Run(ctx context.Context, out collectors.Emitter) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		s := c.Measure(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if msg := c.takeStatus(); msg != "" {
			if err := out.Emit(ctx, statusRecord(s.Time, msg)); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("clock: emit: %w", err)
			}
		}
		if err := out.Emit(ctx, record(s)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("clock: emit: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Collector) setStatus(msg string) {
	c.latestMu.Lock()
	c.unsaid = msg
	c.latestMu.Unlock()
}

// takeStatus returns the agent_status message due, once.
func (c *Collector) takeStatus() string {
	c.latestMu.Lock()
	defer c.latestMu.Unlock()
	msg := c.unsaid
	c.unsaid = ""
	return msg
}

// statusRecord states a fact about the clock configuration once.
func statusRecord(t time.Time, msg string) collectors.Record {
	return collectors.Record{Time: t, Kind: collectors.KindAgentStatus, Source: "clock", Body: []byte(msg),
		Attrs: []collectors.Attr{{Key: "status", Value: msg}}}
}

// Latest returns the summary of the last round, for the agent's heartbeat.
// The caller must not modify its slices.
func (c *Collector) Latest() (Summary, bool) {
	c.latestMu.Lock()
	defer c.latestMu.Unlock()
	return c.latest, c.hasLatest
}

// Measure runs one round now: re-resolve the name if its answer expired,
// poll every server that is due, read the kernel's view, select. Rounds
// never overlap; a concurrent call waits for the running one.
func (c *Collector) Measure(ctx context.Context) Summary {
	c.round.Lock()
	defer c.round.Unlock()

	wall, mono := c.now(), c.pc.mono()
	step := detectStep(c.prevWall, c.prevMono, wall, mono)
	c.prevWall, c.prevMono = wall, mono
	if step != nil {
		// Offsets measured before the step are off by the step.
		c.log.Warn("wall clock stepped", "step", step.Step)
		for _, p := range c.peers {
			p.window = nil
		}
	}

	reasons := c.refreshName(ctx, mono)
	c.syncPeers()

	var wg sync.WaitGroup
	for _, p := range c.peers {
		if p.due(mono, c.interval/2) {
			wg.Go(func() { p.poll(ctx, &c.pc) })
		}
	}
	wg.Wait()

	end := c.pc.mono()
	statuses := make([]ServerStatus, 0, len(c.peers))
	for _, p := range c.peers {
		statuses = append(statuses, p.status(end))
	}
	slices.SortFunc(statuses, func(a, b ServerStatus) int { return strings.Compare(a.Address, b.Address) })
	s := buildSummary(c.now(), statuses, c.kernel(), step, reasons)
	c.logChanges(s)

	c.latestMu.Lock()
	c.latest, c.hasLatest = s, true
	c.latestMu.Unlock()
	return s
}

// refreshName resolves the DNS name when its last answer has expired and
// returns the reason to report while resolution fails. A failure keeps the
// servers of the last good answer.
func (c *Collector) refreshName(ctx context.Context, mono time.Duration) []string {
	if c.name == "" {
		return nil
	}
	if c.resolved && mono < c.resolveAt {
		if c.dnsErr != "" {
			return []string{c.dnsErr}
		}
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	addrs, ttl, err := c.resolver.Resolve(rctx, c.name)
	cancel()
	c.resolved = true
	if err != nil {
		c.resolveAt = mono + retryFailed
		if c.implicit && len(c.dnsAddrs) == 0 {
			// Nothing configured and the conventional name is not there:
			// not a failure of this round, a fact about the device.
			if !c.saidMissing {
				c.saidMissing = true
				msg := fmt.Sprintf("no NTP servers configured (clock.servers, clock.name) and %s does not resolve (%v): the offset is not measured until one is set or %s resolves", c.name, err, c.name)
				c.log.Info("clock: " + msg)
				c.setStatus(msg)
			}
			return nil
		}
		msg := fmt.Sprintf("dns %s: %v", c.name, err)
		if len(c.dnsAddrs) > 0 {
			msg += fmt.Sprintf("; still using the %d servers of the last answer", len(c.dnsAddrs))
		}
		if msg != c.dnsErr {
			c.log.Warn("cannot resolve NTP servers", "name", c.name, "err", err)
		}
		c.dnsErr = msg
		return []string{msg}
	}
	c.dnsErr = ""
	if c.saidMissing {
		c.saidMissing = false
		c.setStatus(fmt.Sprintf("NTP servers found: %s resolves", c.name))
	}
	c.resolveAt = mono + keepFor(ttl)
	got := make([]string, 0, len(addrs))
	for _, a := range addrs {
		got = append(got, net.JoinHostPort(a.Unmap().String(), strconv.Itoa(c.namePort)))
	}
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(got, c.dnsAddrs) {
		c.log.Info("NTP servers resolved", "name", c.name, "servers", got, "ttl", ttl)
	}
	c.dnsAddrs = got
	return nil
}

// syncPeers keeps one peer per configured or resolved server, with its
// history, and forgets servers that are gone.
func (c *Collector) syncPeers() {
	want := make(map[string]string, len(c.servers)+len(c.dnsAddrs))
	for _, a := range c.dnsAddrs {
		want[a] = c.name
	}
	for _, a := range c.servers {
		want[a] = "config"
	}
	for a, p := range c.peers {
		if _, ok := want[a]; !ok {
			delete(c.peers, a)
			delete(c.states, a)
		} else {
			p.origin = want[a]
		}
	}
	for a, origin := range want {
		if _, ok := c.peers[a]; !ok {
			c.peers[a] = &peer{addr: a, origin: origin, every: c.interval}
		}
	}
}

// logChanges logs state changes worth a line, once each.
func (c *Collector) logChanges(s Summary) {
	for _, sv := range s.Servers {
		prev := c.states[sv.Address]
		if prev == sv.State {
			continue
		}
		c.states[sv.Address] = sv.State
		switch sv.State {
		case "unreachable", "falseticker", "refused", "unsynced":
			c.log.Warn("NTP server "+sv.State, "server", sv.Address, "offset", time.Duration(sv.OffsetNS),
				"error_bound", time.Duration(sv.ErrorBoundNS), "last_error", sv.LastError)
		case "truechimer":
			if prev != "" && prev != "pending" {
				c.log.Info("NTP server usable again", "server", sv.Address)
			}
		}
	}
	if s.NoMajority != c.noMaj {
		c.noMaj = s.NoMajority
		if s.NoMajority {
			c.log.Warn("NTP servers disagree: no majority", "candidates", s.Candidates, "agree", s.Agree)
		}
	}
}
