package client

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync"

	"google.golang.org/grpc"

	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
)

// Shared opens streams over one connection that outlives them: a relay's
// appliance streams (one per appliance, each its own chain) all travel in
// the relay's one mutual-TLS connection. gRPC reconnects it when it
// breaks; a new client certificate (renewal) makes a new one, since the
// collector binds every stream to the certificate of its connection.
type Shared struct {
	c *Client

	mu   sync.Mutex
	conn *grpc.ClientConn
	rec  *handshakeRecorder
	leaf *x509.Certificate // the certificate conn was made with
}

// Shared returns a Shared opener on c's collector.
func (c *Client) Shared() *Shared { return &Shared{c: c} }

// Open opens a stream on the shared connection, making it first if need be.
func (s *Shared) Open(ctx context.Context) (Stream, error) {
	conn, rec, err := s.connection()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	st, err := offboxv1grpc.NewIngestClient(conn).Stream(ctx)
	if err != nil {
		cancel()
		return nil, handshakeErr(s.c.target, rec, err)
	}
	return &stream{BidiStreamingClient: st, cancel: cancel, target: s.c.target, rec: rec}, nil
}

func (s *Shared) connection() (*grpc.ClientConn, *handshakeRecorder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var leaf *x509.Certificate
	if s.c.src != nil {
		leaf = s.c.src.Leaf()
	}
	if s.conn != nil && leaf == s.leaf {
		return s.conn, s.rec, nil
	}
	if s.conn != nil {
		s.conn.Close() // the streams on it end; their senders reconnect on the new one
	}
	rec := &handshakeRecorder{}
	opts := append(s.c.opts[:len(s.c.opts):len(s.c.opts)], grpc.WithTransportCredentials(recordingCreds{s.c.creds, rec}))
	conn, err := grpc.NewClient(s.c.target, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	s.conn, s.rec, s.leaf = conn, rec, leaf
	return conn, rec, nil
}

// Close closes the shared connection, ending its streams.
func (s *Shared) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}
