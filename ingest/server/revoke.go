package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/offbox/offbox/ingest/enroll"
	"github.com/offbox/offbox/ingest/store"
)

// DefaultRevocationPoll is how often the revocations are re-read when the
// config says 0: a revoked device is cut off within about this long.
const DefaultRevocationPoll = time.Second

// revokedEventEvery is the least time between two revoked events of one
// device for refused connections, so a retrying agent does not flood the
// integrity events.
const revokedEventEvery = time.Minute

// revokedBy returns the latest revocation in revs that cuts off cert of
// device (enroll.Revoked: it lists the certificate's key id, or was made
// after the certificate's NotBefore), or nil. It returns the revocation so
// that the refusal can say when, by whom and why.
func revokedBy(revs []store.Revocation, device string, cert *x509.Certificate) *store.Revocation {
	var found *store.Revocation
	for i := range revs {
		if enroll.Revoked(revs[i:i+1], device, cert) {
			found = &revs[i]
		}
	}
	return found
}

// revokedText says which revocation refused a certificate.
func revokedText(r *store.Revocation) string {
	s := fmt.Sprintf("certificate revoked at %s by %s", r.Time.UTC().Format(time.RFC3339), r.By)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

func revokedRefusal(r *store.Revocation) error {
	return refuse(codes.PermissionDenied, "%s", revokedText(r))
}

// revocation returns the revocation that covers id, or nil.
func (s *Server) revocation(id *identity) *store.Revocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return revokedFor(s.revoked, id)
}

// revokedFor is revokedBy for a stream's identity: an appliance's stream
// is cut off by a revocation of the appliance or of its relay, both judged
// against the relay's certificate.
func revokedFor(byDevice map[string][]store.Revocation, id *identity) *store.Revocation {
	if r := revokedBy(byDevice[id.device], id.device, id.cert); r != nil || id.relay == "" {
		return r
	}
	return revokedBy(byDevice[id.relay], id.relay, id.cert)
}

// loadRevocations re-reads the revocations and closes every open stream
// whose certificate they now cover, recording each cut-off.
func (s *Server) loadRevocations(ctx context.Context) error {
	revs, err := s.cfg.Revocations(ctx)
	if err != nil {
		return err
	}
	byDevice := make(map[string][]store.Revocation)
	for _, r := range revs {
		byDevice[r.Device] = append(byDevice[r.Device], r)
	}
	type cutoff struct {
		device, detail string
		end            func()
	}
	var cut []cutoff
	now := s.cfg.Now()
	s.mu.Lock()
	s.revoked = byDevice
	for device, o := range s.open {
		if o.cut || o.id == nil {
			continue
		}
		r := revokedFor(byDevice, o.id)
		if r == nil {
			continue
		}
		o.cut = true
		s.revokedEvents[device] = now
		cancel, cause := o.cancel, revokedRefusal(r)
		cut = append(cut, cutoff{device, fmt.Sprintf("the open stream from %s (since %s) closed: %s",
			o.remote, o.since.UTC().Format(time.RFC3339), revokedText(r)), func() { cancel(cause) }})
	}
	s.mu.Unlock()
	// The event is on record before the stream ends.
	for _, c := range cut {
		s.addEvent(ctx, store.IntegrityEvent{Device: c.device, Time: now, Kind: store.EventRevoked, Detail: c.detail})
		c.end()
	}
	return nil
}

// watchRevocations re-reads the revocations (and checks the open appliance
// streams against the appliance list) every poll period until ctx ends. A
// failed read keeps the last list.
func (s *Server) watchRevocations(ctx context.Context) {
	t := time.NewTicker(s.cfg.RevocationPoll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.loadRevocations(ctx)
		if err == nil {
			err = s.checkAppliances(ctx)
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			s.log.Error("reading the revocations or the appliance list failed; keeping the last list", "err", err)
			failing = true
		case err == nil && failing:
			s.log.Info("reading the revocations and the appliance list works again")
			failing = false
		}
	}
}

// refuseRevoked records a connection refused for a revoked certificate,
// at most once a minute per device, and returns the refusal.
func (s *Server) refuseRevoked(ctx context.Context, id *identity, remote string, r *store.Revocation) error {
	now := s.cfg.Now()
	s.mu.Lock()
	last, seen := s.revokedEvents[id.device]
	record := !seen || now.Sub(last) >= revokedEventEvery
	if record {
		s.revokedEvents[id.device] = now
	}
	s.mu.Unlock()
	if record {
		s.addEvent(ctx, store.IntegrityEvent{Device: id.device, Time: now, Kind: store.EventRevoked,
			Detail: fmt.Sprintf("a connection from %s refused: %s", remote, revokedText(r))})
	}
	return revokedRefusal(r)
}

// addEvent stores and logs an integrity event that belongs to no batch.
func (s *Server) addEvent(ctx context.Context, e store.IntegrityEvent) {
	s.cfg.Observer.Finding(e.Kind)
	log := s.log.With("device", e.Device)
	if err := s.cfg.Store.AddIntegrityEvent(context.WithoutCancel(ctx), e); err != nil {
		log.Error("storing an integrity event failed", "kind", e.Kind, "err", err)
	} else {
		s.stored(nil)
	}
	log.Warn("integrity event", "kind", e.Kind, "seq", e.Seq, "detail", e.Detail)
}
