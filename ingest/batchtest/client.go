package batchtest

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Client is a minimal agent side of the stream, written from
// docs/PROTOCOL.md, for tests that drive a real collector.
type Client struct {
	Dev    *Device
	conn   *grpc.ClientConn
	stream offboxv1grpc.Ingest_StreamClient
	cancel context.CancelFunc
}

// Dial connects over mutual TLS with the device certificate in files and
// opens a stream. The device name is the certificate's CN.
func Dial(addr string, files tlsconf.Files) (*Client, error) {
	src, err := tlsconf.Load(files, tlsconf.Options{})
	if err != nil {
		return nil, err
	}
	name, _, err := tlsconf.Identity(src.Leaf())
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(src.ClientConfig("localhost"))))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := offboxv1grpc.NewIngestClient(conn).Stream(ctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, err
	}
	return &Client{Dev: WithKey(name, src.Signer()), conn: conn, stream: stream, cancel: cancel}, nil
}

// Hello opens the session and adopts the collector's head.
func (c *Client) Hello() (*offboxv1.Welcome, error) {
	err := c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{
		AgentVersion: "test", BootId: c.Dev.BootID, SessionId: c.Dev.Session, DeviceId: c.Dev.Name, KeyId: c.Dev.KeyID}}})
	if err != nil {
		return nil, err
	}
	m, err := c.stream.Recv()
	if err != nil {
		return nil, err
	}
	w := m.GetWelcome()
	if w == nil {
		return nil, fmt.Errorf("first message %v, want Welcome", m)
	}
	c.Dev.Seq, c.Dev.Prev = w.GetHead().GetSeq(), w.GetHead().GetHash()
	return w, nil
}

// Send seals recs as the next batch and sends it.
func (c *Client) Send(recs ...WireRecord) error {
	s := c.Dev.Next(recs...)
	return c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: s.Bytes, Signature: s.Sig}}})
}

// Ack waits for the next Ack.
func (c *Client) Ack() (*offboxv1.Ack, error) {
	m, err := c.stream.Recv()
	if err != nil {
		return nil, err
	}
	if m.GetAck() == nil {
		return nil, fmt.Errorf("got %v, want an Ack", m)
	}
	return m.GetAck(), nil
}

// Close ends the stream and the connection.
func (c *Client) Close() {
	c.stream.CloseSend()
	c.cancel()
	c.conn.Close()
}
