package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/offbox/offbox/ingest/store"
)

// checkAppliances closes every open appliance stream whose authorisation
// is gone (offbox-ingest appliance remove) or now names another relay,
// recording each cut-off as an appliance_refused event of the relay, as
// loadRevocations does for revoked certificates. It runs on the same poll.
func (s *Server) checkAppliances(ctx context.Context) error {
	if s.cfg.Appliances == nil {
		return nil
	}
	type relayed struct {
		appliance, relay, remote string
		since                    time.Time
	}
	var open []relayed
	s.mu.Lock()
	for device, o := range s.open {
		if !o.cut && o.id != nil && o.id.relay != "" {
			open = append(open, relayed{device, o.id.relay, o.remote, o.since})
		}
	}
	s.mu.Unlock()
	for _, r := range open {
		a, ok, err := s.cfg.Appliances.Appliance(ctx, r.appliance)
		if err != nil {
			return err
		}
		if ok && a.Relay == r.relay {
			continue
		}
		why := "its authorisation was withdrawn (offbox-ingest appliance remove)"
		if ok {
			why = "it is now authorised for relay " + a.Relay
		}
		s.mu.Lock()
		o := s.open[r.appliance]
		if o == nil || o.cut || o.id == nil || o.id.relay != r.relay {
			s.mu.Unlock()
			continue // ended or replaced meanwhile
		}
		o.cut = true
		cancel := o.cancel
		s.mu.Unlock()
		now := s.cfg.Now()
		// The event is on record before the stream ends.
		s.addEvent(ctx, store.IntegrityEvent{Device: r.relay, Time: now, Kind: store.EventApplianceRefused,
			Detail: fmt.Sprintf("relay %s's open stream for appliance %q from %s (since %s) closed: %s",
				r.relay, r.appliance, r.remote, r.since.UTC().Format(time.RFC3339), why)})
		cancel(refuse(codes.PermissionDenied, "relay %s may no longer speak for %q: %s", r.relay, r.appliance, why))
	}
	return nil
}
