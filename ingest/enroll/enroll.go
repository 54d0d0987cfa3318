// Package enroll is the collector's Enrollment service: it exchanges a
// one-time token and a CSR for a device certificate signed by the device
// CA, and renews the certificate of a device that is still trusted. The
// device's identity and labels come from the token (then from its current
// certificate), never from anything the CSR says.
//
// It never sees a private key of a device, never stores or logs a token's
// text (only its hash is kept), and never consumes a token for a request
// it refuses for another reason.
package enroll

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// DefaultValidity is how long an issued certificate is valid when
// Config.Validity is 0.
const DefaultValidity = 90 * 24 * time.Hour

// Config wires a Service. The zero value of every optional field is the default.
type Config struct {
	Store    store.TrustStore // required: tokens and revocations
	CA       *tlsconf.CA      // required: the device CA and its key (LoadCA)
	Validity time.Duration    // of issued certificates; 0: DefaultValidity
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: slog.Default()

	// Refused Enroll attempts (bad token, bad request) are limited per
	// source address (an IPv4 address or an IPv6 /64): RefusalBurst at
	// once, then RefusalsPerMinute. An address over it is refused
	// (ResourceExhausted) before its request is read. Successes cost
	// nothing. Refusals are logged as one summary line per SummaryEvery,
	// never one line each.
	RefusalsPerMinute float64       // 0: 10; negative: no limit
	RefusalBurst      int           // 0: 20
	SummaryEvery      time.Duration // 0: 1m
}

// Service implements offboxv1grpc.EnrollmentServer.
type Service struct {
	offboxv1grpc.UnimplementedEnrollmentServer
	cfg   Config
	log   *slog.Logger
	guard *guard
}

// New checks cfg and makes a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("enroll: Store is required")
	}
	if cfg.CA == nil || cfg.CA.Cert == nil || cfg.CA.Key == nil {
		return nil, errors.New("enroll: CA certificate and key are required")
	}
	if cfg.Validity == 0 {
		cfg.Validity = DefaultValidity
	}
	if cfg.Validity < 0 {
		return nil, errors.New("enroll: Validity must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RefusalsPerMinute == 0 {
		cfg.RefusalsPerMinute = DefaultRefusalsPerMinute
	}
	if cfg.RefusalBurst == 0 {
		cfg.RefusalBurst = DefaultRefusalBurst
	}
	if cfg.SummaryEvery == 0 {
		cfg.SummaryEvery = DefaultSummaryEvery
	}
	if cfg.RefusalBurst < 0 || cfg.SummaryEvery < 0 || math.IsNaN(cfg.RefusalsPerMinute) || math.IsInf(cfg.RefusalsPerMinute, 0) {
		return nil, errors.New("enroll: RefusalBurst, RefusalsPerMinute and SummaryEvery must be positive")
	}
	return &Service{cfg: cfg, log: cfg.Logger,
		guard: newGuard(cfg.RefusalsPerMinute, cfg.RefusalBurst, cfg.SummaryEvery, cfg.Logger)}, nil
}

// Close logs the refusals counted and not yet summarised. The service
// keeps working; call it when the collector stops.
func (s *Service) Close() { s.guard.stop() }

// Register adds the service to a gRPC server (server.Config.Register).
func (s *Service) Register(r grpc.ServiceRegistrar) { offboxv1grpc.RegisterEnrollmentServer(r, s) }

// Enroll implements offboxv1grpc.EnrollmentServer. The CSR is checked before
// the token is consumed, so a device that sends a bad request can try
// again with the same token. An address over its refusal limit is
// refused before anything is parsed; refusals are counted and logged as
// one summary line per interval (guard.go), never one line each.
func (s *Service) Enroll(ctx context.Context, req *offboxv1.EnrollRequest) (*offboxv1.EnrollResponse, error) {
	now := s.cfg.Now()
	done, ok := s.guard.admit(peerAddr(ctx), now)
	if !ok {
		return nil, status.Error(codes.ResourceExhausted, "too many refused enrollment attempts from your address; try again in a minute")
	}
	refused := refusedRequest
	defer func() { done(refused) }()
	csr, err := CheckCSR(req.GetCsrDer())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	token := req.GetToken()
	if token == "" || len(token) > maxTokenBytes {
		return nil, status.Error(codes.Unauthenticated, "enrollment token missing or malformed")
	}
	if err := s.refuseRevokedKey(ctx, csr.PublicKey); err != nil {
		return nil, err
	}
	t, err := s.cfg.Store.UseToken(ctx, HashToken(token), now)
	if err != nil {
		st := tokenStatus(err)
		refused = refusedToken
		if c := status.Code(st); c != codes.Unauthenticated && c != codes.PermissionDenied {
			// The store failed or the caller gave up, not the token:
			// counted in the summary, charged to no address.
			refused = refusedUnavailable
		}
		return nil, st
	}
	refused = ""

	cert, err := s.issue(t.Device, t.Labels, csr.PublicKey, now)
	if err != nil {
		return nil, err
	}
	s.logIssued("device enrolled", cert, peerAddr(ctx))
	return &offboxv1.EnrollResponse{CertificateDer: cert.Raw, DeviceId: t.Device}, nil
}

// Renew implements offboxv1grpc.EnrollmentServer: a new certificate for the
// CSR's key, same device and labels as the verified client certificate of
// the connection, unless that certificate is revoked.
func (s *Service) Renew(ctx context.Context, req *offboxv1.RenewRequest) (*offboxv1.RenewResponse, error) {
	leaf, err := verifiedPeer(ctx)
	if err != nil {
		return nil, err
	}
	device, _, err := tlsconf.Identity(leaf)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	csr, err := CheckCSR(req.GetCsrDer())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	revs, err := s.cfg.Store.Revocations(ctx)
	if err != nil {
		s.log.Error("renew: reading revocations", "device", device, "err", err)
		return nil, status.Error(codes.Unavailable, "collector cannot read its revocations; try again later")
	}
	if Revoked(revs, device, leaf) {
		s.log.Warn("renewal refused: certificate revoked", "device", device, "remote", peerAddr(ctx))
		return nil, status.Errorf(codes.PermissionDenied, "device %s: certificate revoked; enroll again with a new token", device)
	}
	cert, err := s.issue(device, certLabels(leaf), csr.PublicKey, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	s.logIssued("device certificate renewed", cert, peerAddr(ctx))
	return &offboxv1.RenewResponse{CertificateDer: cert.Raw}, nil
}

func (s *Service) issue(device string, labels map[string]string, pub crypto.PublicKey, now time.Time) (*x509.Certificate, error) {
	cert, err := s.cfg.CA.IssueDevice(device, labels, pub, now, s.cfg.Validity)
	if err != nil {
		s.log.Error("issuing a device certificate", "device", device, "err", err)
		return nil, status.Errorf(codes.Internal, "issuing the certificate of %s failed", device)
	}
	return cert, nil
}

func (s *Service) logIssued(msg string, cert *x509.Certificate, remote string) {
	keyID, _ := seal.KeyID(cert.PublicKey)
	s.log.Info(msg, "device", cert.Subject.CommonName, "key_id", hex.EncodeToString(keyID),
		"not_after", cert.NotAfter.Format(time.RFC3339), "remote", remote)
}

// refuseRevokedKey refuses a CSR for a key that a revocation names: a
// device enrolled again after its revocation (token create -after-revoke)
// comes back with a new key, never the revoked one. It is checked before
// the token is consumed, so the device can retry with a new key.
func (s *Service) refuseRevokedKey(ctx context.Context, pub crypto.PublicKey) error {
	keyID, err := seal.KeyID(pub)
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	revs, err := s.cfg.Store.Revocations(ctx)
	if err != nil {
		s.log.Error("enroll: reading revocations", "err", err)
		return status.Error(codes.Unavailable, "collector cannot read its revocations; try again later")
	}
	for _, r := range revs {
		for _, k := range r.KeyIDs {
			if bytes.Equal(k, keyID) {
				// Counted in the refusal summary (guard.go) like every refusal.
				s.log.Debug("enrollment refused: revoked key", "device", r.Device, "key_id", hex.EncodeToString(keyID), "remote", peerAddr(ctx))
				return status.Errorf(codes.PermissionDenied, "key %s was revoked with device %s; enroll with a new key",
					hex.EncodeToString(keyID), r.Device)
			}
		}
	}
	return nil
}

// tokenStatus turns a UseToken error into what the device is told.
func tokenStatus(err error) error {
	switch {
	case errors.Is(err, store.ErrTokenUnknown):
		return status.Error(codes.Unauthenticated, "enrollment token unknown (mistyped, or made by another collector)")
	case errors.Is(err, store.ErrTokenUsed):
		return status.Error(codes.Unauthenticated, err.Error()+"; create a new one with offbox-ingest token create")
	case errors.Is(err, store.ErrTokenRevoked):
		return status.Error(codes.PermissionDenied, err.Error()+"; to enroll the device again, create a token with offbox-ingest token create -after-revoke")
	case errors.Is(err, store.ErrTokenExpired):
		return status.Error(codes.Unauthenticated, err.Error()+"; create a new one with offbox-ingest token create")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.Unavailable, "collector cannot check the token now: %v", err)
}

// verifiedPeer is the client certificate the TLS handshake verified
// against the device CA. The ingest listener asks for client certificates
// without requiring them when enrollment is on, so this check is what
// keeps Renew to enrolled devices.
func verifiedPeer(ctx context.Context) (*x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 || len(ti.State.VerifiedChains) == 0 {
		return nil, status.Error(codes.Unauthenticated, "renewal needs the device's current certificate (a verified client certificate)")
	}
	return ti.State.PeerCertificates[0], nil
}

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// certLabels are the labels a certificate carries (Subject OU name=value),
// as ingest/alerts.CertLabels reads them.
func certLabels(c *x509.Certificate) map[string]string {
	var out map[string]string
	for _, ou := range c.Subject.OrganizationalUnit {
		k, v, ok := strings.Cut(ou, "=")
		if !ok || k == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}
