package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/transport/client"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// store is what the in-test collector service keeps; it outlives a server
// instance, as a database would.
type store struct {
	mu       sync.Mutex
	headSeq  uint64
	headHash []byte
	raws     [][]byte
	lines    []string // log bodies in store order
	breaks   int      // stored batches that did not continue the head
	streams  int
	// blackhole: batches are read but neither stored nor acknowledged, as
	// if the collector died before committing them. keepOne stores the
	// first of them (without an ack, as if the ack was lost).
	blackhole, keepOne bool
	holed              int // batches that arrived in blackhole mode
}

// ingest is a minimal collector service: it binds identity to the client
// certificate, verifies every signature, applies the PROTOCOL.md table and
// acknowledges.
type ingest struct {
	offboxv1grpc.UnimplementedIngestServer
	t  *testing.T
	st *store
}

func (in *ingest) Stream(stream offboxv1grpc.Ingest_StreamServer) error {
	p, ok := peer.FromContext(stream.Context())
	if !ok {
		return errors.New("no peer")
	}
	cert := p.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0]
	deviceID, keyID, err := tlsconf.Identity(cert)
	if err != nil {
		return err
	}
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	if h := m.GetHello(); h == nil || h.GetDeviceId() != deviceID || !bytes.Equal(h.GetKeyId(), keyID) {
		in.t.Errorf("hello %v, want device %s", m, deviceID)
	}
	in.st.mu.Lock()
	in.st.streams++
	w := &offboxv1.Welcome{Head: &offboxv1.ChainHead{Seq: in.st.headSeq, Hash: in.st.headHash}}
	in.st.mu.Unlock()
	if err := stream.Send(&offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Welcome{Welcome: w}}); err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			return nil
		}
		sb := m.GetBatch()
		if err := seal.Verify(cert.PublicKey, sb.GetBatch(), sb.GetSignature()); err != nil {
			in.t.Errorf("signature: %v", err)
			return err
		}
		b, err := seal.Open(sb.GetBatch())
		if err != nil {
			in.t.Errorf("open: %v", err)
			return err
		}
		if h := b.GetHeader(); h.GetDeviceId() != deviceID || !bytes.Equal(h.GetKeyId(), keyID) {
			in.t.Errorf("header identity %s/%x, certificate %s/%x", h.GetDeviceId(), h.GetKeyId(), deviceID, keyID)
		}
		ack, send := in.st.apply(b, sb.GetBatch())
		if !send {
			continue
		}
		if err := stream.Send(&offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Ack{Ack: ack}}); err != nil {
			return err
		}
	}
}

func (s *store) apply(b *offboxv1.Batch, raw []byte) (ack *offboxv1.Ack, send bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := b.GetHeader()
	seq, d := h.GetSeq(), seal.Digest(raw)
	if s.blackhole {
		s.holed++
		if !s.keepOne {
			return nil, false
		}
		s.keepOne = false
	}
	if seq <= s.headSeq {
		if seq >= 1 && int(seq) <= len(s.raws) && bytes.Equal(s.raws[seq-1], raw) {
			return &offboxv1.Ack{Seq: seq, Status: offboxv1.Ack_STATUS_DUPLICATE}, !s.blackhole
		}
		return &offboxv1.Ack{Seq: seq, Status: offboxv1.Ack_STATUS_REJECTED, Reason: "fork"}, !s.blackhole
	}
	if seq != s.headSeq+1 || !bytes.Equal(h.GetPrevHash(), s.headHash) {
		s.breaks++
	}
	s.raws = append(s.raws, bytes.Clone(raw))
	s.headSeq, s.headHash = seq, d[:]
	for _, r := range b.GetRecords() {
		if r.GetKind() == offboxv1.Kind_KIND_LOG {
			s.lines = append(s.lines, string(r.GetBody()))
		}
	}
	return &offboxv1.Ack{Seq: seq, Status: offboxv1.Ack_STATUS_STORED}, !s.blackhole
}

func (s *store) snapshot() (lines []string, streams, breaks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lines), s.streams, s.breaks
}

// serve starts a real gRPC server with mutual TLS on addr ("127.0.0.1:0" for
// a new port) and returns it and its address.
func serve(t *testing.T, pki, addr string, st *store) (*grpc.Server, string) {
	t.Helper()
	src, err := tlsconf.Load(files(pki, "ingest"), tlsconf.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for try := 0; ; try++ { // a restarted server takes its old port back
		ln, err = net.Listen("tcp", addr)
		if err == nil || try == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(src.ServerConfig())),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second}))
	offboxv1grpc.RegisterIngestServer(srv, &ingest{t: t, st: st})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return srv, ln.Addr().String()
}

func files(dir, name string) tlsconf.Files {
	return tlsconf.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func devPKI(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := tlsconf.DevCerts(dir, []string{"sw1"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startAgent runs a real agent against addr and returns its emitter and a
// function that stops it (and waits for it to drain).
func startAgent(t *testing.T, pki, addr string) (collectors.Emitter, func()) {
	t.Helper()
	src, err := tlsconf.Load(files(pki, "sw1"), tlsconf.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: addr, TLS: src})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Dialer: agent.DialFunc(func(ctx context.Context) (agent.Stream, error) { return c.Open(ctx) }), Identity: agent.TLSIdentity(src), HostRoot: t.TempDir(),
		Heartbeat: time.Hour, DrainTimeout: 2 * time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return a.Emitter(), stop
}

func emitLines(t *testing.T, out collectors.Emitter, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		r := collectors.Record{Time: time.Now(), Kind: collectors.KindLog, Source: "file:/var/log/test",
			Body: fmt.Appendf(nil, "line %03d", i)}
		if err := out.Emit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func wantLines(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("line %03d", i))
	}
	return out
}

// waitFor polls cond for up to 15s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestShipsAndSurvivesServerRestart runs the agent against a real gRPC
// server over real mutual TLS: lines arrive verified; the server dies with
// batches in flight (one stored without its ack, the rest lost) and comes
// back on the same port; the agent reconnects and resends, and in the end
// every line is stored exactly once in an unbroken chain.
func TestShipsAndSurvivesServerRestart(t *testing.T) {
	pki := devPKI(t)
	st := &store{}
	srv, addr := serve(t, pki, "127.0.0.1:0", st)
	out, stopAgent := startAgent(t, pki, addr)

	emitLines(t, out, 0, 100)
	waitFor(t, "the first 100 lines", func() bool { l, _, _ := st.snapshot(); return len(l) == 100 })

	st.mu.Lock()
	st.blackhole, st.keepOne = true, true
	st.mu.Unlock()
	for i := 100; i < 150; i++ { // one batch per line: several in flight
		emitLines(t, out, i, i+1)
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "two batches in flight", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.holed >= 2 && len(st.lines) > 100
	})
	srv.Stop()
	st.mu.Lock()
	st.blackhole, st.keepOne = false, false
	st.mu.Unlock()

	serve(t, pki, addr, st)
	emitLines(t, out, 150, 200)
	waitFor(t, "all 200 lines", func() bool { l, _, _ := st.snapshot(); return len(l) >= 200 })
	start := time.Now()
	stopAgent() // drains: a duplicate would arrive before it returns
	if d := time.Since(start); d > time.Second {
		t.Errorf("agent took %v to stop with the collector up, want it to drain at once", d)
	}
	lines, streams, breaks := st.snapshot()
	if !slices.Equal(lines, wantLines(200)) {
		t.Errorf("stored %d lines, want lines 000-199 once each in order", len(lines))
	}
	if streams < 2 {
		t.Errorf("%d sessions, want a reconnect", streams)
	}
	if breaks != 0 {
		t.Errorf("%d breaks in the stored chain, want none", breaks)
	}
}

// TestServerFromAnotherCARefused checks that the client refuses a server
// whose certificate another CA signed: no stream opens, nothing is sent.
func TestServerFromAnotherCARefused(t *testing.T) {
	devicePKI, otherPKI := devPKI(t), devPKI(t)
	// The server trusts the device CA (so only the client can refuse) but
	// presents a certificate of another CA.
	st := &store{}
	mixed := t.TempDir()
	for name, from := range map[string]string{"ca.pem": devicePKI, "ingest.pem": otherPKI, "ingest-key.pem": otherPKI} {
		copyFile(t, filepath.Join(from, name), filepath.Join(mixed, name))
	}
	_, addr := serve(t, mixed, "127.0.0.1:0", st)

	src, err := tlsconf.Load(files(devicePKI, "sw1"), tlsconf.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Server: addr, TLS: src})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Open(ctx)
	if err == nil {
		// gRPC may report the handshake failure on the first use.
		if err = s.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{}}}); err == nil {
			_, err = s.Recv()
		}
		s.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("session with a server of another CA: err = %v, want a certificate error", err)
	}

	out, _ := startAgent(t, devicePKI, addr)
	emitLines(t, out, 0, 10)
	time.Sleep(time.Second)
	if lines, streams, _ := st.snapshot(); streams != 0 || len(lines) != 0 {
		t.Errorf("server of another CA got %d streams and %d lines, want none", streams, len(lines))
	}
}

// TestClientConfig checks New's argument checks.
func TestClientConfig(t *testing.T) {
	pki := devPKI(t)
	src, err := tlsconf.Load(files(pki, "sw1"), tlsconf.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  client.Config
		want string // error substring; "" for none
	}{
		{"ok", client.Config{Server: "127.0.0.1:4443", TLS: src}, ""},
		{"ok with name", client.Config{Server: "[::1]:4443", ServerName: "ingest.example", TLS: src}, ""},
		{"no port", client.Config{Server: "ingest.example", TLS: src}, "host:port"},
		{"no TLS", client.Config{Server: "127.0.0.1:4443"}, "TLS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.New(tc.cfg)
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("New: err = %v, want %q", err, tc.want)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
