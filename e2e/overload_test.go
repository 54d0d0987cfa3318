package e2e

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
	"github.com/offbox/offbox/transport/codec"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
)

// TestOverloadStalledStore: a collector whose store stops (PostgreSQL,
// batch_log locked by another session for 10 s) while 60 devices send
// 1 MiB batches as fast as their connections take them, never waiting for
// an ack. The collector must push back, not buffer: each stream holds at
// most one batch waiting for the in-flight budget and its HTTP/2 window,
// and all streams together at most the budget (64 MiB) decoded, so its
// peak RSS stays under stalledPeakMiB: the budget, and per stream its 4 MiB
// window and four batches' room (the one gRPC widens the window for, the
// one waiting for the budget, frames and pool slack), and 60 MiB of its
// own. Before
// the budget and the explicit windows each stream held its receiver's
// batch, the read loop's, four judged ones, the one committing and its
// window: the collector took in 544 MiB during the stall and peaked at 552
// MiB RSS; now 423-466 MiB and 400-488 MiB (busy machine; with 1 MiB windows 261
// and 275, at the cost of a round trip a batch for real agents).
// Once the lock is released every batch sent is acknowledged as stored,
// in order, and every acknowledged batch is in the store.
func TestOverloadStalledStore(t *testing.T) {
	skipShort(t)
	const (
		devices         = 60
		stall           = 10 * time.Second
		recordBytes     = 4 << 10
		recordsPerBatch = 256 // 1 MiB batches, the agent's largest
		stalledPeakMiB  = 64 + devices*(4+4) + 60
	)
	db := pgtest.URL(t)
	names := make([]string, devices)
	for i := range names {
		names[i] = fmt.Sprintf("flood-%02d", i)
	}
	p := newPKI(t, names...)
	in := startIngest(t, p, db, "127.0.0.1:0")
	defer in.stop()
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(p.ca())
	if err != nil {
		t.Fatal(err)
	}
	roots.AppendCertsFromPEM(caPEM)
	ctx := context.Background()
	lock, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)

	var sentBytes atomic.Int64
	var welcomed sync.WaitGroup
	welcomed.Add(devices)
	stopSending := make(chan struct{})
	type result struct {
		name        string
		sent, acked uint64 // batches; acked: stored acks, in order
		err         error
	}
	results := make(chan result, devices)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, acked, err := floodAgent(in.addr, roots, p, name, recordBytes, recordsPerBatch, welcomed.Done, stopSending, &sentBytes)
			results <- result{name, sent, acked, err}
		}()
	}
	welcomed.Wait() // sessions are stored; now the store stops taking batches
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE batch_log IN SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(stall)
	peak := procStatus(t, in.pid(), "VmHWM") / 1024
	stalledMiB := float64(sentBytes.Load()) / (1 << 20)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	close(stopSending)
	wg.Wait()
	close(results)
	t.Logf("store stalled %s under %d devices sending 1 MiB batches without waiting for acks: %.0f MiB sent meanwhile; collector peak RSS %d MiB (bound %d MiB); %.0f MiB sent in all",
		stall, devices, stalledMiB, peak, stalledPeakMiB, float64(sentBytes.Load())/(1<<20))
	if peak > stalledPeakMiB {
		t.Errorf("collector peak RSS %d MiB with the store stalled, want at most %d MiB", peak, stalledPeakMiB)
	}
	var total uint64
	for r := range results {
		if r.err != nil {
			t.Errorf("%s: %v", r.name, r.err)
			continue
		}
		if r.acked != r.sent {
			t.Errorf("%s: %d batches sent, %d acknowledged as stored", r.name, r.sent, r.acked)
		}
		if got := count(t, db, "-device", r.name); uint64(got) < r.acked*recordsPerBatch {
			t.Errorf("%s: %d records stored; its %d acknowledged batches hold %d", r.name, got, r.acked, r.acked*recordsPerBatch)
		}
		total += r.sent
	}
	if total == 0 {
		t.Fatal("no batch was sent")
	}
}

// floodAgent streams batches as device name (calling welcomed once its
// session has begun) until stop, as fast as the
// stream's flow control lets it, without waiting for acks, then waits
// (at most a minute) for the ack of each batch sent. It returns the
// batches sent and those acknowledged as stored (acks come in order).
func floodAgent(addr string, roots *x509.CertPool, p pki, name string, recordBytes, records int, welcomed func(), stop <-chan struct{}, sentBytes *atomic.Int64) (sent, acked uint64, err error) {
	once := sync.OnceFunc(welcomed)
	defer once() // whatever happens, the test does not wait for this one
	cert, err := tls.LoadX509KeyPair(p.cert(name), p.key(name))
	if err != nil {
		return 0, 0, err
	}
	key := cert.PrivateKey.(crypto.Signer)
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: "localhost", RootCAs: roots, Certificates: []tls.Certificate{cert}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec.New())))
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	stream, err := offboxv1grpc.NewIngestClient(conn).Stream(ctx)
	if err != nil {
		return 0, 0, err
	}
	keyID, err := seal.KeyID(key.Public())
	if err != nil {
		return 0, 0, err
	}
	boot, session := "boot-"+name, []byte("session-"+name)
	if err := stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{
		AgentVersion: "flood", BootId: boot, SessionId: session, DeviceId: name, KeyId: keyID}}}); err != nil {
		return 0, 0, err
	}
	m, err := stream.Recv()
	if err != nil || m.GetWelcome() == nil {
		return 0, 0, fmt.Errorf("welcome: %v %w", m, err)
	}
	seq, prev := m.GetWelcome().GetHead().GetSeq(), m.GetWelcome().GetHead().GetHash()
	first := seq + 1
	once()

	var ackedN atomic.Uint64
	var sentN atomic.Uint64
	ackErr := make(chan error, 1)
	go func() {
		for want := first; ; want++ {
			m, err := stream.Recv()
			if err != nil {
				ackErr <- err
				return
			}
			a := m.GetAck()
			if a == nil || a.GetSeq() != want || a.GetStatus() != offboxv1.Ack_STATUS_STORED {
				ackErr <- fmt.Errorf("got %v, want the stored ack of seq %d", m, want)
				return
			}
			if ackedN.Add(1) == sentN.Load() && isClosed(stop) {
				ackErr <- nil
				return
			}
		}
	}()
	line := strings.Repeat("x", recordBytes-64)
	var body []byte
	for !isClosed(stop) {
		body = body[:0]
		for r := range records {
			body = seal.AppendRecord(body, &seal.WireRecord{Kind: uint32(offboxv1.Kind_KIND_LOG), Source: "flood", TimeNs: time.Now().UnixNano(),
				Body: fmt.Appendf(nil, "%s %d %d %s", name, seq+1, r, line)})
		}
		seq++
		sb, err := seal.Seal(key, &seal.Header{DeviceID: name, KeyID: keyID, BootID: boot, SessionID: session,
			Seq: seq, PrevHash: prev, RecordCount: uint32(records), SealedNs: time.Now().UnixNano(), AgentVersion: "flood"}, body)
		if err != nil {
			return sentN.Load(), ackedN.Load(), err
		}
		prev = sb.Digest[:]
		sentN.Add(1) // before Send: the reader may see its ack at once
		if err := stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: sb.Bytes, Signature: sb.Sig}}}); err != nil {
			return sentN.Load(), ackedN.Load(), fmt.Errorf("send seq %d: %w", seq, err)
		}
		sentBytes.Add(int64(len(sb.Bytes)))
	}
	if ackedN.Load() == sentN.Load() {
		return sentN.Load(), ackedN.Load(), nil
	}
	select {
	case err := <-ackErr:
		return sentN.Load(), ackedN.Load(), err
	case <-time.After(2 * time.Minute):
		return sentN.Load(), ackedN.Load(), fmt.Errorf("acks still missing two minutes after the flood")
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
