package agent

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Heartbeats of relayed appliances: an appliance's stream carries no
// heartbeat of its own, so at every heartbeat of the relay each appliance
// on the relay's list gets one in its own chain (signed by the relay, like
// its records). At the collector heartbeat_missing for an appliance then
// means that the relay, or the path from it, is down, and source_quiet
// fires for an appliance whose syslog stops while its relay is alive. The
// heartbeat says it is the relay's (relay=<relay id>) and carries the
// appliance's totals since the relay started: messages and bytes relayed,
// messages dropped for want of room, when it was last heard.
//
// Chains are made when the appliance list is loaded, and their streams
// opened at once, so an appliance that has not sent anything yet is
// heartbeated too, without appliance_last_heard: its device at the
// collector is alive with no source, and source_quiet, which needs a
// learned rhythm, stays silent for it until it has logged for a while. An
// appliance taken off the list (RelayOnly) is no longer heartbeated: its
// chain stays, but the collector's heartbeat_missing now says it is not
// relayed. The figures are a few counters per chain; nothing is written.

// applianceEmitter is an appliance chain's emitter, which counts what the
// appliance sent for its heartbeats.
type applianceEmitter struct {
	q   *queue
	now func() time.Time

	messages  atomic.Uint64 // queued
	bytes     atomic.Uint64 // of queued bodies
	dropped   atomic.Uint64 // not queued: no room (or Emit's context ended)
	lastHeard atomic.Int64  // unix nanoseconds of the relay's clock; 0: never
}

func (e *applianceEmitter) count(ok bool, r *collectors.Record) {
	e.lastHeard.Store(e.now().UnixNano())
	if !ok {
		e.dropped.Add(1)
		return
	}
	e.messages.Add(1)
	e.bytes.Add(uint64(len(r.Body)))
}

// Emit implements collectors.Emitter.
func (e *applianceEmitter) Emit(ctx context.Context, r collectors.Record) error {
	err := e.q.Emit(ctx, r)
	e.count(err == nil, &r)
	return err
}

// TryEmit implements collectors.Emitter.
func (e *applianceEmitter) TryEmit(r collectors.Record) bool {
	ok := e.q.TryEmit(r)
	e.count(ok, &r)
	return ok
}

// Offer implements collectors.Offerer: the appliance's drop is counted
// here, the relay's listener counts its own.
func (e *applianceEmitter) Offer(r collectors.Record) bool {
	ok := e.q.Offer(r)
	e.count(ok, &r)
	return ok
}

// RelayOnly says which appliances the relay now relays for (its list,
// reloaded): the others' chains stay but are no longer heartbeated.
// Appliance(name) puts one back.
func (a *Agent) RelayOnly(names []string) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	r := &a.relay
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, c := range r.apps {
		c.listed = keep[name]
	}
}

// applianceHeartbeats queues a heartbeat in the chain of every listed
// appliance and flushes it.
func (a *Agent) applianceHeartbeats(now time.Time) {
	r := &a.relay
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.apps) == 0 {
		return
	}
	relay := ""
	if id, err := a.cfg.Identity(); err == nil {
		relay = id.DeviceID
	}
	for _, c := range r.apps {
		if !c.listed {
			continue
		}
		c.q.TryEmit(collectors.Record{Time: now, Kind: collectors.KindHeartbeat, Source: agentSource,
			Attrs: a.applianceHeartbeatAttrs(c, relay)})
		c.q.Flush()
	}
}

// applianceHeartbeatAttrs are an appliance heartbeat's figures.
func (a *Agent) applianceHeartbeatAttrs(c *applianceChain, relay string) []collectors.Attr {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	used, dropped := c.q.usage()
	attrs := []collectors.Attr{
		{Key: "relay", Value: relay},
		{Key: "heartbeat_interval", Value: a.cfg.Heartbeat.String()},
		{Key: "appliance_messages", Value: u(c.em.messages.Load())},
		{Key: "appliance_bytes", Value: u(c.em.bytes.Load())},
		{Key: "appliance_dropped", Value: u(c.em.dropped.Load())},
		{Key: "queue_bytes", Value: strconv.FormatInt(used, 10)},
		{Key: "sent_records", Value: u(c.s.sentRecords.Load())},
		{Key: "sent_batches", Value: u(c.s.sentBatches.Load())},
		{Key: "dropped_records", Value: u(dropped.records)},
		{Key: "dropped_bytes", Value: u(dropped.bytes)},
		{Key: "throttle_events", Value: u(c.s.throttles.Load())},
	}
	if ns := c.em.lastHeard.Load(); ns != 0 {
		attrs = append(attrs, collectors.Attr{Key: "appliance_last_heard", Value: time.Unix(0, ns).UTC().Format(time.RFC3339Nano)})
	}
	return attrs
}
