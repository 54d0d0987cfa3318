package agent

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/internal/version"
	"github.com/offbox/offbox/transport/seal"
)

// Relaying: an agent relays syslog for appliances (routers, switches,
// firewalls that cannot run it). Each appliance is a device of its own at
// the collector, with its own chain: here a queue and a sender of its own
// (its own sequence and head, acknowledgements and resends), whose
// batches name the appliance as device and this agent as relay and are
// signed with this agent's key. Its stream says so in Hello.relay; the
// collector admits it only for the appliances it authorises for this
// relay. Every appliance's queue is lent by the agent's memory budget
// (Reserve), so relaying never takes the agent past it, and nothing is
// written to disk.

// ApplianceBudget is what one appliance's queue holds of a memory budget:
// a sixteenth, at least 256 KiB. Lent by the budget (Reserve: at most 3/4
// of it), the default 8 MiB relays for up to 12 appliances at once.
func ApplianceBudget(budget int64) int64 { return max(256<<10, budget/16) }

// applianceChain is one appliance's queue and sender.
type applianceChain struct {
	name string
	q    *queue
	s    *sender
	em   *applianceEmitter // what Appliance returns: q, counted (relaybeat.go)
	done chan struct{}     // closed when its sender has returned

	listed bool // on the relay's list: heartbeated (relaybeat.go); r.mu
}

// relaying is the agent's appliance chains.
type relaying struct {
	mu   sync.Mutex
	apps map[string]*applianceChain
	ctx  context.Context // the senders' context once Run has started them; nil before
	wg   sync.WaitGroup
}

// Appliance returns the emitter of appliance name's chain, creating the
// chain the first time (its queue's budget lent by the agent's). Records
// emitted to it are sealed as the appliance's, with this agent as relay.
// A chain, once made, lives as long as the agent: an appliance removed
// from the configuration only stops being routed to (collectors/syslog).
func (a *Agent) Appliance(name string) (collectors.Emitter, error) {
	r := &a.relay
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.apps[name]; ok {
		c.listed = true
		return c.em, nil
	}
	id, err := a.cfg.Identity()
	if err != nil {
		return nil, err
	}
	if name == id.DeviceID {
		return nil, fmt.Errorf("agent: appliance %q is this agent's own device id", name)
	}
	budget := ApplianceBudget(a.cfg.MemoryBudget)
	if !a.q.Reserve(budget) {
		return nil, fmt.Errorf("agent: the memory budget (%d bytes) has no room for appliance %s's queue (%d bytes); raise memory_budget", a.cfg.MemoryBudget, name, budget)
	}
	q := newQueue(queueConfig{budget: budget, maxBytes: min(a.cfg.BatchMaxBytes, int(budget/4)), maxRecords: a.cfg.BatchMaxRecords,
		maxDelay: a.cfg.BatchMaxDelay, idleDelay: a.cfg.BatchIdleDelay, now: a.cfg.Now})
	dial := a.cfg.RelayDialer
	if dial == nil {
		dial = a.cfg.Dialer
	}
	c := &applianceChain{name: name, q: q, em: &applianceEmitter{q: q, now: a.cfg.Now}, done: make(chan struct{}), listed: true}
	c.s = &sender{
		q:        q,
		dial:     dial,
		identity: applianceIdentity(a.cfg.Identity, name),
		hello:    a.hello,
		header:   seal.Header{BootID: a.bootID, SessionID: a.sessionID, AgentVersion: version.Version},
		window:   a.cfg.Window,
		backoff:  backoff{base: backoffBase, max: backoffMax, rand: a.cfg.Rand},
		welcome:  a.cfg.WelcomeTimeout,
		ackWait:  a.cfg.AckTimeout,
		log:      a.log.With("appliance", name),
		now:      a.cfg.Now,
		drain:    make(chan struct{}),

		rotations: make(chan *rotation),
		relayed:   true,
		onLoss: func(b *batch, reason string) {
			q.TryEmit(collectors.Record{Time: a.cfg.Now(), Kind: collectors.KindAgentStatus, Source: agentSource,
				Body:  []byte(fmt.Sprintf("batch %d rejected by the collector (%s): %d records lost", b.seq(), reason, b.count)),
				Attrs: rejectedAttrs(b, reason)})
		},
	}
	if r.apps == nil {
		r.apps = map[string]*applianceChain{}
	}
	r.apps[name] = c
	if r.ctx != nil {
		r.start(c)
	}
	a.log.Info("relaying for appliance", "appliance", name, "budget", budget)
	return c.em, nil
}

// applianceIdentity signs as this agent, for appliance name.
func applianceIdentity(own func() (Identity, error), name string) func() (Identity, error) {
	return func() (Identity, error) {
		id, err := own()
		if err != nil {
			return id, err
		}
		id.Relay, id.DeviceID = id.DeviceID, name
		return id, nil
	}
}

// start runs c's sender under r.ctx; r.mu is held.
func (r *relaying) start(c *applianceChain) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(c.done)
		c.s.run(r.ctx)
	}()
}

// startAll starts every chain's sender under ctx, and later ones at once.
func (r *relaying) startAll(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx = ctx
	for _, c := range r.apps {
		r.start(c)
	}
}

// drainAll asks every sender to drain and returns a channel closed when
// all have returned.
func (r *relaying) drainAll() <-chan struct{} {
	r.mu.Lock()
	apps := make([]*applianceChain, 0, len(r.apps))
	for _, c := range r.apps {
		close(c.s.drain)
		apps = append(apps, c)
	}
	r.ctx = nil // a chain made from now on is not started
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		for _, c := range apps {
			<-c.done
		}
		close(done)
	}()
	return done
}

// ApplianceStats are the running totals of each appliance chain, by name.
func (a *Agent) ApplianceStats() map[string]Stats {
	r := &a.relay
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]Stats, len(r.apps))
	for name, c := range r.apps {
		used, dropped := c.q.usage()
		out[name] = Stats{QueueBytes: used, SentRecords: c.s.sentRecords.Load(), SentBatches: c.s.sentBatches.Load(),
			DroppedRecords: dropped.records, DroppedBytes: dropped.bytes, Throttled: c.s.throttles.Load()}
	}
	return out
}

// waitDrained waits for ch until t fires; it reports whether ch closed.
func waitDrained(ch <-chan struct{}, t *time.Timer) bool {
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// keyChanged reports whether the identity now signs with another key than
// the session's.
func (s *sender) keyChanged() bool {
	id, err := s.identity()
	return err == nil && !bytes.Equal(id.KeyID, s.sessionKey)
}
