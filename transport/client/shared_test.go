package client_test

import (
	"context"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/offbox/offbox/transport/client"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

// remotes is a collector service that answers every Hello with Welcome and
// records the remote address of each stream.
type remotes struct {
	offboxv1grpc.UnimplementedIngestServer
	mu    sync.Mutex
	addrs []string
}

func (r *remotes) Stream(st offboxv1grpc.Ingest_StreamServer) error {
	p, _ := peer.FromContext(st.Context())
	r.mu.Lock()
	r.addrs = append(r.addrs, p.Addr.String())
	r.mu.Unlock()
	if _, err := st.Recv(); err != nil {
		return err
	}
	if err := st.Send(&offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Welcome{Welcome: &offboxv1.Welcome{}}}); err != nil {
		return err
	}
	<-st.Context().Done()
	return nil
}

// TestSharedOneConnection: streams opened through Shared (a relay's
// appliance streams) travel in one connection, which outlives each of
// them; Open makes a connection per stream.
func TestSharedOneConnection(t *testing.T) {
	t.Parallel()
	pki := devPKI(t)
	r := &remotes{}
	addr := serveWith(t, pki, r)
	src, err := tlsconf.Load(files(pki, "sw1"), tlsconf.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: addr, TLS: src})
	if err != nil {
		t.Fatal(err)
	}
	sh := c.Shared()
	defer sh.Close()
	open := func(o func(context.Context) (client.Stream, error)) client.Stream {
		st, err := o(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{DeviceId: "fw1", Relay: "sw1"}}}); err != nil {
			t.Fatal(err)
		}
		if m, err := st.Recv(); err != nil || m.GetWelcome() == nil {
			t.Fatalf("no Welcome: %v %v", m, err)
		}
		return st
	}
	a, b := open(sh.Open), open(sh.Open)
	a.Close() // a stream's end leaves the connection
	d := open(sh.Open)
	own := open(c.Open)
	b.Close()
	d.Close()
	own.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.addrs) != 4 || r.addrs[0] != r.addrs[1] || r.addrs[1] != r.addrs[2] || r.addrs[3] == r.addrs[0] {
		t.Errorf("remote addresses %v: want the 3 shared streams on one connection, Open's on another", r.addrs)
	}
}

// serveWith serves svc over the PKI's collector certificate on loopback.
func serveWith(t *testing.T, pki string, svc offboxv1grpc.IngestServer) string {
	t.Helper()
	src, err := tlsconf.Load(files(pki, "ingest"), tlsconf.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(src.ServerConfig())))
	offboxv1grpc.RegisterIngestServer(srv, svc)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}
