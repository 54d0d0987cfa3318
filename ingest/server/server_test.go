package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// harness is a real collector on 127.0.0.1:0 with real mutual TLS and a
// real SQLite store, and the PKI its clients use.
type harness struct {
	t      testing.TB
	pki    string
	addr   string
	store  *sqlite.Store
	srv    *Server
	logs   *lockedbuf.Buffer
	cancel context.CancelFunc
	served chan error
}

func pkiFiles(dir, name string) tlsconf.Files {
	return tlsconf.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
}

func devPKI(t testing.TB, devices ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := tlsconf.DevCerts(dir, devices); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startServer(t testing.TB, mutate func(*Config), devices ...string) *harness {
	t.Helper()
	return startServerSync(t, "normal", mutate, devices...)
}

// startServerSync is startServer with the store's sync mode.
func startServerSync(t testing.TB, sync string, mutate func(*Config), devices ...string) *harness {
	t.Helper()
	h := &harness{t: t, pki: devPKI(t, devices...), logs: &lockedbuf.Buffer{}, served: make(chan error, 1)}
	src, err := tlsconf.Load(pkiFiles(h.pki, "ingest"), tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.store, err = sqlite.Open(filepath.Join(t.TempDir(), "ingest.db"), sqlite.Options{Sync: sync})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Store: h.store, TLS: src.ServerConfig(), Logger: slog.New(slog.NewTextHandler(h.logs, nil))}
	// The tests open a connection per stream and keep it to their end;
	// the per-device bound's own tests set it back (conndevice_test.go).
	cfg.ConnectionsPerDevice = 1000
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.served <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		h.stop()
		h.store.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// stop ends Serve and returns its error.
func (h *harness) stop() error {
	h.cancel()
	select {
	case err, ok := <-h.served:
		if ok {
			close(h.served)
		}
		return err
	case <-time.After(20 * time.Second):
		h.t.Fatal("Serve did not return within 20s of its context ending")
		return nil
	}
}

// client is an agent's side of one stream, written from the protocol.
type client struct {
	t      testing.TB
	dev    *batchtest.Device
	stream offboxv1grpc.Ingest_StreamClient
}

// dial opens a stream as device name, with that device's certificate from
// the PKI in dir.
func (h *harness) dial(t testing.TB, dir, name string) *client {
	t.Helper()
	c, end, err := h.connect(t, dir, name, nil, 0)
	t.Cleanup(end)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connect opens a stream as device name, with that device's certificate
// from the PKI in dir, from the local address local (nil: any), bounded
// by timeout (0: none). end closes its connection; err is the stream's.
func (h *harness) connect(t testing.TB, dir, name string, local net.Addr, timeout time.Duration) (c *client, end func(), err error) {
	t.Helper()
	src, err := tlsconf.Load(pkiFiles(dir, name), tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := net.Dialer{LocalAddr: local}
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(credentials.NewTLS(src.ClientConfig("localhost"))),
		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), timeout)
	}
	end = func() { cancel(); conn.Close() }
	stream, err := offboxv1grpc.NewIngestClient(conn).Stream(ctx)
	if err != nil {
		return nil, end, err
	}
	return &client{t: t, dev: batchtest.WithKey(name, src.Signer()), stream: stream}, end, nil
}

func (c *client) hello() (*offboxv1.Welcome, error) {
	return c.helloAs(c.dev.Name, c.dev.KeyID)
}

func (c *client) helloAs(device string, keyID []byte) (*offboxv1.Welcome, error) {
	err := c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{
		AgentVersion: "test", BootId: c.dev.BootID, SessionId: c.dev.Session, DeviceId: device, KeyId: keyID}}})
	if err != nil {
		return nil, err
	}
	m, err := c.stream.Recv()
	if err != nil {
		return nil, err
	}
	if m.GetWelcome() == nil {
		c.t.Fatalf("first message from the collector is %v, want Welcome", m)
	}
	return m.GetWelcome(), nil
}

// mustHello says Hello and adopts the collector's head, as an agent does.
func (c *client) mustHello() *offboxv1.Welcome {
	c.t.Helper()
	w, err := c.hello()
	if err != nil {
		c.t.Fatalf("hello: %v", err)
	}
	c.dev.Seq, c.dev.Prev = w.GetHead().GetSeq(), w.GetHead().GetHash()
	return w
}

func (c *client) send(s *seal.Sealed) {
	c.t.Helper()
	c.sendRaw(s.Bytes, s.Sig)
}

func (c *client) sendRaw(batch, sig []byte) {
	c.t.Helper()
	err := c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: batch, Signature: sig}}})
	if err != nil && !errors.Is(err, io.EOF) {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) ack() (*offboxv1.Ack, error) {
	m, err := c.stream.Recv()
	if err != nil {
		return nil, err
	}
	if m.GetAck() == nil {
		c.t.Fatalf("got %v, want an Ack", m)
	}
	return m.GetAck(), nil
}

func (c *client) wantAck(seq uint64, st offboxv1.Ack_Status) *offboxv1.Ack {
	c.t.Helper()
	a, err := c.ack()
	if err != nil {
		c.t.Fatalf("waiting for the ack of seq %d: %v", seq, err)
	}
	if a.GetSeq() != seq || a.GetStatus() != st {
		c.t.Fatalf("ack = seq %d %v (%s), want seq %d %v", a.GetSeq(), a.GetStatus(), a.GetReason(), seq, st)
	}
	return a
}

// wantEnd expects the stream to end with code.
func (c *client) wantEnd(code codes.Code) {
	c.t.Helper()
	m, err := c.stream.Recv()
	if err == nil {
		c.t.Fatalf("got %v, want the stream to end with %v", m, code)
	}
	if got := status.Code(err); got != code {
		c.t.Fatalf("stream ended with %v (%v), want %v", got, err, code)
	}
}

func (h *harness) events(device string) []store.IntegrityEvent {
	h.t.Helper()
	evs, err := h.store.IntegrityEvents(context.Background(), store.EventQuery{Device: device})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *harness) wantEvent(device, kind string, seq uint64, detail string) store.IntegrityEvent {
	h.t.Helper()
	for _, e := range h.events(device) {
		if e.Kind == kind && e.Seq == seq && strings.Contains(e.Detail, detail) {
			return e
		}
	}
	h.t.Fatalf("no %s event for %s seq %d mentioning %q; events: %+v", kind, device, seq, detail, h.events(device))
	return store.IntegrityEvent{}
}

func (h *harness) count(q store.RecordQuery) int64 {
	h.t.Helper()
	n, err := h.store.CountRecords(context.Background(), q)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) head(device string) store.Head {
	h.t.Helper()
	hd, err := h.store.Head(context.Background(), device)
	if err != nil {
		h.t.Fatal(err)
	}
	return hd
}

// TestHappyPath: three pipelined batches are stored and acknowledged in
// order; a new stream's Welcome carries the head and the file checkpoint.
func TestHappyPath(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "router-1")
	c := h.dial(t, h.pki, "router-1")
	w := c.mustHello()
	if w.GetHead().GetSeq() != 0 || len(w.GetCheckpoints()) != 0 || w.GetCollectorVersion() == "" || w.GetServerTimeNs() == 0 {
		t.Fatalf("first Welcome = %v, want an empty head, no checkpoints, a version and a time", w)
	}
	f := batchtest.NewFile("file:/var/log/auth.log", 2049, 1234)
	for range 3 { // all in flight before the first ack is read
		c.send(c.dev.Next(append(f.Lines(50, 170), batchtest.Heartbeat(f.Time))...))
	}
	for seq := uint64(1); seq <= 3; seq++ {
		c.wantAck(seq, offboxv1.Ack_STATUS_STORED)
	}
	if err := c.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.stream.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: %v, want the stream to end cleanly", err)
	}
	if n := h.count(store.RecordQuery{Device: "router-1", Source: f.Source}); n != 150 {
		t.Errorf("%d lines stored, want 150", n)
	}
	if evs := h.events("router-1"); len(evs) != 0 {
		t.Errorf("integrity events on a clean stream: %+v", evs)
	}
	keys, _ := h.store.Keys(context.Background(), "router-1")
	if len(keys) != 1 || !bytes.Equal(keys[0].KeyID, c.dev.KeyID) {
		t.Errorf("keys = %+v, want the device's certificate", keys)
	}

	c2 := h.dial(t, h.pki, "router-1")
	w2 := c2.mustHello()
	if w2.GetHead().GetSeq() != 3 || !bytes.Equal(w2.GetHead().GetHash(), c.dev.Prev) {
		t.Errorf("Welcome head = %d %x, want 3 %x", w2.GetHead().GetSeq(), w2.GetHead().GetHash(), c.dev.Prev)
	}
	cps := w2.GetCheckpoints()
	if len(cps) != 1 || cps[0].GetSource() != f.Source || cps[0].GetOffset() != f.Offset ||
		cps[0].GetFile().GetInode() != 1234 || cps[0].GetFile().GetDev() != 2049 || cps[0].GetFile().GetFingerprintLen() != 1024 {
		t.Errorf("Welcome checkpoints = %v, want %s at %d", cps, f.Source, f.Offset)
	}
	// The chain continues across streams.
	c2.send(c2.dev.Next(f.Lines(1, 10)...))
	c2.wantAck(4, offboxv1.Ack_STATUS_STORED)
	if logs := h.logs.String(); !strings.Contains(logs, "session start") || !strings.Contains(logs, "session end") {
		t.Errorf("no session start/end lines in the log:\n%s", logs)
	}
}

// TestClientFromAnotherCARefused: a certificate of another CA does not get
// past the handshake, and nothing is recorded.
func TestClientFromAnotherCARefused(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "dev")
	evil := devPKI(t, "dev")
	// The evil client trusts the real server's CA: only its own certificate is wrong.
	src, err := tlsconf.Load(tlsconf.Files{CA: filepath.Join(h.pki, "ca.pem"), Cert: filepath.Join(evil, "dev.pem"),
		Key: filepath.Join(evil, "dev-key.pem")}, tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(credentials.NewTLS(src.ClientConfig("localhost"))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var gotErr error
	if stream, err := offboxv1grpc.NewIngestClient(conn).Stream(ctx); err != nil {
		gotErr = err
	} else {
		stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{DeviceId: "dev"}}})
		_, gotErr = stream.Recv()
	}
	if status.Code(gotErr) != codes.Unavailable {
		t.Fatalf("stream with a foreign certificate: %v, want Unavailable (handshake refused)", gotErr)
	}
	devs, _ := h.store.Devices(context.Background())
	if len(devs) != 0 {
		t.Errorf("devices recorded from a foreign certificate: %+v", devs)
	}
}

// TestBatchNamingAnotherDevice: a batch whose header names another device
// (signed by the connection's own key) ends the stream PermissionDenied,
// raises identity_mismatch and stores nothing.
func TestBatchNamingAnotherDevice(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a", "b")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	hdr := c.dev.Header(1, nil, 1)
	hdr.DeviceID = "b"
	c.send(c.dev.SealHeader(hdr, batchtest.Heartbeat(1)))
	c.wantEnd(codes.PermissionDenied)
	h.wantEvent("a", store.EventIdentityMismatch, 1, `names device "b"`)
	if n := h.count(store.RecordQuery{}); n != 0 {
		t.Errorf("%d records stored", n)
	}
	if hb := h.head("b"); hb.Seq != 0 {
		t.Errorf("device b has head %d", hb.Seq)
	}
	// A wrong key id is the same.
	c2 := h.dial(t, h.pki, "a")
	c2.mustHello()
	hdr = c2.dev.Header(1, nil, 1)
	hdr.KeyID = bytes.Repeat([]byte{1}, 32)
	c2.send(c2.dev.SealHeader(hdr, batchtest.Heartbeat(1)))
	c2.wantEnd(codes.PermissionDenied)
}

// TestHelloIdentityMismatch: a Hello naming another device is refused
// PermissionDenied with an identity_mismatch event.
func TestHelloIdentityMismatch(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a", "b")
	c := h.dial(t, h.pki, "a")
	if _, err := c.helloAs("b", c.dev.KeyID); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Hello as b: %v, want PermissionDenied", err)
	}
	h.wantEvent("a", store.EventIdentityMismatch, 0, `Hello names device "b"`)
	c2 := h.dial(t, h.pki, "a")
	if _, err := c2.helloAs("a", []byte("not my key")); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("Hello with a wrong key id: %v, want PermissionDenied", err)
	}
}

// TestHelloMustComeFirst: a batch before Hello is InvalidArgument.
func TestHelloMustComeFirst(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.send(c.dev.Next(batchtest.Heartbeat(1)))
	c.wantEnd(codes.InvalidArgument)
	if n := h.count(store.RecordQuery{}); n != 0 {
		t.Errorf("%d records stored", n)
	}
}

// TestBadSignatureRejected: REJECTED, a bad_signature event, nothing
// stored; the stream goes on.
func TestBadSignatureRejected(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	s := c.dev.Seal(1, nil, batchtest.Heartbeat(1))
	bad := bytes.Clone(s.Sig)
	bad[0] ^= 1
	c.sendRaw(s.Bytes, bad)
	c.wantAck(1, offboxv1.Ack_STATUS_REJECTED)
	h.wantEvent("a", store.EventBadSignature, 1, "signature")
	// Signed by another key (the right key id in the header, though).
	other := batchtest.NewDevice("a")
	other.KeyID = c.dev.KeyID
	c.send(other.Seal(1, nil, batchtest.Heartbeat(1)))
	c.wantAck(1, offboxv1.Ack_STATUS_REJECTED)
	if n, hd := h.count(store.RecordQuery{}), h.head("a"); n != 0 || hd.Seq != 0 {
		t.Errorf("after bad signatures: %d records, head %d; want nothing", n, hd.Seq)
	}
	c.send(c.dev.Next(batchtest.Heartbeat(2)))
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
}

// TestReplayIsDuplicate: an already stored batch sent again is DUPLICATE
// with a replay event, within a stream and after a reconnect, and nothing
// is stored twice.
func TestReplayIsDuplicate(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	f := batchtest.NewFile("file:/x", 1, 1)
	b1, b2 := c.dev.Next(f.Lines(5, 20)...), c.dev.Next(f.Lines(5, 20)...)
	c.send(b1)
	c.send(b2)
	c.send(b2) // right behind the original, still in flight
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
	c.wantAck(2, offboxv1.Ack_STATUS_STORED)
	c.wantAck(2, offboxv1.Ack_STATUS_DUPLICATE)
	h.wantEvent("a", store.EventReplay, 2, "same digest")
	c.stream.CloseSend()
	c.stream.Recv()

	c2 := h.dial(t, h.pki, "a")
	c2.mustHello()
	c2.send(b1)
	c2.wantAck(1, offboxv1.Ack_STATUS_DUPLICATE)
	h.wantEvent("a", store.EventReplay, 1, "same digest")
	if n := h.count(store.RecordQuery{}); n != 10 {
		t.Errorf("%d records, want 10: something was stored twice", n)
	}
}

// TestGapStoredWithEvent: a batch ahead of head+1 is stored, with a gap
// event naming the missing range; the log says so.
func TestGapStoredWithEvent(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	c.send(c.dev.Next(batchtest.Heartbeat(1)))
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
	c.dev.Next(batchtest.Heartbeat(2)) // seq 2 and 3 are lost on the way
	c.dev.Next(batchtest.Heartbeat(3))
	c.send(c.dev.Next(batchtest.Heartbeat(4)))
	c.wantAck(4, offboxv1.Ack_STATUS_STORED)
	h.wantEvent("a", store.EventGap, 4, "seqs 2..3 missing")
	if hd := h.head("a"); hd.Seq != 4 || !bytes.Equal(hd.Hash, c.dev.Prev) {
		t.Errorf("head = %d, want 4", hd.Seq)
	}
	if n := h.count(store.RecordQuery{}); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
	if !strings.Contains(h.logs.String(), "kind=gap") {
		t.Errorf("the gap is not in the log:\n%s", h.logs.String())
	}
	// Seq 2 arriving late falls inside the gap: refused as a fork.
	c.send(c.dev.Seal(2, nil, batchtest.Heartbeat(2)))
	c.wantAck(2, offboxv1.Ack_STATUS_REJECTED)
	h.wantEvent("a", store.EventFork, 2, "inside a gap")
}

// TestForks: seq H+1 that does not link to the head is stored (it is
// authentic) with a fork event; a different batch under a stored seq is
// REJECTED with a fork event, and a new seq 1 with a chain_restart event.
func TestForks(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	c.send(c.dev.Next(batchtest.Heartbeat(1)))
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
	c.send(c.dev.Seal(2, bytes.Repeat([]byte{7}, 32), batchtest.Heartbeat(2)))
	c.wantAck(2, offboxv1.Ack_STATUS_STORED)
	h.wantEvent("a", store.EventFork, 2, "prev_hash")
	c.send(c.dev.Seal(2, bytes.Repeat([]byte{8}, 32), batchtest.Heartbeat(98)))
	c.wantAck(2, offboxv1.Ack_STATUS_REJECTED)
	h.wantEvent("a", store.EventFork, 2, "stored with digest")
	// A new first batch is an agent that began its chain afresh.
	c.send(c.dev.Seal(1, nil, batchtest.Heartbeat(99)))
	c.wantAck(1, offboxv1.Ack_STATUS_REJECTED)
	ev := h.wantEvent("a", store.EventChainRestart, 1, "a new chain from seq 1")
	if ev.BootID != "boot-a" {
		t.Errorf("chain_restart boot id %q, want the batch's boot-a", ev.BootID)
	}
	if n, hd := h.count(store.RecordQuery{}), h.head("a"); n != 2 || hd.Seq != 2 {
		t.Errorf("%d records, head %d; want 2, 2", n, hd.Seq)
	}
}

// TestMalformedRejected: bytes that do not decode, and a batch whose
// record count is wrong, are REJECTED with a malformed event.
func TestMalformedRejected(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	c.sendRaw([]byte{0xff, 0xff, 0xff, 0xff}, []byte("sig"))
	c.wantAck(0, offboxv1.Ack_STATUS_REJECTED)
	hdr := c.dev.Header(1, nil, 3) // says 3, carries 1
	c.send(c.dev.SealHeader(hdr, batchtest.Heartbeat(1)))
	c.wantAck(1, offboxv1.Ack_STATUS_REJECTED)
	c.sendRaw(nil, nil)
	c.wantAck(0, offboxv1.Ack_STATUS_REJECTED)
	evs := h.events("a")
	if len(evs) != 3 {
		t.Fatalf("events = %+v, want 3 malformed", evs)
	}
	for _, e := range evs {
		if e.Kind != store.EventMalformed {
			t.Errorf("event %+v, want malformed", e)
		}
	}
	if n := h.count(store.RecordQuery{}); n != 0 {
		t.Errorf("%d records stored", n)
	}
}

// TestNoCrashOnGarbage: random bytes as batches, and a second Hello, end
// streams or get rejected, and the collector keeps serving.
func TestNoCrashOnGarbage(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	valid := c.dev.Seal(1, nil, batchtest.Heartbeat(1))
	for i := range 50 {
		raw := make([]byte, i*7)
		rand.Read(raw)
		if i%5 == 0 && len(valid.Bytes) > 0 { // damaged real batches, too
			raw = bytes.Clone(valid.Bytes)
			raw[i%len(raw)] ^= byte(i + 1)
		}
		c.sendRaw(raw, valid.Sig)
		if a, err := c.ack(); err != nil {
			// Only a damaged header naming another device may end the stream.
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("garbage %d ended the stream with %v", i, err)
			}
			c = h.dial(t, h.pki, "a")
			c.mustHello()
		} else if a.GetStatus() != offboxv1.Ack_STATUS_REJECTED {
			t.Fatalf("garbage %d acked %v", i, a)
		}
	}
	c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{}}})
	c.wantEnd(codes.InvalidArgument)
	c2 := h.dial(t, h.pki, "a")
	c2.mustHello()
	c2.send(c2.dev.Next(batchtest.Heartbeat(1)))
	c2.wantAck(1, offboxv1.Ack_STATUS_STORED)
}

// TestConcurrentSessionRefused: a second stream for a device with one open
// is AlreadyExists with a concurrent_session event; the first goes on.
func TestConcurrentSessionRefused(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	first := h.dial(t, h.pki, "a")
	first.mustHello()
	second := h.dial(t, h.pki, "a")
	if _, err := second.hello(); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second stream: %v, want AlreadyExists", err)
	}
	h.wantEvent("a", store.EventConcurrentSession, 0, "second stream")
	first.send(first.dev.Next(batchtest.Heartbeat(1)))
	first.wantAck(1, offboxv1.Ack_STATUS_STORED)
	// Once the first ends, a new stream is welcome.
	first.stream.CloseSend()
	first.stream.Recv()
	third := h.dial(t, h.pki, "a")
	if w := third.mustHello(); w.GetHead().GetSeq() != 1 {
		t.Errorf("third stream's head = %d, want 1", w.GetHead().GetSeq())
	}
}

// TestMaxBatchBytes: a message larger than max_batch_bytes ends the stream
// ResourceExhausted and stores nothing.
func TestMaxBatchBytes(t *testing.T) {
	t.Parallel()
	h := startServer(t, func(c *Config) { c.MaxBatchBytes = 64 << 10 }, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	f := batchtest.NewFile("file:/x", 1, 1)
	c.send(c.dev.Next(f.Lines(1000, 100)...))
	c.wantEnd(codes.ResourceExhausted)
	if n := h.count(store.RecordQuery{}); n != 0 {
		t.Errorf("%d records stored", n)
	}
}

// TestGracefulShutdown: when Serve's context ends, every batch the stream
// had acked is stored, the stream ends Unavailable, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := startServer(t, nil, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	f := batchtest.NewFile("file:/x", 1, 1)
	for range 5 {
		c.send(c.dev.Next(f.Lines(200, 100)...))
	}
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
	done := make(chan error, 1)
	go func() { done <- h.stop() }()
	acked := uint64(1)
	for {
		a, err := c.ack()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("stream ended with %v, want Unavailable", err)
			}
			break
		}
		if a.GetStatus() != offboxv1.Ack_STATUS_STORED || a.GetSeq() != acked+1 {
			t.Fatalf("ack %v after seq %d", a, acked)
		}
		acked = a.GetSeq()
	}
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	if hd := h.head("a"); hd.Seq < acked {
		t.Errorf("head %d after acks up to %d: an ack came before its commit", hd.Seq, acked)
	}
}
