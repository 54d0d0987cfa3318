// Package client is the agent's side of the offbox gRPC stream: it dials the
// collector service over mutual TLS (TLS 1.3, the device certificate from
// tlsconf, reloaded on handshake) and opens one Ingest.Stream per session.
// It holds no protocol logic; the agent package decides what to send.
//
// Each session gets its own connection, closed with the session, so the
// agent's reconnect backoff alone decides when to dial (gRPC's own connection
// backoff never holds a session back), and a reloaded certificate or CA is
// used by the next session. The client never writes to the device's disk.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/offbox/offbox/transport/codec"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Config says where the collector service is and how to prove who we are.
type Config struct {
	Server         string          // host:port of the collector service
	ServerName     string          // name its certificate must carry; "" means the host of Server
	TLS            *tlsconf.Source // device certificate, key and CA
	KeepaliveEvery time.Duration   // ping interval on an open stream; 0 means 10s (the collector permits it)
	DialOptions    []grpc.DialOption
}

const (
	// DefaultKeepalive is the ping interval the collector service permits.
	DefaultKeepalive = 10 * time.Second
	// ConnectTimeout bounds one connection attempt (TCP and TLS handshake).
	ConnectTimeout = 10 * time.Second
)

// Stream is one session's message stream.
type Stream interface {
	Send(*offboxv1.AgentMessage) error
	Recv() (*offboxv1.CollectorMessage, error)
	CloseSend() error // no more batches: the collector ends the stream after its last ack
	Close()           // ends the stream and its connection now
}

// Client opens sessions to one collector service.
type Client struct {
	target string
	creds  credentials.TransportCredentials
	opts   []grpc.DialOption
	src    *tlsconf.Source // for Shared: a new certificate needs a new connection
}

// New checks cfg. It does not connect: Open does, once per session.
func New(cfg Config) (*Client, error) {
	if cfg.TLS == nil {
		return nil, errors.New("client: TLS material is required")
	}
	host, _, err := net.SplitHostPort(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("client: server %q: want host:port: %w", cfg.Server, err)
	}
	name := cfg.ServerName
	if name == "" {
		name = host
	}
	every := cfg.KeepaliveEvery
	if every == 0 {
		every = DefaultKeepalive
	}
	creds := credentials.NewTLS(cfg.TLS.ClientConfig(name))
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		// Pings only while a stream is open: the agent always has one
		// when connected, and a collector that enforces a minimum ping
		// interval without streams would otherwise send GOAWAY.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: every, Timeout: every}),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec.New())),
		// 64 KiB frames writes in fewer TLS records than the default 32
		// KiB, for little memory.
		grpc.WithWriteBufferSize(64 << 10),
		// A collector that does not answer fails the attempt in bounded
		// time; the agent's own backoff decides when to try again.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: ConnectTimeout}),
		// Nothing from DNS changes how the agent talks to its collector.
		grpc.WithDisableServiceConfig(),
	}
	return &Client{target: cfg.Server, creds: creds, opts: append(opts, cfg.DialOptions...), src: cfg.TLS}, nil
}

// Open dials the collector service and opens a stream. It returns when the
// stream is open or the connection attempt failed (TLS errors included).
// A failed TLS handshake is a *HandshakeError, from Open or from the
// stream's first Send or Recv.
func (c *Client) Open(ctx context.Context) (Stream, error) {
	rec := &handshakeRecorder{}
	opts := append(c.opts[:len(c.opts):len(c.opts)], grpc.WithTransportCredentials(recordingCreds{c.creds, rec}))
	conn, err := grpc.NewClient(c.target, opts...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	st, err := offboxv1grpc.NewIngestClient(conn).Stream(ctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, handshakeErr(c.target, rec, err)
	}
	return &stream{BidiStreamingClient: st, conn: conn, cancel: cancel, target: c.target, rec: rec}, nil
}

type stream struct {
	grpc.BidiStreamingClient[offboxv1.AgentMessage, offboxv1.CollectorMessage]
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	target string
	rec    *handshakeRecorder
}

func (s *stream) Send(m *offboxv1.AgentMessage) error {
	return handshakeErr(s.target, s.rec, s.BidiStreamingClient.Send(m))
}

func (s *stream) Recv() (*offboxv1.CollectorMessage, error) {
	m, err := s.BidiStreamingClient.Recv()
	return m, handshakeErr(s.target, s.rec, err)
}

func (s *stream) Close() {
	s.cancel()
	if s.conn != nil { // nil: a Shared connection, kept for the next stream
		s.conn.Close()
	}
}

// Renew asks the collector's Enrollment service to certify the key of
// csrDER (PKCS #10) for this device, over the device's current mutual TLS,
// and returns the new certificate (DER).
func (c *Client) Renew(ctx context.Context, csrDER []byte) ([]byte, error) {
	conn, err := grpc.NewClient(c.target, c.opts...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	resp, err := offboxv1grpc.NewEnrollmentClient(conn).Renew(ctx, &offboxv1.RenewRequest{CsrDer: csrDER})
	if err != nil {
		return nil, err
	}
	return resp.GetCertificateDer(), nil
}
