// Command sizefloor is the smallest program that speaks the agent's wire
// protocol: one gRPC bidirectional stream over mutual TLS with
// google.golang.org/grpc, a codec that copies bytes, nothing else. Its
// stripped size per architecture (make size-floor) is the floor under the
// agent's size: whatever the agent leaves out, it cannot be smaller than
// gRPC, TLS and the Go runtime together (docs/ARCHITECTURE.md, "Size").
// It is a measuring stick, linked into no program and never shipped.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/mem"
)

// rawCodec sends and receives a []byte as it is.
type rawCodec struct{}

func (rawCodec) Name() string { return "raw" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(d mem.BufferSlice, v any) error {
	*v.(*[]byte) = d.Materialize()
	return nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: sizefloor CERT KEY HOST:PORT")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "sizefloor:", err)
		os.Exit(1)
	}
}

func run(certFile, keyFile, target string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		return err
	}
	defer conn.Close()
	st, err := conn.NewStream(context.Background(), &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/offbox.v1.Ingest/Stream")
	if err != nil {
		return err
	}
	b := []byte{}
	if err := st.SendMsg(&b); err != nil {
		return err
	}
	return st.RecvMsg(&b)
}
