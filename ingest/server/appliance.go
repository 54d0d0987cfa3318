package server

import (
	"context"
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Relays: a relay agent opens a stream of its own for each appliance it
// relays for (over its one mTLS connection), with Hello.relay = its own
// device id and Hello.device_id = the appliance. The stream then speaks
// for the appliance: its batches are the appliance's chain (own sequence
// and head), signed with the relay's key, stored under the appliance's
// name. It is admitted only if the collector's appliance list
// (store.ApplianceStore) authorises that relay for that appliance, and
// the appliance is no agent host; anything else is refused and stored as
// an integrity event of the relay (counted past the budget, refusals.go).

// ApplianceList is what the server needs of the appliance authorisations.
type ApplianceList interface {
	Appliance(ctx context.Context, name string) (a store.Appliance, ok bool, err error)
}

// AgentHosts tells whether name is an agent host: a device that has
// signed with a certificate of its own name. nil: none is.
type AgentHosts func(ctx context.Context, name string) (bool, error)

// IsAgentHost is AgentHosts over a store's keys: a device whose stored
// certificates include one whose Common Name is the device itself.
func IsAgentHost(keys func(ctx context.Context, device string) ([]store.Key, error)) AgentHosts {
	return func(ctx context.Context, name string) (bool, error) {
		ks, err := keys(ctx, name)
		if err != nil {
			return false, err
		}
		for _, k := range ks {
			cert, err := x509.ParseCertificate(k.CertDER)
			if err != nil {
				continue
			}
			if cn, _, err := tlsconf.Identity(cert); err == nil && cn == name {
				return true, nil
			}
		}
		return false, nil
	}
}

// admit checks the Hello of a stream: a device's own (checkHello), or a
// relay's for an appliance, which then becomes the stream's identity.
func (ss *session) admit(wctx context.Context, h *offboxv1.Hello) error {
	if h.GetRelay() == "" {
		if err := ss.checkHello(wctx, h); err != nil {
			return err
		}
		return ss.notAnAppliance(wctx)
	}
	if h.GetRelay() != ss.id.device || string(h.GetKeyId()) != string(ss.id.keyID) {
		return ss.checkHello(wctx, &offboxv1.Hello{DeviceId: h.GetRelay(), KeyId: h.GetKeyId()})
	}
	name := h.GetDeviceId()
	why, err := ss.authorised(wctx, name)
	if err != nil {
		ss.log.Error("reading the appliance list failed", "appliance", name, "err", err)
		return refuse(codes.Unavailable, "the collector cannot read its appliance list now; retry")
	}
	if why != "" {
		ss.raise(wctx, &store.IntegrityEvent{Kind: store.EventApplianceRefused, Detail: fmt.Sprintf(
			"relay %s named appliance %q from %s: %s", ss.id.device, name, ss.remote, why)})
		return refuse(codes.PermissionDenied, "relay %s may not speak for %q: %s", ss.id.device, name, why)
	}
	relay := ss.id
	ss.id = &identity{device: name, keyID: relay.keyID, pub: relay.pub, certDER: relay.certDER, cert: relay.cert, relay: relay.device}
	ss.log = ss.srv.log.With("device", name, "relay", relay.device, "remote", ss.remote)
	return nil
}

// authorised says why relay ss.id may not speak for name, or "".
func (ss *session) authorised(ctx context.Context, name string) (string, error) {
	relay := ss.id.device
	switch {
	case !tlsconf.ValidDeviceID(name):
		return "not a device name", nil
	case name == relay:
		return "a relay is no appliance of its own", nil
	case ss.srv.cfg.Appliances == nil:
		return "this collector authorises no appliances", nil
	}
	a, ok, err := ss.srv.cfg.Appliances.Appliance(ctx, name)
	switch {
	case err != nil:
		return "", err
	case !ok:
		return "no such appliance is authorised (offbox-ingest appliance add)", nil
	case a.Relay != relay:
		return "it is authorised for another relay", nil
	}
	if ss.srv.cfg.AgentHosts != nil {
		host, err := ss.srv.cfg.AgentHosts(ctx, name)
		if err != nil {
			return "", err
		}
		if host {
			return "it is an agent host, with a certificate of its own", nil
		}
	}
	return "", nil
}

// notAnAppliance refuses a device's own stream when its name is an
// authorised appliance: an appliance never becomes an agent host.
func (ss *session) notAnAppliance(wctx context.Context) error {
	if ss.srv.cfg.Appliances == nil {
		return nil
	}
	a, ok, err := ss.srv.cfg.Appliances.Appliance(wctx, ss.id.device)
	if err != nil {
		ss.log.Error("reading the appliance list failed", "err", err)
		return refuse(codes.Unavailable, "the collector cannot read its appliance list now; retry")
	}
	if !ok {
		return nil
	}
	ss.raise(wctx, &store.IntegrityEvent{Kind: store.EventIdentityMismatch, Detail: fmt.Sprintf(
		"a certificate of %s connected from %s as an agent host, but %s is an appliance relayed by %s",
		ss.id.device, ss.remote, ss.id.device, a.Relay)})
	return refuse(codes.PermissionDenied, "%s is an appliance (relayed by %s), not an agent host", ss.id.device, a.Relay)
}
