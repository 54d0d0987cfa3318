package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/internal/version"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// Defaults of Config's zero values.
const (
	DefaultMemoryBudget    = 8 << 20 // bytes
	DefaultBatchMaxBytes   = 1 << 20
	DefaultBatchMaxRecords = 20_000
	DefaultBatchMaxDelay   = 200 * time.Millisecond
	DefaultBatchIdleDelay  = 10 * time.Millisecond // a batch per 10ms at low rates: few signatures and commits, low latency
	DefaultWindow          = 4
	DefaultHeartbeat       = 15 * time.Second
	DefaultDrainTimeout    = 5 * time.Second
	DefaultWelcomeTimeout  = 30 * time.Second
	DefaultAckTimeout      = 60 * time.Second
	backoffBase            = 500 * time.Millisecond
	backoffMax             = 30 * time.Second
)

// agentSource is the source of the records the agent itself writes.
const agentSource = "agent"

// Config is what the agent runs. Its zero value, given Dialer, Identity and
// Collectors, is the default.
type Config struct {
	Collectors  []collectors.Collector   // on-device sources; Resumers start after the first Welcome
	Dialer      Dialer                   // opens a session to the collector service
	RelayDialer Dialer                   // opens appliances' sessions (relay.go); nil: Dialer
	Identity    func() (Identity, error) // who signs, read at every seal (see TLSIdentity)

	HostRoot        string        // where the host's /proc is read (boot id; heartbeat uptime, load, memory); "" means "/"
	MemoryBudget    int64         // bytes of encoded records not yet acknowledged; 0 means 8 MiB
	BatchMaxBytes   int           // of encoded records per batch; 0 means 1 MiB
	BatchMaxRecords int           // per batch; 0 means 20,000
	BatchMaxDelay   time.Duration // from a batch's first record to its sealing; 0 means 200ms
	BatchIdleDelay  time.Duration // the same when nothing is in flight; 0 means DefaultBatchIdleDelay, negative means at once
	Window          int           // sealed batches in flight; 0 means 4
	Heartbeat       time.Duration // between heartbeat records; 0 means 15s
	ConfigHash      string        // reported in heartbeats

	// HeartbeatAttrs adds attributes to each heartbeat (offbox: the clock
	// collector's latest summary); nil adds none.
	HeartbeatAttrs func() []collectors.Attr

	DrainTimeout   time.Duration // at shutdown, to get the last batches acknowledged; 0 means 5s
	WelcomeTimeout time.Duration // 0 means 30s
	AckTimeout     time.Duration // for the oldest batch in flight before reconnecting; 0 means 60s

	// Renewal, if set, renews the device certificate before it expires
	// (see Renewal); nil: no renewal.
	Renewal *Renewal

	// Ready, if set, is called once per Run when the sender, the heartbeat
	// and the collectors that need no checkpoints have started; it does not
	// wait for the first Welcome (file tailers start then). offbox sends
	// systemd's READY=1 from it.
	Ready func()

	// Settled, if set, is called by the sender each time an acknowledgement
	// leaves nothing in flight and nothing queued: a burst of work (a
	// heartbeat, a clock round, a few lines) is over. It must not block.
	// offbox gives back the code pages the burst touched.
	Settled func()

	Logger *slog.Logger         // nil: slog.Default()
	Now    func() time.Time     // nil: time.Now
	Rand   func(n int64) int64  // uniform in [0, n), for reconnect jitter; nil: math/rand/v2
	Random func(b []byte) error // fills the session id; nil: crypto/rand
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.HostRoot == "" {
		c.HostRoot = "/"
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = DefaultMemoryBudget
	}
	def(&c.BatchMaxBytes, DefaultBatchMaxBytes)
	def(&c.BatchMaxRecords, DefaultBatchMaxRecords)
	def(&c.Window, DefaultWindow)
	defDur(&c.BatchMaxDelay, DefaultBatchMaxDelay)
	defDur(&c.BatchIdleDelay, DefaultBatchIdleDelay)
	if c.BatchIdleDelay < 0 {
		c.BatchIdleDelay = 0
	}
	defDur(&c.Heartbeat, DefaultHeartbeat)
	defDur(&c.DrainTimeout, DefaultDrainTimeout)
	defDur(&c.WelcomeTimeout, DefaultWelcomeTimeout)
	defDur(&c.AckTimeout, DefaultAckTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = mrand.Int64N
	}
	if c.Random == nil {
		c.Random = func(b []byte) error { _, err := rand.Read(b); return err }
	}
}

func (c *Config) check() error {
	switch {
	case c.Dialer == nil:
		return errors.New("agent: no dialer")
	case c.Identity == nil:
		return errors.New("agent: no identity")
	case c.MemoryBudget < 0:
		return fmt.Errorf("agent: memory budget %d is negative", c.MemoryBudget)
	case c.BatchMaxBytes < 0 || c.BatchMaxRecords < 0 || c.Window < 0:
		return errors.New("agent: batch sizes and window must not be negative")
	case c.BatchMaxDelay < 0 || c.Heartbeat < 0:
		return errors.New("agent: batch delay and heartbeat must not be negative")
	case c.Renewal != nil && (c.Renewal.Cert == nil || c.Renewal.Renew == nil || c.Renewal.Install == nil):
		return errors.New("agent: renewal needs Cert, Renew and Install")
	}
	return nil
}

// Agent is one run of the offbox agent. Create it with New.
type Agent struct {
	cfg       Config
	log       *slog.Logger
	q         *queue
	s         *sender
	acks      *ackNotifier
	bootID    string
	sessionID []byte
	started   time.Time

	mu       sync.Mutex
	stopping bool            // no collector starts any more
	running  sync.WaitGroup  // collector and heartbeat goroutines
	runCtx   context.Context // what collectors run under; set by Run

	relay relaying // appliance chains (relay.go)
}

// New checks cfg, reads the boot id and the identity once (a bad
// certificate fails here, before anything runs) and returns the agent.
func New(cfg Config) (*Agent, error) {
	cfg.setDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	id, err := cfg.Identity()
	if err != nil {
		return nil, fmt.Errorf("agent: identity: %w", err)
	}
	sessionID := make([]byte, 16)
	if err := cfg.Random(sessionID); err != nil {
		return nil, fmt.Errorf("agent: session id: %w", err)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, sessionID: sessionID, started: cfg.Now()}
	a.bootID, err = ReadBootID(cfg.HostRoot)
	if err != nil {
		a.log.Warn("no boot id; batches will carry none", "err", err)
	}
	a.q = newQueue(queueConfig{budget: cfg.MemoryBudget, maxBytes: cfg.BatchMaxBytes,
		maxRecords: cfg.BatchMaxRecords, maxDelay: cfg.BatchMaxDelay, idleDelay: cfg.BatchIdleDelay, now: cfg.Now})
	a.acks = newAckNotifier(ackersOf(cfg.Collectors))
	a.s = &sender{
		q:        a.q,
		dial:     cfg.Dialer,
		identity: cfg.Identity,
		hello:    a.hello,
		header:   seal.Header{BootID: a.bootID, SessionID: sessionID, AgentVersion: version.Version},
		window:   cfg.Window,
		backoff:  backoff{base: backoffBase, max: backoffMax, rand: cfg.Rand},
		welcome:  cfg.WelcomeTimeout,
		ackWait:  cfg.AckTimeout,
		log:      cfg.Logger,
		now:      cfg.Now,
		drain:    make(chan struct{}),

		rotations: make(chan *rotation),

		onFirstWelcome: a.startResumers,
		onAcked:        a.acks.add,
		onLoss:         a.recordRejected,
		onSettled:      cfg.Settled,
	}
	a.log.Info("agent ready", "device_id", id.DeviceID, "key_id", hex.EncodeToString(id.KeyID),
		"boot_id", a.bootID, "session_id", hex.EncodeToString(sessionID), "version", version.Version)
	return a, nil
}

// ReadBootID reads the kernel's boot id under hostRoot.
func ReadBootID(hostRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(hostRoot, "proc/sys/kernel/random/boot_id"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Emitter is the agent's queue, for sources wired outside Config.Collectors.
func (a *Agent) Emitter() collectors.Emitter { return a.q }

// Stats are the agent's running totals.
type Stats struct {
	QueueBytes     int64 // of encoded records not yet acknowledged
	SentRecords    uint64
	SentBatches    uint64 // counted once each, resends not counted
	DroppedRecords uint64 // queue full, or in a rejected batch; not what a source offered and reports itself (syslog datagrams)
	DroppedBytes   uint64 // of record bodies
	Throttled      uint64 // Throttle messages from the collector (over the device's rate limit)
}

// Stats returns the current totals.
func (a *Agent) Stats() Stats {
	used, dropped := a.q.usage()
	return Stats{QueueBytes: used, SentRecords: a.s.sentRecords.Load(), SentBatches: a.s.sentBatches.Load(),
		DroppedRecords: dropped.records, DroppedBytes: dropped.bytes, Throttled: a.s.throttles.Load()}
}

// Run runs the agent until ctx ends: collectors that need no checkpoints and
// the heartbeat at once, file tailers after the first Welcome, and the
// sender throughout. When ctx ends it stops the collectors, then tries for
// up to DrainTimeout to get everything queued acknowledged.
func (a *Agent) Run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	a.mu.Lock()
	a.runCtx = runCtx
	a.mu.Unlock()

	a.emitStatus("agent started", collectors.Attr{Key: "version", Value: version.Version},
		collectors.Attr{Key: "session_id", Value: hex.EncodeToString(a.sessionID)})
	// The sender outlives ctx: it drains after the collectors stop.
	sendCtx, stopSending := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSending()
	sent := make(chan struct{})
	go func() { defer close(sent); a.s.run(sendCtx) }()
	a.relay.startAll(sendCtx)
	acked := make(chan struct{})
	go func() { defer close(acked); a.acks.run(sendCtx) }()

	a.start(func() { a.heartbeats(runCtx) })
	if r := a.cfg.Renewal; r != nil {
		a.start(func() { a.renewals(runCtx, r) })
	}
	for _, c := range a.cfg.Collectors {
		if _, ok := c.(collectors.Resumer); !ok {
			a.start(func() { a.supervisor().supervise(runCtx, c, a.q) })
		}
	}
	if a.cfg.Ready != nil {
		a.cfg.Ready()
	}

	<-runCtx.Done()
	a.stopCollectors()
	a.emitStatus("agent stopping")
	a.drain(sent)
	stopSending()
	<-sent
	<-acked
	a.relay.wg.Wait()
	return nil
}

// drain lets the sender flush what is queued, for up to DrainTimeout.
func (a *Agent) drain(sent <-chan struct{}) {
	close(a.s.drain)
	apps := a.relay.drainAll()
	t := time.NewTimer(a.cfg.DrainTimeout)
	defer t.Stop()
	if !waitDrained(sent, t) || !waitDrained(apps, t) {
		st := a.Stats()
		a.log.Warn("stopping with records not acknowledged by the collector", "queue_bytes", st.QueueBytes)
	}
}

// start runs f in a collector goroutine unless the agent is stopping.
func (a *Agent) start(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return
	}
	a.running.Add(1)
	go func() { defer a.running.Done(); f() }()
}

func (a *Agent) stopCollectors() {
	a.mu.Lock()
	a.stopping = true
	a.mu.Unlock()
	a.running.Wait()
}

// startResumers hands the Welcome's checkpoints to the collectors that
// resume from them, then starts them. The sender calls it once.
func (a *Agent) startResumers(cps []collectors.Checkpoint) {
	a.mu.Lock()
	runCtx := a.runCtx
	a.mu.Unlock()
	for _, c := range a.cfg.Collectors {
		r, ok := c.(collectors.Resumer)
		if !ok {
			continue
		}
		r.Resume(cps)
		a.start(func() { a.supervisor().supervise(runCtx, c, a.q) })
	}
}

func (a *Agent) supervisor() supervisor {
	return supervisor{log: a.log, rand: a.cfg.Rand, now: a.cfg.Now}
}

func (a *Agent) hello(id Identity) *offboxv1.Hello {
	return &offboxv1.Hello{AgentVersion: version.Version, BootId: a.bootID, SessionId: a.sessionID,
		DeviceId: id.DeviceID, KeyId: id.KeyID, Relay: id.Relay}
}

// emitStatus queues a KindAgentStatus record without waiting.
func (a *Agent) emitStatus(body string, attrs ...collectors.Attr) {
	a.q.TryEmit(collectors.Record{Time: a.cfg.Now(), Kind: collectors.KindAgentStatus, Source: agentSource,
		Body: []byte(body), Attrs: attrs})
}

// recordRejected writes the loss of a rejected batch into the chain.
func (a *Agent) recordRejected(b *batch, reason string) {
	a.emitStatus(fmt.Sprintf("batch %d rejected by the collector (%s): %d records lost", b.seq(), reason, b.count),
		rejectedAttrs(b, reason)...)
}

func ackersOf(cs []collectors.Collector) []collectors.Acker {
	var out []collectors.Acker
	for _, c := range cs {
		if ak, ok := c.(collectors.Acker); ok {
			out = append(out, ak)
		}
	}
	return out
}

// MemoryLimit is a soft limit for the Go runtime (debug.SetMemoryLimit)
// that fits what the agent holds: the budget's records in their batch
// buffers, a spare buffer or two, one batch being marshalled by gRPC, and
// the runtime, TLS and gRPC themselves. Past it the collector runs more
// often instead of letting the heap double.
func (a *Agent) MemoryLimit() int64 {
	return a.cfg.MemoryBudget + 3*int64(a.cfg.BatchMaxBytes+headerRoom) + 8<<20
}
