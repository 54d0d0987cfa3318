package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// fakeStream is an in-memory session stream.
type fakeStream struct {
	out  chan *offboxv1.AgentMessage     // agent → collector
	in   chan *offboxv1.CollectorMessage // collector → agent
	done chan struct{}
	once sync.Once
}

func newFakeStream() *fakeStream {
	return &fakeStream{out: make(chan *offboxv1.AgentMessage, 64), in: make(chan *offboxv1.CollectorMessage, 64),
		done: make(chan struct{})}
}

func (f *fakeStream) Send(m *offboxv1.AgentMessage) error {
	// Copy, as the wire does: the agent reuses a batch's buffer once the
	// batch is acknowledged.
	m = proto.Clone(m).(*offboxv1.AgentMessage)
	select {
	case <-f.done:
		return io.EOF
	default:
	}
	select {
	case f.out <- m:
		return nil
	case <-f.done:
		return io.EOF
	}
}

func (f *fakeStream) Recv() (*offboxv1.CollectorMessage, error) {
	select { // what was sent before the stream closed arrives first, as on a real stream
	case m := <-f.in:
		return m, nil
	default:
	}
	select {
	case m := <-f.in:
		return m, nil
	case <-f.done:
		return nil, io.EOF
	}
}

func (f *fakeStream) CloseSend() error { return nil }
func (f *fakeStream) Close()           { f.once.Do(func() { close(f.done) }) }

// fakeIngest is an in-memory collector service that follows the table of
// docs/PROTOCOL.md: it verifies every signature, stores in-order, gap and
// fork batches, answers DUPLICATE to a replay and REJECTED to a fork of a
// taken sequence number.
type fakeIngest struct {
	t   testing.TB
	pub crypto.PublicKey

	mu          sync.Mutex
	head        link
	stored      []*offboxv1.Batch // in store order
	storedRaw   [][]byte
	received    []*offboxv1.Batch // every batch that arrived, resends included
	receivedRaw [][]byte
	checkpoints []*offboxv1.FileCheckpoint
	acks        []*offboxv1.Ack
	breaks      int             // stored batches that did not continue the head (gap or fork)
	reject      map[uint64]bool // sequence numbers to reject once
	refuse      error           // Open fails with it
	opens       []time.Time
	current     *fakeStream
	gate        chan struct{} // when set, each ack waits for a token
}

func newFakeIngest(t testing.TB, pub crypto.PublicKey) *fakeIngest {
	return &fakeIngest{t: t, pub: pub, reject: map[uint64]bool{}}
}

func (f *fakeIngest) Open(ctx context.Context) (Stream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens = append(f.opens, time.Now())
	if f.refuse != nil {
		return nil, f.refuse
	}
	st := newFakeStream()
	f.current = st
	go f.serve(st)
	return st, nil
}

func (f *fakeIngest) serve(st *fakeStream) {
	var m *offboxv1.AgentMessage
	select {
	case m = <-st.out:
	case <-st.done:
		return
	}
	if m.GetHello() == nil {
		f.t.Errorf("first message %T, want Hello", m.GetMsg())
		st.Close()
		return
	}
	f.mu.Lock()
	w := &offboxv1.Welcome{Head: &offboxv1.ChainHead{Seq: f.head.seq, Hash: f.head.hash}, Checkpoints: f.checkpoints}
	f.mu.Unlock()
	st.in <- &offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Welcome{Welcome: w}}
	acks := make(chan *offboxv1.Ack, 1024)
	go f.sendAcks(st, acks)
	rejected := false
	for {
		select {
		case m = <-st.out:
		case <-st.done:
			return
		}
		if rejected {
			continue // after a rejection nothing more on this stream is processed
		}
		sb := m.GetBatch()
		ack := f.store(sb.GetBatch(), sb.GetSignature())
		rejected = ack.GetStatus() == offboxv1.Ack_STATUS_REJECTED
		acks <- ack
	}
}

// sendAcks sends the verdicts in order, each after a gate token when the
// gate is set (so batches can be stored but not yet acknowledged).
func (f *fakeIngest) sendAcks(st *fakeStream, acks <-chan *offboxv1.Ack) {
	for {
		var ack *offboxv1.Ack
		select {
		case ack = <-acks:
		case <-st.done:
			return
		}
		if gate := f.gateCh(); gate != nil {
			select {
			case <-gate:
			case <-st.done:
				return
			}
		}
		f.mu.Lock()
		f.acks = append(f.acks, ack)
		f.mu.Unlock()
		select {
		case st.in <- &offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Ack{Ack: ack}}:
		case <-st.done:
			return
		}
		if ack.GetStatus() == offboxv1.Ack_STATUS_REJECTED {
			st.Close() // the agent would close it anyway
			return
		}
	}
}

// store applies the PROTOCOL.md verdicts.
func (f *fakeIngest) store(raw, sig []byte) *offboxv1.Ack {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := seal.Verify(f.pub, raw, sig); err != nil {
		f.t.Errorf("batch signature: %v", err)
		return &offboxv1.Ack{Status: offboxv1.Ack_STATUS_REJECTED, Reason: "bad_signature"}
	}
	b, err := seal.Open(raw)
	if err != nil {
		f.t.Errorf("batch: %v", err)
		return &offboxv1.Ack{Status: offboxv1.Ack_STATUS_REJECTED, Reason: "malformed"}
	}
	f.received = append(f.received, b)
	f.receivedRaw = append(f.receivedRaw, raw)
	h := b.GetHeader()
	seq, digest := h.GetSeq(), seal.Digest(raw)
	switch {
	case f.reject[seq]:
		delete(f.reject, seq)
		return &offboxv1.Ack{Seq: seq, Status: offboxv1.Ack_STATUS_REJECTED, Reason: "test"}
	case seq <= f.head.seq:
		if i := f.indexOf(seq); i >= 0 && seal.Digest(f.storedRaw[i]) == digest {
			return &offboxv1.Ack{Seq: seq, Status: offboxv1.Ack_STATUS_DUPLICATE}
		}
		return &offboxv1.Ack{Seq: seq, Status: offboxv1.Ack_STATUS_REJECTED, Reason: "fork"}
	}
	if seq != f.head.seq+1 || !bytes.Equal(h.GetPrevHash(), f.head.hash) {
		f.breaks++
	}
	f.stored = append(f.stored, b)
	f.storedRaw = append(f.storedRaw, raw)
	f.head = link{seq: seq, hash: digest[:]}
	for _, r := range b.GetRecords() {
		if fr := r.GetFile(); fr != nil {
			f.setCheckpoint(r.GetSource(), fr)
		}
	}
	return &offboxv1.Ack{Seq: seq, Status: offboxv1.Ack_STATUS_STORED}
}

func (f *fakeIngest) setCheckpoint(source string, fr *offboxv1.FileRange) {
	for _, c := range f.checkpoints {
		if c.Source == source {
			c.File, c.Offset = fr.GetFile(), fr.GetEnd()
			return
		}
	}
	f.checkpoints = append(f.checkpoints, &offboxv1.FileCheckpoint{Source: source, File: fr.GetFile(), Offset: fr.GetEnd()})
}

func (f *fakeIngest) indexOf(seq uint64) int {
	for i, b := range f.stored {
		if b.GetHeader().GetSeq() == seq {
			return i
		}
	}
	return -1
}

// receivedFileLines reports whether a batch holding a file line arrived.
func (f *fakeIngest) receivedFileLines() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.received {
		for _, r := range b.GetRecords() {
			if r.GetFile() != nil {
				return true
			}
		}
	}
	return false
}

func (f *fakeIngest) gateCh() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gate
}

// kill ends the current stream as a crashed collector would.
func (f *fakeIngest) kill() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.current != nil {
		f.current.Close()
	}
}

func (f *fakeIngest) snapshot() (stored, received []*offboxv1.Batch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*offboxv1.Batch(nil), f.stored...), append([]*offboxv1.Batch(nil), f.received...)
}

// storedBodies lists the bodies of stored records of the given kind.
func (f *fakeIngest) storedBodies(kind collectors.Kind) []string {
	stored, _ := f.snapshot()
	var out []string
	for _, b := range stored {
		for _, r := range b.GetRecords() {
			if r.GetKind() == offboxv1.Kind(kind) {
				out = append(out, string(r.GetBody()))
			}
		}
	}
	return out
}

func (f *fakeIngest) breakCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.breaks
}

// testIdentity is an Ed25519 identity made without a certificate.
func testIdentity(t testing.TB) (Identity, crypto.PublicKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := seal.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return Identity{DeviceID: "sw1", KeyID: kid, Signer: key}, pub
}

// harness is an agent wired to a fakeIngest. Use it inside synctest.Test.
type harness struct {
	t      *testing.T
	agent  *Agent
	ingest *fakeIngest
	cancel context.CancelFunc
	done   chan struct{}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newHarness builds (not runs) an agent; tweak adjusts the config.
func newHarness(t *testing.T, tweak func(*Config)) *harness {
	t.Helper()
	id, pub := testIdentity(t)
	ing := newFakeIngest(t, pub)
	cfg := Config{
		Dialer:    ing,
		Identity:  func() (Identity, error) { return id, nil },
		HostRoot:  t.TempDir(),
		Heartbeat: time.Hour,
		// Most tests count batches: seal at once when idle, as the
		// idle-delay case of TestBatchTriggers sets otherwise.
		BatchIdleDelay: -1,
		Logger:         quietLogger(),
		Rand:           func(n int64) int64 { return n - 1 }, // the full backoff, so tests can count on it
	}
	if tweak != nil {
		tweak(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, agent: a, ingest: ing}
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		if err := h.agent.Run(ctx); err != nil {
			h.t.Errorf("Run: %v", err)
		}
	}()
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

// emit queues a log line now.
func (h *harness) emit(body string) {
	h.t.Helper()
	if err := h.agent.q.Emit(context.Background(), logRecord(body)); err != nil {
		h.t.Fatal(err)
	}
}

func logRecord(body string) collectors.Record {
	return collectors.Record{Time: time.Now(), Kind: collectors.KindLog, Source: "file:/var/log/test", Body: []byte(body)}
}

// logBodies returns the bodies of the KindLog records of batches.
func logBodies(bs []*offboxv1.Batch) []string {
	var out []string
	for _, b := range bs {
		for _, r := range b.GetRecords() {
			if r.GetKind() == offboxv1.Kind_KIND_LOG {
				out = append(out, string(r.GetBody()))
			}
		}
	}
	return out
}

var errRefused = errors.New("connection refused")
