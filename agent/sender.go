package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// link is a position in the chain: a batch's sequence number and digest.
type link struct {
	seq  uint64
	hash []byte
}

func (l link) equal(o link) bool { return l.seq == o.seq && bytes.Equal(l.hash, o.hash) }

var (
	errRejected   = errors.New("collector rejected a batch")
	errDrained    = errors.New("everything acknowledged")
	errAckTimeout = errors.New("no acknowledgement in time")
	errRotated    = errors.New("key rotated: reconnecting with the new certificate")
)

// rotation is a move to a new key that the sender carries out at a batch
// boundary: every batch up to and including last (which announces the new
// key) is sealed by the old key; once all of them are acknowledged, install
// puts the new key and certificate in place and the session ends, so the
// next one connects with the new certificate and seals with the new key.
type rotation struct {
	last    *batch
	install func() error
	done    chan error // receives install's result, or why the rotation was abandoned
}

// sender owns the chain and the sessions: it seals batches taken from the
// queue, keeps a window of them in flight, handles acknowledgements and
// reconnects. One goroutine runs it; only the stats are shared.
type sender struct {
	q        *queue
	dial     Dialer
	identity func() (Identity, error)
	hello    func(Identity) *offboxv1.Hello
	header   seal.Header // the fields every header shares: boot id, session id, version
	window   int
	backoff  backoff
	welcome  time.Duration // to wait for Welcome
	ackWait  time.Duration // to wait for the oldest batch in flight to be acknowledged
	log      *slog.Logger
	now      func() time.Time

	onFirstWelcome func([]collectors.Checkpoint) // starts the file tailers
	onAcked        func([]mark)                  // reports file checkpoints
	onLoss         func(b *batch, reason string) // records a rejected batch
	onSettled      func()                        // an ack left nothing in flight or queued (Config.Settled)

	unacked   []*batch // sealed, not acknowledged, oldest first
	sent      int      // how many of unacked went out in this session
	tail      link     // the last batch sealed: the next one chains to it
	stored    link     // the last batch the collector said it holds
	welcomed  bool     // a Welcome arrived at least once
	resealAll bool     // a batch was rejected: what follows is sealed again from the head
	draining  bool
	drain     chan struct{} // closed by the agent at shutdown

	rotations chan *rotation // from the renewer
	rotating  *rotation      // under way
	rotSealed bool           // its last old-key batch is sealed: seal nothing more until it is installed

	sentRecords atomic.Uint64
	sentBatches atomic.Uint64
	throttles   atomic.Uint64 // Throttle messages received (throttle.go)
	throttleEnd time.Time     // when the current throttle episode is over
}

// run keeps a session open until ctx ends or, once draining, everything is
// acknowledged.
func (s *sender) run(ctx context.Context) {
	for {
		welcomed, err := s.runSession(ctx)
		if errors.Is(err, errDrained) || ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRotated) {
			s.log.Info("key rotated; reconnecting with the new certificate")
			continue
		}
		if welcomed {
			s.backoff.reset()
		}
		d := s.backoff.next()
		s.log.Warn("session with the collector ended; reconnecting", "err", err, "in", d.Round(time.Millisecond),
			"unacked_batches", len(s.unacked))
		if !s.awaitReconnect(ctx, d) {
			return
		}
	}
}

// awaitReconnect waits d before the next session, and reports whether one
// should be started. While draining with nothing to send it returns at once.
func (s *sender) awaitReconnect(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if s.draining && s.idle() {
			return false
		}
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-s.drainCh():
			s.draining = true
		}
	}
}

// drainCh is the drain signal until it has been seen.
func (s *sender) drainCh() <-chan struct{} {
	if s.draining {
		return nil
	}
	return s.drain
}

// idle reports whether nothing is waiting to be sent or acknowledged.
func (s *sender) idle() bool { return len(s.unacked) == 0 && !s.q.pending() }

// runSession opens a stream, says Hello, waits for Welcome, reconciles, then
// pumps batches and acks until the stream breaks.
func (s *sender) runSession(ctx context.Context) (welcomed bool, err error) {
	id, err := s.identity()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := s.dial.Open(ctx)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer st.Close()
	in, errc, stopRecv := receive(ctx, st, s.window+1)
	defer stopRecv()
	if err := st.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: s.hello(id)}}); err != nil {
		return false, fmt.Errorf("send hello: %w", err)
	}
	w, err := s.awaitWelcome(ctx, in, errc)
	if err != nil {
		return false, err
	}
	first := !s.welcomed
	if err := s.reconcile(link{seq: w.GetHead().GetSeq(), hash: w.GetHead().GetHash()}); err != nil {
		return true, err
	}
	s.log.Info("session open", "head_seq", w.GetHead().GetSeq(), "checkpoints", len(w.GetCheckpoints()),
		"resend_batches", len(s.unacked), "collector_version", w.GetCollectorVersion())
	if first && s.onFirstWelcome != nil {
		s.onFirstWelcome(checkpointsOf(w))
	}
	s.sent = 0
	return true, s.pump(ctx, st, in, errc)
}

// receive reads the stream in its own goroutine, so the pump can wait for
// acks, records and timers at once. stop waits for the goroutine to end
// (the caller closes the stream or cancels ctx first).
func receive(ctx context.Context, st Stream, buf int) (in <-chan *offboxv1.CollectorMessage, errc <-chan error, stop func()) {
	msgs := make(chan *offboxv1.CollectorMessage, buf)
	ec := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := st.Recv()
			if err != nil {
				ec <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	var once sync.Once
	return msgs, ec, func() { once.Do(func() { st.Close(); <-done }) }
}

func (s *sender) awaitWelcome(ctx context.Context, in <-chan *offboxv1.CollectorMessage, errc <-chan error) (*offboxv1.Welcome, error) {
	t := time.NewTimer(s.welcome)
	defer t.Stop()
	select {
	case m := <-in:
		if w := m.GetWelcome(); w != nil {
			return w, nil
		}
		return nil, fmt.Errorf("protocol: expected Welcome, got %T", m.GetMsg())
	case err := <-errc:
		return nil, fmt.Errorf("waiting for Welcome: %w", err)
	case <-t.C:
		return nil, fmt.Errorf("no Welcome within %v", s.welcome)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func checkpointsOf(w *offboxv1.Welcome) []collectors.Checkpoint {
	cps := make([]collectors.Checkpoint, 0, len(w.GetCheckpoints()))
	for _, c := range w.GetCheckpoints() {
		f := c.GetFile()
		cp := collectors.Checkpoint{Source: c.GetSource(), Offset: c.GetOffset(),
			ID: collectors.FileID{Dev: f.GetDev(), Inode: f.GetInode(), FPLen: f.GetFingerprintLen()}}
		copy(cp.ID.FP[:], f.GetFingerprint())
		cps = append(cps, cp)
	}
	return cps
}

// reconcile brings the unacknowledged batches in line with the collector's
// head, as docs/PROTOCOL.md says: batches up to a head the agent knows (the
// last one stored, or one in flight) are done and the rest go out
// unchanged; after any other head (the store was replaced, something else
// wrote this device's chain) or a rejected batch, every unacknowledged batch
// is sealed again under new headers continuing from the head.
func (s *sender) reconcile(head link) error {
	if !s.welcomed {
		// Nothing is sealed before the first Welcome: the chain simply
		// continues from the collector's head.
		s.welcomed = true
		s.stored, s.tail = head, head
		if len(s.unacked) == 0 {
			return nil
		}
	}
	if s.knows(head) {
		s.ackThrough(head.seq)
		s.stored = head
		if !s.resealAll && s.sealedByCurrent() {
			return nil
		}
	} else {
		s.log.Warn("collector head is not one this agent sealed; sealing unacknowledged batches again from it",
			"head_seq", head.seq, "last_stored_seq", s.stored.seq, "batches", len(s.unacked))
		s.stored = head
	}
	return s.resealFrom(head)
}

// knows reports whether head is the last batch known stored or one sealed
// and not yet acknowledged.
func (s *sender) knows(head link) bool {
	if head.equal(s.stored) {
		return true
	}
	for _, b := range s.unacked {
		if b.seq() == head.seq && bytes.Equal(b.sealed.Digest[:], head.hash) {
			return true
		}
	}
	return false
}

// ackThrough treats every unacknowledged batch up to seq as stored.
func (s *sender) ackThrough(seq uint64) {
	for len(s.unacked) > 0 && s.unacked[0].seq() <= seq {
		s.stored = s.popStored()
	}
}

// sealedByCurrent reports whether every unacknowledged batch was sealed by
// the current identity; after a certificate change the collector would
// refuse the old key id.
func (s *sender) sealedByCurrent() bool {
	if len(s.unacked) == 0 {
		return true
	}
	id, err := s.identity()
	if err != nil {
		return true // resending unchanged is the best we can do
	}
	for _, b := range s.unacked {
		if b.deviceID != id.DeviceID || !bytes.Equal(b.keyID, id.KeyID) {
			return false
		}
	}
	return true
}

// resealFrom seals every unacknowledged batch again, continuing from head.
// The record bytes stay; only the headers are new.
func (s *sender) resealFrom(head link) error {
	s.tail = head
	s.resealAll = false
	for _, b := range s.unacked {
		if err := s.seal(b); err != nil {
			s.resealAll = true // the chain is half rebuilt: rebuild it all next time
			return err
		}
	}
	return nil
}

// seal signs b as the next batch of the chain.
func (s *sender) seal(b *batch) error {
	id, err := s.identity()
	if err != nil {
		return err
	}
	h := s.header
	h.DeviceID, h.KeyID = id.DeviceID, id.KeyID
	h.Seq, h.PrevHash = s.tail.seq+1, s.tail.hash
	h.RecordCount = uint32(b.count)
	h.DroppedRecords, h.DroppedBytes = b.dropRecords, b.dropBytes
	h.SealedNs = s.now().UnixNano()
	sl, copied, err := seal.SealInPlace(id.Signer, &h, b.buf, b.recs)
	if err != nil {
		return fmt.Errorf("seal batch %d: %w", h.Seq, err)
	}
	if copied { // the sealed copy holds the records now
		s.q.recycle(b.buf)
		b.buf, b.recs = nil, sl.Bytes[len(sl.Bytes)-len(b.recs):]
	}
	b.sealed, b.deviceID, b.keyID = sl, id.DeviceID, id.KeyID
	s.tail = link{seq: sl.Seq, hash: sl.Digest[:]}
	return nil
}

// pump sends batches as the window allows and handles acks until the stream
// breaks, a batch is rejected, or (draining) everything is acknowledged.
func (s *sender) pump(ctx context.Context, st Stream, in <-chan *offboxv1.CollectorMessage, errc <-chan error) error {
	delay := newIdleTimer()
	defer delay.Stop()
	ackTimer := newIdleTimer()
	defer ackTimer.Stop()
	for {
		wait, err := s.fillWindow(st)
		if err != nil {
			return err
		}
		if s.draining && s.idle() {
			st.CloseSend()
			return errDrained
		}
		if s.rotSealed && len(s.unacked) == 0 {
			return s.install()
		}
		delay.set(wait)
		if s.sent == 0 {
			ackTimer.set(0)
		} else if !ackTimer.armed {
			ackTimer.set(s.ackWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.q.ready:
		case <-s.drainCh():
			s.draining = true
		case r := <-s.rotationCh():
			// The announcement may have gone out already: the pump takes
			// batches as soon as they are cut.
			s.rotating, s.rotSealed = r, r.last.sealed != nil
			if r.last.lost {
				s.abandonRotation(errors.New("the batch announcing the new key was rejected"))
			}
		case <-delay.C:
			delay.armed = false
		case <-ackTimer.C:
			return fmt.Errorf("%w: batch %d waited %v", errAckTimeout, s.unacked[0].seq(), s.ackWait)
		case err := <-errc:
			return s.drainAcks(in, err)
		case m := <-in:
			if t := m.GetThrottle(); t != nil {
				ackTimer.set(s.throttled(t)) // the acks come later; not a reason to reconnect
				continue
			}
			if err := s.handleAck(m.GetAck()); err != nil {
				return err
			}
			ackTimer.set(0) // progress: the next batch gets the full wait
		}
	}
}

// rotationCh is where rotation requests come from, nil while one is under way.
func (s *sender) rotationCh() <-chan *rotation {
	if s.rotating != nil {
		return nil
	}
	return s.rotations
}

// install finishes the rotation under way: every old-key batch is
// acknowledged, so the new key and certificate go in place and the session
// ends (errRotated). If installing fails the old key stays in use.
func (s *sender) install() error {
	r := s.rotating
	s.rotating, s.rotSealed = nil, false
	err := r.install()
	r.done <- err
	if err != nil {
		s.log.Error("installing the renewed certificate failed; the old one stays in use", "err", err)
		return nil
	}
	return errRotated
}

// abandonRotation ends the rotation under way without installing: its
// announcement was lost.
func (s *sender) abandonRotation(why error) {
	if r := s.rotating; r != nil {
		s.rotating, s.rotSealed = nil, false
		r.done <- why
	}
}

// drainAcks handles the acks that arrived before the stream ended with
// streamErr: they still count (a REJECTED among them above all).
func (s *sender) drainAcks(in <-chan *offboxv1.CollectorMessage, streamErr error) error {
	for {
		select {
		case m := <-in:
			if m.GetThrottle() != nil {
				continue
			}
			if err := s.handleAck(m.GetAck()); err != nil {
				return err
			}
		default:
			return streamErr
		}
	}
}

// fillWindow sends what may go out: batches to resend first, then full
// batches, then the open batch when it is due. It returns how long until the
// open batch is due when that is what it waits for.
func (s *sender) fillWindow(st Stream) (time.Duration, error) {
	for s.sent < s.window {
		if s.sent < len(s.unacked) { // resend after a reconnect
			if err := s.send(st, s.unacked[s.sent]); err != nil {
				return 0, err
			}
			continue
		}
		if s.rotSealed {
			return 0, nil // nothing more for the old key: wait for the rotation
		}
		b, wait := s.q.takeReady(s.sent == 0, s.draining)
		if b == nil {
			return wait, nil
		}
		if err := s.seal(b); err != nil {
			s.q.putBack(b)
			return 0, err
		}
		if s.rotating != nil && b == s.rotating.last {
			s.rotSealed = true
		}
		s.unacked = append(s.unacked, b)
		if err := s.send(st, b); err != nil {
			return 0, err
		}
	}
	return 0, nil // the window is full: an ack wakes the pump
}

func (s *sender) send(st Stream, b *batch) error {
	msg := &offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{
		Batch: b.sealed.Bytes, Signature: b.sealed.Sig}}}
	if err := st.Send(msg); err != nil {
		return fmt.Errorf("send batch %d: %w", b.seq(), err)
	}
	s.sent++
	if !b.sentOnce {
		b.sentOnce = true
		s.sentBatches.Add(1)
		s.sentRecords.Add(uint64(b.count))
	}
	return nil
}

// handleAck applies the collector's verdict on the oldest batch in flight.
func (s *sender) handleAck(a *offboxv1.Ack) error {
	if a == nil {
		return errors.New("protocol: expected Ack")
	}
	if s.sent == 0 {
		return fmt.Errorf("protocol: ack for batch %d with nothing in flight", a.GetSeq())
	}
	if want := s.unacked[0].seq(); a.GetSeq() != want {
		return fmt.Errorf("protocol: ack for batch %d, expected %d", a.GetSeq(), want)
	}
	switch a.GetStatus() {
	case offboxv1.Ack_STATUS_STORED, offboxv1.Ack_STATUS_DUPLICATE:
		s.stored = s.popStored()
		s.sent--
		if s.onSettled != nil && s.idle() {
			s.onSettled()
		}
		return nil
	case offboxv1.Ack_STATUS_REJECTED:
		s.dropRejected(a.GetReason())
		return fmt.Errorf("%w: batch %d: %s", errRejected, a.GetSeq(), a.GetReason())
	default:
		return fmt.Errorf("protocol: ack for batch %d with status %v", a.GetSeq(), a.GetStatus())
	}
}

// popStored removes the oldest unacknowledged batch as stored: its budget is
// freed and its file checkpoints reported. It returns its chain link.
func (s *sender) popStored() link {
	b := s.pop()
	if s.onAcked != nil && len(b.marks) > 0 {
		s.onAcked(b.marks)
	}
	return link{seq: b.seq(), hash: b.sealed.Digest[:]}
}

// pop removes the oldest unacknowledged batch and frees its budget and
// buffer (its bytes are not referred to once acknowledged or lost; the
// batch keeps its count, marks and digest).
func (s *sender) pop() *batch {
	b := s.unacked[0]
	s.unacked[0] = nil
	s.unacked = s.unacked[1:]
	s.q.release(b.size())
	s.q.recycle(b.buf)
	b.buf, b.recs = nil, nil
	return b
}

// dropRejected gives up the oldest batch: its records are lost, counted
// into the next header and recorded, and what follows is sealed again from
// the head after the reconnect.
func (s *sender) dropRejected(reason string) {
	b := s.pop()
	b.lost = true
	s.sent--
	l := loss{records: uint64(b.count), bytes: b.bodyBytes}
	if len(s.unacked) > 0 {
		next := s.unacked[0] // sealed again before it goes out, with the new counts
		next.dropRecords += l.records
		next.dropBytes += l.bytes
		s.q.countTotal(l)
	} else {
		s.q.addLoss(l)
	}
	s.resealAll = true
	s.log.Error("collector rejected a batch; its records are lost", "seq", b.seq(), "records", b.count, "reason", reason)
	if s.rotating != nil && b == s.rotating.last {
		s.abandonRotation(fmt.Errorf("the batch announcing the new key was rejected: %s", reason))
	}
	if s.onLoss != nil {
		s.onLoss(b, reason)
	}
}

// idleTimer is a timer that starts stopped and remembers whether it runs.
type idleTimer struct {
	*time.Timer
	armed bool
}

func newIdleTimer() *idleTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &idleTimer{Timer: t}
}

// set runs the timer for d, or stops it when d is 0.
func (t *idleTimer) set(d time.Duration) {
	if d <= 0 {
		if t.armed {
			t.Stop()
			t.armed = false
		}
		return
	}
	t.Reset(d)
	t.armed = true
}

func rejectedAttrs(b *batch, reason string) []collectors.Attr {
	return []collectors.Attr{
		{Key: "seq", Value: strconv.FormatUint(b.seq(), 10)},
		{Key: "reason", Value: reason},
		{Key: "dropped_records", Value: strconv.Itoa(b.count)},
		{Key: "dropped_bytes", Value: strconv.FormatUint(b.bodyBytes, 10)},
	}
}
