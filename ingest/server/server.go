// Package server is the collector's gRPC service: it authenticates each
// device by its client certificate, verifies every batch's identity,
// structure, signature and place in the chain (the verdict table of
// docs/PROTOCOL.md), commits what is authentic, records every integrity
// event, and acknowledges each batch in order after it is durably stored.
// It refuses revoked certificates and ends their open streams (revoke.go),
// and holds each device to its rate limit by reading more slowly, never by
// refusing (limit.go).
//
// It never takes a device's identity from anything the device says, never
// acknowledges a batch before its commit, never re-serialises a batch, and
// never throws authentic data away for being out of chain. It never imports
// the agent or the collectors.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/netlimit"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

// DefaultMaxBatchBytes is the largest batch accepted when the config says 0.
const DefaultMaxBatchBytes = 8 << 20

// Config wires a Server. The zero value of every optional field is the default.
type Config struct {
	Store         store.Ingester   // required
	TLS           *tls.Config      // required: requires and verifies client certificates (tlsconf.Source.ServerConfig)
	MaxBatchBytes int              // largest batch accepted; 0: 8 MiB
	Now           func() time.Time // collector clock; nil: time.Now
	Logger        *slog.Logger     // nil: slog.Default()
	ShutdownGrace time.Duration    // how long Serve lets in-flight work finish after ctx ends; 0: 15s
	Window        int              // batches decoded ahead of the commit per stream; 0: 4
	InFlightBytes int64            // batch bytes held decoded across all streams at once (budget.go); 0: 64 MiB
	FlowWindow    int32            // HTTP/2 window of each stream and connection, bytes (fanin.go); 0: 4 MiB; at least 64 KiB
	// Register adds more services to the gRPC server (enrollment); nil: none.
	Register func(grpc.ServiceRegistrar)
	// Stored is called after each batch (b, with its Row and Segments set)
	// or integrity event (b nil) is committed: detection's Offer. It must
	// not block, and must not change b. nil: nothing.
	Stored func(b *store.Batch)

	// Keepalive: the server pings a silent peer after KeepaliveTime and
	// drops it KeepaliveTimeout later, so a dead device frees its stream.
	KeepaliveTime    time.Duration // 0: 30s
	KeepaliveTimeout time.Duration // 0: 10s
	// MinPingInterval is how often agents may ping; agents ping every 10 s,
	// so the default leaves room for timer jitter. 0: 5s
	MinPingInterval time.Duration

	// Revocations reads the stored revocations (store.TrustStore); Serve
	// reads them before accepting anything and again every RevocationPoll,
	// refusing revoked certificates and closing their open streams. nil:
	// nothing is revoked.
	Revocations    func(context.Context) ([]store.Revocation, error)
	RevocationPoll time.Duration // 0: 1s
	// Limits is the rate limit of a device, asked once per stream; nil:
	// no limits.
	Limits func(device string) Limit
	// Locks, when several collectors share the store, holds each device
	// to one open stream across all of them: a stream takes its device's
	// lock after Hello and ends if the lock is lost. nil: this collector
	// is the only one, and its own table of open streams suffices.
	Locks store.Coordinator
	// A device's integrity events that refuse its work (batches not
	// stored, streams refused) are stored and logged one by one up to
	// EventsPerInterval per EventInterval; beyond that they are counted
	// and each kind's count is stored as one event, and logged as one
	// line, when the interval ends (refusals.go).
	EventInterval     time.Duration // 0: 1m
	EventsPerInterval int           // 0: 10
	// Observer counts batches, refusals and findings (observe.go); nil:
	// nothing.
	Observer Observer
	// Appliances authorises relays to speak for appliances (appliance.go);
	// nil: no stream may speak for an appliance. AgentHosts tells which
	// names are agent hosts, which no relay may speak for; nil: none.
	Appliances ApplianceList
	AgentHosts AgentHosts

	// Connections (conns.go): at most MaxConnections open on the listener
	// Serve is given, more reset at once; each must finish its TLS
	// handshake within HandshakeTimeout; one address (IPv6: one /64) may
	// hold HandshakesPerAddress without a verified device certificate
	// (in the handshake, or enrolling), more reset at once.
	MaxConnections       int           // 0: 16384
	HandshakeTimeout     time.Duration // 0: 10s
	HandshakesPerAddress int           // 0: 64
	// One device (its certificate's identity) may hold
	// ConnectionsPerDevice verified connections, more reset at the end of
	// the handshake; a connection without a stream for MaxConnectionIdle
	// is closed (gRPC's GOAWAY).
	ConnectionsPerDevice int           // 0: 4
	MaxConnectionIdle    time.Duration // 0: 2m
}

// Server is the Ingest service. Serve runs it once.
type Server struct {
	offboxv1grpc.UnimplementedIngestServer
	cfg Config
	log *slog.Logger

	mu            sync.Mutex
	open          map[string]*openStream        // device → its one open stream
	revoked       map[string][]store.Revocation // device → its revocations, as last read
	revokedEvents map[string]time.Time          // device → when its last revoked event was stored

	shutdownOnce sync.Once
	shutdown     chan struct{} // closed when Serve's ctx ends: streams finish what they hold and end

	gate *eventGate // integrity events one by one, then counted

	inflight *budget // batch bytes held decoded across every stream (budget.go)

	conns *connGate // connection bounds (conns.go)
}

// openStream is the stream a device holds, for reporting a second one
// and for closing it when its certificate is revoked.
type openStream struct {
	remote string
	since  time.Time
	id     *identity
	cancel context.CancelCauseFunc // ends the stream with the cause as its status
	cut    bool                    // cancelled for a revocation
}

// New checks cfg and makes a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Store is required")
	}
	return newServer(cfg)
}

// newServer is New without a store: Transport's server serves another
// Ingest service over the same transport.
func newServer(cfg Config) (*Server, error) {
	if cfg.TLS == nil {
		return nil, errors.New("server: TLS is required")
	}
	if cfg.MaxBatchBytes == 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.MaxBatchBytes < 0 {
		return nil, errors.New("server: MaxBatchBytes must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 15 * time.Second
	}
	if cfg.Window == 0 {
		cfg.Window = 4
	}
	if cfg.InFlightBytes == 0 {
		cfg.InFlightBytes = DefaultInFlightBytes
	}
	if cfg.InFlightBytes < 0 {
		return nil, errors.New("server: InFlightBytes must be positive")
	}
	if cfg.FlowWindow == 0 {
		cfg.FlowWindow = DefaultFlowWindow
	}
	if cfg.FlowWindow < 64<<10 {
		return nil, errors.New("server: FlowWindow must be at least 64 KiB (HTTP/2's initial window)")
	}
	if cfg.KeepaliveTime == 0 {
		cfg.KeepaliveTime = 30 * time.Second
	}
	if cfg.KeepaliveTimeout == 0 {
		cfg.KeepaliveTimeout = 10 * time.Second
	}
	if cfg.MinPingInterval == 0 {
		cfg.MinPingInterval = 5 * time.Second
	}
	if cfg.RevocationPoll == 0 {
		cfg.RevocationPoll = DefaultRevocationPoll
	}
	if cfg.RevocationPoll < 0 {
		return nil, errors.New("server: RevocationPoll must be positive")
	}
	if cfg.EventInterval == 0 {
		cfg.EventInterval = DefaultEventInterval
	}
	if cfg.EventsPerInterval == 0 {
		cfg.EventsPerInterval = DefaultEventsPerInterval
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.EventInterval < 0 || cfg.EventsPerInterval < 0 {
		return nil, errors.New("server: EventInterval and EventsPerInterval must be positive")
	}
	cfg.MaxConnections = cmp.Or(cfg.MaxConnections, DefaultMaxConnections)
	cfg.HandshakeTimeout = cmp.Or(cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	cfg.HandshakesPerAddress = cmp.Or(cfg.HandshakesPerAddress, DefaultHandshakesPerAddress)
	cfg.ConnectionsPerDevice = cmp.Or(cfg.ConnectionsPerDevice, DefaultConnectionsPerDevice)
	cfg.MaxConnectionIdle = cmp.Or(cfg.MaxConnectionIdle, DefaultMaxConnectionIdle)
	if cfg.MaxConnections < 0 || cfg.HandshakeTimeout < 0 || cfg.HandshakesPerAddress < 0 ||
		cfg.ConnectionsPerDevice < 0 || cfg.MaxConnectionIdle < 0 {
		return nil, errors.New("server: MaxConnections, HandshakeTimeout, HandshakesPerAddress, ConnectionsPerDevice and MaxConnectionIdle must be positive")
	}
	return &Server{cfg: cfg, log: cfg.Logger, open: make(map[string]*openStream),
		revokedEvents: make(map[string]time.Time), shutdown: make(chan struct{}),
		gate: newEventGate(cfg.EventInterval, cfg.EventsPerInterval), inflight: newBudget(cfg.InFlightBytes),
		conns: newConnGate(cfg.HandshakesPerAddress, cfg.ConnectionsPerDevice)}, nil
}

// Serve accepts streams on lis until ctx ends, then stops gracefully: it
// accepts nothing new, lets every stream commit and acknowledge what it has
// already taken (within ShutdownGrace), and returns nil.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if s.cfg.Revocations != nil {
		// A revoked certificate is refused from the first connection on.
		if err := s.loadRevocations(ctx); err != nil {
			lis.Close()
			return fmt.Errorf("reading the revocations: %w", err)
		}
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go s.watchRevocations(wctx)
	}
	lim := netlimit.New(lis, s.cfg.MaxConnections)
	s.conns.lis.Store(lim)
	gs := grpc.NewServer(s.serverOptions()...)
	offboxv1grpc.RegisterIngestServer(gs, s)
	if s.cfg.Register != nil {
		s.cfg.Register(gs)
	}
	sctx, stopSummaries := context.WithCancel(ctx)
	defer stopSummaries()
	go s.summariseEvery(sctx)
	// Whatever was counted and not yet summarised is stored once every
	// stream has ended, so a shutdown loses no count.
	defer func() { s.summarise(context.WithoutCancel(ctx), s.cfg.Now(), true) }()
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lim) }()
	select {
	case err := <-served:
		s.beginShutdown()
		gs.Stop()
		return err
	case <-ctx.Done():
	}
	s.beginShutdown()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(s.cfg.ShutdownGrace):
		s.log.Warn("shutdown grace over; closing the remaining streams", "grace", s.cfg.ShutdownGrace)
		gs.Stop()
		<-stopped
	}
	<-served
	return nil
}

// stored tells whoever follows the store that something new is in it.
func (s *Server) stored(b *store.Batch) {
	if s.cfg.Stored != nil {
		s.cfg.Stored(b)
	}
}

func (s *Server) beginShutdown() { s.shutdownOnce.Do(func() { close(s.shutdown) }) }

// Stream implements offboxv1grpc.IngestServer: one agent session.
func (s *Server) Stream(st offboxv1grpc.Ingest_StreamServer) error {
	id, remote, err := peerIdentity(st.Context())
	if err != nil {
		return toStatus(err)
	}
	if r := s.revocation(id); r != nil {
		return toStatus(s.refuseRevoked(st.Context(), id, remote, r))
	}
	// cancel ends the stream early with a cause: a revocation.
	ctx, cancel := context.WithCancelCause(st.Context())
	defer cancel(nil)
	in := startReceiver(st, s.inflight)
	defer in.stop()
	ss := &session{srv: s, st: st, in: in, id: id, remote: remote, cancel: cancel,
		log: s.log.With("device", id.device, "remote", remote)}
	return toStatus(ss.run(ctx))
}

// peerIdentity reads the device identity from the connection's verified
// client certificate.
func peerIdentity(ctx context.Context) (*identity, string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, "", refuse(codes.Unauthenticated, "no peer information")
	}
	remote := ""
	if p.Addr != nil {
		remote = p.Addr.String()
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 || len(ti.State.VerifiedChains) == 0 {
		return nil, remote, refuse(codes.Unauthenticated, "a verified client certificate is required")
	}
	leaf := ti.State.PeerCertificates[0]
	device, keyID, err := tlsconf.Identity(leaf)
	if err != nil {
		return nil, remote, refuse(codes.Unauthenticated, "%v", err)
	}
	return &identity{device: device, keyID: keyID, pub: leaf.PublicKey, certDER: leaf.Raw, cert: leaf}, remote, nil
}

// claim registers the device's one open stream, which cancel ends. If
// another is open it returns that one instead.
func (s *Server) claim(id *identity, remote string, cancel context.CancelCauseFunc) (release func(), holder *openStream) {
	device := id.device
	s.mu.Lock()
	defer s.mu.Unlock()
	if h, ok := s.open[device]; ok {
		return nil, h
	}
	mine := &openStream{remote: remote, since: s.cfg.Now(), id: id, cancel: cancel}
	s.open[device] = mine
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.open[device] == mine {
			delete(s.open, device)
		}
	}, nil
}
