// Package syslog receives syslog messages on a unix datagram socket (a
// /dev/log-style path), UDP and TCP, and hands each one on as a log record
// whose body is the message's bytes exactly as received; the parsed RFC 3164
// or RFC 5424 header goes into attributes, and a message that does not parse
// is kept whole and flagged, never dropped. Datagram senders cannot be made
// to wait, so when the agent's queue is full a datagram is dropped, counted
// per source, and the count is a gap record once there is room again; so
// are the datagrams the kernel dropped because the socket's receive buffer
// was full (SO_RXQ_OVFL on Linux), which the kernel reports with the next
// datagram it queues on that socket. Such loss is counted here only: the
// agent is asked not to count it again (collectors.Offerer). TCP senders
// wait (backpressure); TCP peers are bounded: connections open at once,
// idle time, and memory, which the agent's budget lends
// (collectors.Reserver). A connection over the limit or without memory is
// closed at once and counted, and the count is an agent_status record
// (never a log line per connection) and a heartbeat figure. The package
// never writes to disk but for the socket file it is told to create.
package syslog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"crypto/tls"

	"github.com/offbox/offbox/collectors"
)

// Config says where to listen. Its zero value listens nowhere.
// The yaml tags are its keys in the agent's configuration file (offbox.yaml;
// json the same, for the config hash); a field the file does not set is "-".
type Config struct {
	Unix            []string         `yaml:"unix" json:"unix"`                           // datagram socket paths, created mode 0666 (a stale socket is replaced)
	UDP             []string         `yaml:"udp" json:"udp"`                             // host:port
	TCP             []string         `yaml:"tcp" json:"tcp"`                             // host:port; octet-counted or newline-framed (RFC 6587), detected per message
	MaxMessageBytes int              `yaml:"max_message_bytes" json:"max_message_bytes"` // longer messages are cut into records flagged partial; 0 means 64 KiB
	ReadBufferBytes int              `yaml:"-" json:"-"`                                 // SO_RCVBUF of datagram sockets; 0 means 4 MiB (the kernel may cap it)
	GapEvery        time.Duration    `yaml:"-" json:"-"`                                 // how often a pending drop count is retried when no message comes; 0 means 1s
	Logger          *slog.Logger     `yaml:"-" json:"-"`                                 // nil: slog.Default()
	Now             func() time.Time `yaml:"-" json:"-"`                                 // record time; nil: time.Now
	// New keys are omitted from the config hash when unset, so an upgrade
	// does not change the hash of a configuration that does not use them.
	MaxConnections int           `yaml:"max_connections" json:"max_connections,omitempty"` // TCP connections open at once, over all TCP listeners; more are closed and counted; 0 means 256
	IdleTimeout    time.Duration `yaml:"idle_timeout" json:"idle_timeout,omitempty"`       // a TCP connection that sends nothing for this long is closed; 0 means 5m
	ReportEvery    time.Duration `yaml:"-" json:"-"`                                       // how often refused TCP connections are reported (agent_status record); 0 means 10s

	// Relay mode (relay.go): set by the agent's relay section, not by
	// the syslog section.
	TLS       []string    `yaml:"-" json:"-"` // host:port; RFC 5425 over TLSConfig
	TLSConfig *tls.Config `yaml:"-" json:"-"` // for TLS: the relay's certificate, client certificates asked for or required
	Route     Route       `yaml:"-" json:"-"` // set: every message goes to the emitter of its sender's appliance; unknown senders are dropped and counted
}

const (
	DefaultMaxMessageBytes = 64 << 10 // Config.MaxMessageBytes's zero value (offbox check-config shows it)
	maxMaxMessageBytes     = 16 << 20
	defaultReadBuffer      = 4 << 20
	defaultGapEvery        = time.Second
	DefaultMaxConnections  = 256
	defaultIdleTimeout     = 5 * time.Minute
	defaultReportEvery     = 10 * time.Second
	acceptBackoffMax       = time.Second
)

// Collector is the syslog receiver. New opens its sockets; Run reads them.
type Collector struct {
	maxMsg      int // bytes
	gapEvery    time.Duration
	maxConns    int64
	idle        time.Duration
	reportEvery time.Duration
	log         *slog.Logger
	now         func() time.Time

	dgrams []*dgramSource
	tcps   []*tcpSource

	// Set by Run from its Emitter.
	offer func(collectors.Record) bool // Offer, or TryEmit if the Emitter has none
	res   collectors.Reserver          // nil: the Emitter lends no memory (unbounded)

	// Running totals since start (heartbeats).
	open       atomic.Int64  // TCP connections open
	lent       atomic.Int64  // bytes the budget lends to TCP connections now
	idleClosed atomic.Uint64 // TCP connections closed for idling
	connErrs   atomic.Uint64 // TCP connections that ended with an error (reset, ...)
	cut        atomic.Uint64 // TCP messages cut short because the budget lent no memory
	dropped    atomic.Uint64 // datagrams dropped: queue full, or by the kernel

	routeFn         Route         // relay mode (relay.go); nil: everything goes to Run's Emitter
	prefix          string        // of source names and heartbeat figures: "syslog:" / "syslog_", or "relay:" / "relay_"
	unknown         atomic.Uint64 // relay mode: datagrams, connections and messages from no configured appliance
	reportedUnknown uint64        // what the last agent_status record counted; the reporter's goroutine only
}

var (
	_ collectors.Collector = (*Collector)(nil)
	_ collectors.Reporter  = (*Collector)(nil)
)

type dgramSource struct {
	name string // syslog:udp:ADDR or syslog:unix:PATH
	conn net.PacketConn
	path string // unix socket file to remove at the end; "" for UDP
	udp  bool

	dropped       uint64 // messages dropped since the last gap record; Run's goroutine only
	kernelDropped uint64 // of which the kernel dropped (receive buffer full)
	kernelCount   uint32 // the kernel's cumulative drop counter as last seen
	gapDue        bool   // try the gap record now: the queue took the last message, or gapEvery passed
}

type tcpSource struct {
	name string
	ln   net.Listener

	refusedLimit  atomic.Uint64 // connections closed at once: MaxConnections open
	refusedMemory atomic.Uint64 // connections closed at once: the budget lent no memory
	// What the last agent_status record counted; the reporter's goroutine only.
	reportedLimit, reportedMemory uint64
}

// New checks cfg and opens every socket, so that a bad address or a path
// in use fails before Run.
func New(cfg Config) (*Collector, error) {
	c := &Collector{maxMsg: cfg.MaxMessageBytes, gapEvery: cfg.GapEvery, maxConns: int64(cfg.MaxConnections),
		idle: cfg.IdleTimeout, reportEvery: cfg.ReportEvery, log: cfg.Logger, now: cfg.Now, routeFn: cfg.Route, prefix: "syslog"}
	if c.routeFn != nil {
		c.prefix = "relay"
	}
	switch {
	case c.maxMsg < 0 || c.maxMsg > maxMaxMessageBytes:
		return nil, fmt.Errorf("syslog: MaxMessageBytes %d: want 0 to %d", c.maxMsg, maxMaxMessageBytes)
	case c.maxMsg == 0:
		c.maxMsg = DefaultMaxMessageBytes
	}
	switch {
	case c.maxConns < 0:
		return nil, fmt.Errorf("syslog: MaxConnections %d is negative", c.maxConns)
	case c.maxConns == 0:
		c.maxConns = DefaultMaxConnections
	}
	if c.idle < 0 {
		return nil, fmt.Errorf("syslog: IdleTimeout %s is negative", c.idle)
	}
	if c.idle == 0 {
		c.idle = defaultIdleTimeout
	}
	if c.reportEvery <= 0 {
		c.reportEvery = defaultReportEvery
	}
	if c.gapEvery <= 0 {
		c.gapEvery = defaultGapEvery
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("collector", "syslog")
	if c.now == nil {
		c.now = time.Now
	}
	rcvbuf := cfg.ReadBufferBytes
	if rcvbuf <= 0 {
		rcvbuf = defaultReadBuffer
	}
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	for _, p := range cfg.Unix {
		conn, err := listenUnixgram(p)
		if err != nil {
			return nil, err
		}
		conn.SetReadBuffer(rcvbuf)
		d := &dgramSource{name: "syslog:unix:" + p, conn: conn, path: p}
		c.enableKernelDrops(d, conn)
		c.dgrams = append(c.dgrams, d)
	}
	for _, a := range cfg.UDP {
		if err := CheckAddr(a); err != nil {
			return nil, err
		}
		conn, err := net.ListenPacket("udp", a)
		if err != nil {
			return nil, fmt.Errorf("syslog: %w", err)
		}
		conn.(*net.UDPConn).SetReadBuffer(rcvbuf)
		d := &dgramSource{name: c.prefix + ":udp:" + a, conn: conn, udp: true}
		c.enableKernelDrops(d, conn.(*net.UDPConn))
		c.dgrams = append(c.dgrams, d)
	}
	for _, a := range cfg.TCP {
		if err := CheckAddr(a); err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return nil, fmt.Errorf("syslog: %w", err)
		}
		c.tcps = append(c.tcps, &tcpSource{name: c.prefix + ":tcp:" + a, ln: ln})
	}
	for _, a := range cfg.TLS {
		ln, err := listenTLS(a, cfg.TLSConfig)
		if err != nil {
			return nil, err
		}
		c.tcps = append(c.tcps, &tcpSource{name: c.prefix + ":tls:" + a, ln: ln})
	}
	ok = true
	return c, nil
}

// enableKernelDrops turns on the kernel's drop counter for d. Without it
// (not Linux, or refused) the source works as before but a full receive
// buffer loses datagrams silently, which is logged once.
func (c *Collector) enableKernelDrops(d *dgramSource, conn syscall.Conn) {
	if err := enableKernelDrops(conn); err != nil {
		c.log.Warn("cannot count datagrams the kernel drops (SO_RXQ_OVFL); such loss will not be reported",
			"source", d.name, "err", err)
	}
}

// CheckAddr reports whether a is a host:port to listen on.
func CheckAddr(a string) error {
	if _, _, err := net.SplitHostPort(a); err != nil {
		return fmt.Errorf("syslog: %q is not host:port", a)
	}
	return nil
}

// listenUnixgram creates the datagram socket at path, mode 0666 as /dev/log
// is so that every local program may log. A socket file nobody listens on
// (left by a process that died) is replaced; a live one or any other file
// is an error.
func listenUnixgram(path string) (*net.UnixConn, error) {
	if path == "" {
		return nil, errors.New("syslog: empty unix socket path")
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("syslog: %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unixgram", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("syslog: %s is in use by another listener", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("syslog: removing stale socket: %w", err)
		}
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		conn.Close()
		return nil, fmt.Errorf("syslog: %w", err)
	}
	return conn, nil
}

// Name implements collectors.Collector.
func (c *Collector) Name() string { return "syslog" }

// Sources are the names of the sources, in the order Config lists them
// (unix, udp, tcp).
func (c *Collector) Sources() []string {
	var s []string
	for _, d := range c.dgrams {
		s = append(s, d.name)
	}
	for _, t := range c.tcps {
		s = append(s, t.name)
	}
	return s
}

// Addrs are the bound addresses (useful with port 0), in the order of
// Sources.
func (c *Collector) Addrs() []net.Addr {
	var a []net.Addr
	for _, d := range c.dgrams {
		a = append(a, d.conn.LocalAddr())
	}
	for _, t := range c.tcps {
		a = append(a, t.ln.Addr())
	}
	return a
}

func (c *Collector) close() {
	for _, d := range c.dgrams {
		d.conn.Close()
		if d.path != "" {
			os.Remove(d.path)
		}
	}
	for _, t := range c.tcps {
		t.ln.Close()
	}
}

// Run reads every socket until ctx ends, then closes them (the unix
// socket files are removed).
func (c *Collector) Run(ctx context.Context, out collectors.Emitter) error {
	c.offer = out.TryEmit
	if o, ok := out.(collectors.Offerer); ok {
		c.offer = o.Offer
	}
	if r, ok := out.(collectors.Reserver); ok {
		c.res = countedReserver{r: r, lent: &c.lent}
	}
	var wg sync.WaitGroup
	for _, d := range c.dgrams {
		wg.Add(1)
		go func() { defer wg.Done(); c.readDgrams(ctx, d, out) }()
	}
	for _, t := range c.tcps {
		wg.Add(1)
		go func() { defer wg.Done(); c.acceptTCP(ctx, t, out) }()
	}
	if len(c.tcps) > 0 || c.routeFn != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.reportRefusals(ctx) }()
	}
	<-ctx.Done()
	c.close()
	wg.Wait()
	return nil
}

// readDgrams reads one datagram socket. It wakes every gapEvery to report
// a pending drop count even when no message comes.
func (c *Collector) readDgrams(ctx context.Context, d *dgramSource, out collectors.Emitter) {
	buf := make([]byte, c.maxMsg+1) // one more to see that a datagram was cut
	oob := make([]byte, dropOOBSize)
	read := func() (n, oobn int, peer net.Addr, err error) {
		switch conn := d.conn.(type) {
		case *net.UDPConn:
			var a *net.UDPAddr
			n, oobn, _, a, err = conn.ReadMsgUDP(buf, oob)
			if a != nil {
				peer = a
			}
		case *net.UnixConn:
			n, oobn, _, _, err = conn.ReadMsgUnix(buf, oob)
		default:
			n, peer, err = conn.ReadFrom(buf)
		}
		return n, oobn, peer, err
	}
	var attrs []collectors.Attr
	for ctx.Err() == nil {
		d.conn.SetReadDeadline(time.Now().Add(c.gapEvery))
		n, oobn, peer, err := read()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				d.gapDue = true
				c.flushDrops(d, out)
				continue
			}
			if ctx.Err() == nil {
				c.log.Error("read failed; source stopped", "source", d.name, "err", err)
			}
			return
		}
		if k, ok := kernelDrops(oob[:oobn]); ok {
			// The counter is stamped when a datagram is queued, so it only
			// grows from one datagram to the next; the difference is what
			// the kernel dropped between them (modulo 2^32).
			if delta := k - d.kernelCount; int32(delta) > 0 {
				d.dropped += uint64(delta)
				d.kernelDropped += uint64(delta)
				c.dropped.Add(uint64(delta))
				d.kernelCount = k
			}
		}
		if n == 0 {
			continue
		}
		msg, flags := buf[:n], uint32(0)
		attrs = attrs[:0]
		if n > c.maxMsg {
			// The rest of the datagram is gone: the kernel cut it.
			msg, flags = buf[:c.maxMsg], collectors.FlagPartial
			attrs = append(attrs, collectors.Attr{Key: "truncated", Value: "true"})
		}
		pm := Parse(msg)
		attrs = pm.Attrs(attrs)
		if d.udp && peer != nil {
			attrs = append(attrs, collectors.Attr{Key: "peer", Value: peer.String()})
		}
		c.flushDrops(d, out)
		at := c.now()
		if c.routeFn != nil {
			at, attrs = relayedTime(&pm, at, attrs)
		}
		r := collectors.Record{Time: at, Kind: collectors.KindLog, Source: d.name, Body: msg, Attrs: attrs, Flags: flags}
		offer := c.offer
		if c.routeFn != nil {
			em, ok := c.route(peer)
			if !ok {
				continue // counted; never attributed
			}
			offer = func(r collectors.Record) bool { return offerTo(em, r) }
		}
		if offer(r) {
			d.gapDue = true
		} else {
			d.dropped++
			c.dropped.Add(1)
		}
	}
}

// flushDrops emits the pending drop count of d as a gap record if there is
// room. It tries only when there is reason to think there is (see gapDue):
// an Emitter without Offer counts a refused gap record as a drop too, and
// one attempt per message while the queue stays full would double its
// count.
func (c *Collector) flushDrops(d *dgramSource, out collectors.Emitter) {
	if d.dropped == 0 || !d.gapDue {
		return
	}
	d.gapDue = false
	n := strconv.FormatUint(d.dropped, 10)
	reason, why := "queue_full", "queue full"
	attrs := []collectors.Attr{{Key: "reason", Value: ""}, {Key: "dropped", Value: n}, {Key: "source", Value: d.name}}
	if d.kernelDropped > 0 {
		k := strconv.FormatUint(d.kernelDropped, 10)
		if d.kernelDropped == d.dropped {
			reason, why = "receive_buffer_full", "socket receive buffer full"
		} else {
			reason, why = "queue_full,receive_buffer_full", "queue full, "+k+" of them in the kernel: socket receive buffer full"
		}
		attrs = append(attrs, collectors.Attr{Key: "kernel_dropped", Value: k})
	}
	attrs[0].Value = reason
	r := collectors.Record{Time: c.now(), Kind: collectors.KindGap, Source: d.name,
		Body: []byte("syslog: " + n + " messages dropped: " + why), Attrs: attrs}
	if c.offer(r) {
		d.dropped, d.kernelDropped = 0, 0
	}
}
