package agent

import (
	"context"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Stream is one session's message stream to the collector service: what
// the sender needs of it, and no more. The agent owns this interface so
// that it does not depend on the gRPC client that implements it
// (transport/client); cmd/offbox wires the two together.
type Stream interface {
	Send(*offboxv1.AgentMessage) error
	Recv() (*offboxv1.CollectorMessage, error)
	CloseSend() error // no more batches: the collector ends the stream after its last ack
	Close()           // ends the stream and its connection now
}

// Dialer opens one session stream to the collector service.
type Dialer interface {
	Open(ctx context.Context) (Stream, error)
}

// DialFunc is a Dialer made of a function: in offbox, one that calls
// (*client.Client).Open.
type DialFunc func(ctx context.Context) (Stream, error)

// Open calls f.
func (f DialFunc) Open(ctx context.Context) (Stream, error) { return f(ctx) }
