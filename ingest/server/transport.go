package server

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"

	"github.com/offbox/offbox/internal/netlimit"
	"github.com/offbox/offbox/transport/codec"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
)

// serverOptions are the gRPC server's options: mutual TLS under the
// connection bounds (conns.go), the codec, message size, keepalive, and
// what a connection holds (fanin.go).
func (s *Server) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.Creds(&gatedCreds{TransportCredentials: credentials.NewTLS(s.cfg.TLS), g: s.conns}),
		grpc.ConnectionTimeout(s.cfg.HandshakeTimeout), // gRPC's default: 120 s
		grpc.ForceServerCodecV2(codec.New()),
		// A batch travels inside an AgentMessage with its signature.
		grpc.MaxRecvMsgSize(s.cfg.MaxBatchBytes + 4096),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: s.cfg.KeepaliveTime, Timeout: s.cfg.KeepaliveTimeout,
			MaxConnectionIdle: s.cfg.MaxConnectionIdle}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: s.cfg.MinPingInterval, PermitWithoutStream: true}),
		// No read buffer of gRPC's own: TLS already holds each record, and
		// the default 32 KiB bufio.Reader per connection was a third of a
		// fleet's heap (10,000 agents: 320 MiB; BenchmarkFanIn10k).
		grpc.ReadBufferSize(0),
		// Memory per connection and under overload (fanin.go).
		grpc.InitialWindowSize(s.cfg.FlowWindow),
		grpc.InitialConnWindowSize(s.cfg.FlowWindow),
		experimental.BufferPool(frameBuffers),
	}
}

// Transport is the gRPC server Serve runs for cfg (its TLS, connection
// bounds and every option; cfg.Store is not needed) with svc as the
// Ingest service, and lis under cfg.MaxConnections: for measuring what
// the transport alone costs a collector (e2e BenchmarkFanInFloor, whose
// service acknowledges without storing). The caller serves lis with it.
func Transport(cfg Config, lis net.Listener, svc offboxv1grpc.IngestServer) (*grpc.Server, net.Listener, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, nil, err
	}
	lim := netlimit.New(lis, s.cfg.MaxConnections)
	s.conns.lis.Store(lim)
	gs := grpc.NewServer(s.serverOptions()...)
	offboxv1grpc.RegisterIngestServer(gs, svc)
	return gs, lim, nil
}

// BatchVerifier checks batches' signatures against a stream's client
// certificate key as the stream does (examine: seal.Digest, then
// verifyDigest), for Transport's services.
type BatchVerifier struct{ id *identity }

// NewBatchVerifier takes the stream's identity from its connection's
// verified client certificate, as Stream does.
func NewBatchVerifier(ctx context.Context) (*BatchVerifier, error) {
	id, _, err := peerIdentity(ctx)
	if err != nil {
		return nil, err
	}
	return &BatchVerifier{id: id}, nil
}

// Verify reports seal.ErrBadSignature (or why the key cannot verify) if
// sig is not the certificate key's signature of the batch raw.
func (v *BatchVerifier) Verify(raw, sig []byte) error {
	return v.id.verifyDigest(seal.Digest(raw), sig)
}
