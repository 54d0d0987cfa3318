// Relay mode: the listeners of a relay agent, which receives syslog from
// appliances (routers, switches, firewalls that cannot run the agent) and
// hands each message to the chain of the appliance that sent it. The
// sender is known by its source address alone (Config.Route); a datagram,
// a connection or a message from an address that is no configured
// appliance is dropped and counted (a heartbeat figure and an
// agent_status record), never attributed to anyone. The route is asked
// for every message, so an appliance removed from the list stops being
// attributed at once, open TCP connections included (they are closed).

package syslog

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Route returns the emitter of the appliance at addr (its chain), or false
// when addr is no configured appliance. It is called for every message and
// must be cheap and safe for concurrent use.
type Route func(addr netip.Addr) (collectors.Emitter, bool)

// route finds the appliance emitter for peer; it counts and refuses an
// unknown sender.
func (c *Collector) route(peer net.Addr) (collectors.Emitter, bool) {
	var ip netip.Addr
	switch a := peer.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	}
	if em, ok := c.routeFn(ip.Unmap()); ok {
		return em, true
	}
	c.unknown.Add(1)
	return nil, false
}

// offerTo queues r on em without waiting: Offer when em counts no loss of
// its own, else TryEmit.
func offerTo(em collectors.Emitter, r collectors.Record) bool {
	if o, ok := em.(collectors.Offerer); ok {
		return o.Offer(r)
	}
	return em.TryEmit(r)
}

// listenTLS opens a TLS listener (RFC 5425: octet-counted syslog over TLS;
// readStream detects the framing per message, so newline framing works
// too). cfg says whether client certificates are asked for or required.
func listenTLS(a string, cfg *tls.Config) (net.Listener, error) {
	if err := CheckAddr(a); err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, fmt.Errorf("syslog: TLS listener %s without a TLS configuration", a)
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return nil, fmt.Errorf("syslog: %w", err)
	}
	return tls.NewListener(ln, cfg), nil
}

// reportUnknown writes one agent_status record of the senders refused since
// the last one, if any. A record the queue has no room for is retried.
func (c *Collector) reportUnknown() {
	n := c.unknown.Load()
	d := n - c.reportedUnknown
	if d == 0 {
		return
	}
	r := collectors.Record{Time: c.now(), Kind: collectors.KindAgentStatus, Source: c.prefix + "relay",
		Body: []byte(fmt.Sprintf("relay: %d datagrams, connections or messages from addresses that are no configured appliance dropped", d)),
		Attrs: []collectors.Attr{
			{Key: "reason", Value: "unknown_sender"},
			{Key: "unknown_senders", Value: strconv.FormatUint(d, 10)},
			{Key: "unknown_senders_total", Value: strconv.FormatUint(n, 10)},
		}}
	if c.offer(r) {
		c.reportedUnknown = n
	}
}

// applianceTime is a relayed message's time: the appliance's own timestamp
// (its header's) when it names an instant, so that the collector compares
// the appliance's clock, not the relay's, with its own (timestamp_mismatch
// per appliance); the relay's receive time is kept beside it as the
// attribute relay_received_time. An RFC 3164 stamp has no year or zone: it
// is read in the relay's zone, in the year that puts it nearest to the
// receive time. A message without a usable timestamp keeps the receive
// time.
func applianceTime(ts string, received time.Time) (time.Time, bool) {
	if ts == "" || len(ts) > 64 {
		return received, false
	}
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		return t, true
	}
	t, err := time.ParseInLocation(time.Stamp, ts, received.Location())
	if err != nil {
		return received, false
	}
	best := time.Time{}
	for _, y := range []int{received.Year() - 1, received.Year(), received.Year() + 1} {
		c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, received.Location())
		if c.Day() != t.Day() { // Feb 29 in a year without one
			continue
		}
		if best.IsZero() || absDur(c.Sub(received)) < absDur(best.Sub(received)) {
			best = c
		}
	}
	if best.IsZero() {
		return received, false
	}
	return best, true
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// relayedTime is applianceTime with the relay's receive time added to attrs.
func relayedTime(m *Message, received time.Time, attrs []collectors.Attr) (time.Time, []collectors.Attr) {
	t, _ := applianceTime(m.Timestamp, received)
	return t, append(attrs, collectors.Attr{Key: "relay_received_time", Value: received.UTC().Format(time.RFC3339Nano)})
}
