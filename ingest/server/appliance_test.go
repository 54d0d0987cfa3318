package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/verify"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// helloRelay opens c's stream as relay for appliance name.
func (c *client) helloRelay(name string) (*offboxv1.Welcome, error) {
	err := c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{
		AgentVersion: "test", BootId: c.dev.BootID, SessionId: c.dev.Session, DeviceId: name, KeyId: c.dev.KeyID,
		Relay: c.dev.Name}}})
	if err != nil {
		return nil, err
	}
	m, err := c.stream.Recv()
	if err != nil {
		return nil, err
	}
	return m.GetWelcome(), nil
}

// applianceBatch seals the next batch of appliance name's chain (held in
// chain) with the relay's key.
func applianceBatch(relay *batchtest.Device, name string, chain *batchtest.Device, lines ...string) *seal.Sealed {
	recs := make([]seal.WireRecord, len(lines))
	for i, l := range lines {
		recs[i] = seal.WireRecord{TimeNs: 1_700_000_000_000_000_000, Kind: uint32(offboxv1.Kind_KIND_LOG), Source: "syslog:udp:relay", Body: []byte(l)}
	}
	h := relay.Header(chain.Seq+1, chain.Prev, len(recs))
	h.DeviceID, h.Relay = name, relay.Name
	s := relay.SealHeader(h, recs...)
	chain.Seq, chain.Prev = s.Seq, s.Digest[:]
	return s
}

// A relay speaks for the appliances the collector authorises for it: each
// has its own chain, stored under its own name, verified clean; any other
// name (unknown, another relay's, an agent host, the relay itself) is
// refused and stored as an appliance_refused event of the relay; an
// appliance cannot connect as an agent host; a revocation of the
// appliance ends the relay's stream for it.
func TestRelayAppliances(t *testing.T) {
	t.Parallel()
	h := startServer(t, func(c *Config) {
		c.Appliances = c.Store.(store.Store)
		c.AgentHosts = IsAgentHost(c.Store.(store.Store).Keys)
		c.Revocations = c.Store.(store.Store).Revocations
	}, "relay-a", "relay-b", "host1", "fw1")
	ctx := context.Background()
	// host1 signs as itself first: an agent host.
	c := h.dial(t, h.pki, "host1")
	c.mustHello()
	c.send(c.dev.Next())
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
	c.stream.CloseSend()
	if _, err := c.stream.Recv(); err == nil {
		t.Fatal("host1's stream did not end")
	}
	for _, a := range []store.Appliance{{Name: "fw1", Relay: "relay-a"}, {Name: "fw2", Relay: "relay-a"}, {Name: "sw9", Relay: "relay-b"}, {Name: "host1", Relay: "relay-a"}} {
		if err := h.store.AddAppliance(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// Once named an appliance (the CLI refuses; the store does not know),
	// it cannot connect as an agent host any more.
	c = h.dial(t, h.pki, "host1")
	if _, err := c.hello(); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("host1, an authorised appliance name, connected as an agent host: %v", err)
	}

	chains := map[string]*batchtest.Device{}
	for _, name := range []string{"fw1", "fw2"} {
		c := h.dial(t, h.pki, "relay-a")
		w, err := c.helloRelay(name)
		if err != nil || w == nil {
			t.Fatalf("relay-a for %s: %v", name, err)
		}
		if w.GetHead().GetSeq() != 0 {
			t.Errorf("%s's head = %d, want 0 (a chain of its own)", name, w.GetHead().GetSeq())
		}
		chains[name] = &batchtest.Device{}
		for i := range 3 {
			c.send(applianceBatch(c.dev, name, chains[name], name+" line "+string(rune('a'+i))))
			c.wantAck(uint64(i+1), offboxv1.Ack_STATUS_STORED)
		}
		// A batch of this stream naming the relay's own chain, or no relay, is refused.
		bad := c.dev.Header(4, chains[name].Prev, 0)
		bad.DeviceID = name
		c.send(c.dev.SealHeader(bad))
		c.wantEnd(codes.PermissionDenied)
	}
	for _, name := range []string{"fw1", "fw2"} {
		hd, err := h.store.Head(ctx, name)
		if err != nil || hd.Seq != 3 {
			t.Errorf("%s head = %d, %v; want 3", name, hd.Seq, err)
		}
		var n int
		for r, err := range h.store.Records(ctx, store.RecordQuery{Device: name}) {
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(r.GetBody()), name+" ") {
				t.Errorf("%s stores %q", name, r.GetBody())
			}
			n++
		}
		if n != 3 {
			t.Errorf("%s: %d records, want 3", name, n)
		}
	}
	if hd, _ := h.store.Head(ctx, "relay-a"); hd.Seq != 0 {
		t.Errorf("relay-a's own head moved to %d", hd.Seq)
	}
	// relay-a renewed: a new key, the same name; fw1's chain goes on with it.
	ca, err := tlsconf.LoadCA(filepath.Join(h.pki, "ca.pem"), filepath.Join(h.pki, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := tlsconf.GenerateKey(tlsconf.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueDevice("relay-a", nil, key.Public(), time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	renewed := t.TempDir()
	if err := tlsconf.WriteKeyPair(renewed, "relay-a", cert, key); err != nil {
		t.Fatal(err)
	}
	if caPEM, err := os.ReadFile(filepath.Join(h.pki, "ca.pem")); err != nil || os.WriteFile(filepath.Join(renewed, "ca.pem"), caPEM, 0o600) != nil {
		t.Fatal("copying ca.pem", err)
	}
	c = h.dial(t, renewed, "relay-a")
	if w, err := c.helloRelay("fw1"); err != nil || w.GetHead().GetSeq() != 3 {
		t.Fatalf("renewed relay-a for fw1: head %d, %v", w.GetHead().GetSeq(), err)
	}
	c.send(applianceBatch(c.dev, "fw1", chains["fw1"], "fw1 after the renewal"))
	c.wantAck(4, offboxv1.Ack_STATUS_STORED)
	c.stream.CloseSend()
	c.stream.Recv()
	for name, n := range map[string]int{"fw1": 4, "fw2": 3} {
		rep, err := verify.Run(ctx, h.store, name)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || len(rep.Devices) != 1 || rep.Devices[0].Batches != n {
			t.Errorf("verify %s: %+v", name, rep)
		}
	}

	// What a collector without relays sees of an appliance stream (no
	// Hello.relay read): a device id other than the certificate's, an
	// identity mismatch, refused; never stored under anyone.
	old := h.dial(t, h.pki, "relay-a")
	if _, err := old.helloAs("fw1", old.dev.KeyID); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a Hello naming fw1 without relay: %v, want PermissionDenied", err)
	}

	refused := map[string]string{
		"fw9":      "no such appliance",
		"sw9":      "another relay",
		"host1":    "agent host",
		"relay-a":  "a relay is no appliance",
		"relay-b":  "no such appliance",
		"bad name": "not a device name",
	}
	for name, why := range refused {
		c := h.dial(t, h.pki, "relay-a")
		_, err := c.helloRelay(name)
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), why) {
			t.Errorf("relay-a for %q: %v, want PermissionDenied: %s", name, err, why)
		}
	}
	evs := h.events("relay-a")
	var n int
	for _, e := range evs {
		if e.Kind == store.EventApplianceRefused {
			n++
		}
	}
	if n != len(refused) {
		t.Errorf("%d appliance_refused events of relay-a, want %d: %+v", n, len(refused), evs)
	}
	for _, name := range []string{"fw9", "sw9"} {
		if hd, _ := h.store.Head(ctx, name); hd.Seq != 0 {
			t.Errorf("%s has a head %d after a refused stream", name, hd.Seq)
		}
	}

	// Revoking the appliance ends the relay's stream for it, not for fw2.
	c1 := h.dial(t, h.pki, "relay-a")
	if _, err := c1.helloRelay("fw1"); err != nil {
		t.Fatal(err)
	}
	c2 := h.dial(t, h.pki, "relay-a")
	if _, err := c2.helloRelay("fw2"); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Revoke(ctx, store.Revocation{Device: "fw1", Time: time.Now(), By: "test", Reason: "stolen"}); err != nil {
		t.Fatal(err)
	}
	c1.wantEnd(codes.PermissionDenied)
	c2.send(applianceBatch(c2.dev, "fw2", chains["fw2"], "still here"))
	c2.wantAck(4, offboxv1.Ack_STATUS_STORED)
}

// TestApplianceRemovedEndsOpenStream: withdrawing an appliance (or giving
// it to another relay) closes the relay's open stream for it within a poll,
// on record as an appliance_refused event of the relay; the relay's other
// appliance streams go on.
func TestApplianceRemovedEndsOpenStream(t *testing.T) {
	t.Parallel()
	h := startServer(t, func(c *Config) {
		c.Appliances = c.Store.(store.Store)
		c.Revocations = c.Store.(store.Store).Revocations
		c.RevocationPoll = 50 * time.Millisecond
	}, "relay-a", "relay-b")
	ctx := context.Background()
	for _, a := range []store.Appliance{{Name: "fw1", Relay: "relay-a"}, {Name: "fw2", Relay: "relay-a"}, {Name: "fw3", Relay: "relay-a"}} {
		if err := h.store.AddAppliance(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	streams := map[string]*client{}
	chains := map[string]*batchtest.Device{}
	for _, name := range []string{"fw1", "fw2", "fw3"} {
		c := h.dial(t, h.pki, "relay-a")
		if _, err := c.helloRelay(name); err != nil {
			t.Fatalf("relay-a for %s: %v", name, err)
		}
		chains[name] = &batchtest.Device{}
		c.send(applianceBatch(c.dev, name, chains[name], name+" before"))
		c.wantAck(1, offboxv1.Ack_STATUS_STORED)
		streams[name] = c
	}
	if err := h.store.RemoveAppliance(ctx, "fw1"); err != nil {
		t.Fatal(err)
	}
	if err := h.store.RemoveAppliance(ctx, "fw2"); err != nil {
		t.Fatal(err)
	}
	if err := h.store.AddAppliance(ctx, store.Appliance{Name: "fw2", Relay: "relay-b"}); err != nil {
		t.Fatal(err)
	}
	streams["fw1"].wantEnd(codes.PermissionDenied)
	streams["fw2"].wantEnd(codes.PermissionDenied)
	// fw3 is still authorised: its stream goes on.
	streams["fw3"].send(applianceBatch(streams["fw3"].dev, "fw3", chains["fw3"], "fw3 after"))
	streams["fw3"].wantAck(2, offboxv1.Ack_STATUS_STORED)
	var withdrawn, moved int
	for _, e := range h.events("relay-a") {
		if e.Kind != store.EventApplianceRefused {
			continue
		}
		switch {
		case strings.Contains(e.Detail, `"fw1"`) && strings.Contains(e.Detail, "withdrawn"):
			withdrawn++
		case strings.Contains(e.Detail, `"fw2"`) && strings.Contains(e.Detail, "relay relay-b"):
			moved++
		default:
			t.Errorf("unexpected appliance_refused event: %s", e.Detail)
		}
	}
	if withdrawn != 1 || moved != 1 {
		t.Errorf("appliance_refused events: %d for fw1 withdrawn, %d for fw2 moved; want 1 each", withdrawn, moved)
	}
}
