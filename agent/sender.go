package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

var (
	errRejected   = errors.New("collector rejected a batch")
	errDrained    = errors.New("everything acknowledged")
	errAckTimeout = errors.New("no acknowledgement in time")
	errRotated    = errors.New("key rotated: reconnecting with the new certificate")
)

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

	chain       // the batches sealed and not yet acknowledged (chain.go)
	keyRotation // a move to a new key under way (keyrotation.go)
	throttling  // the collector's Throttle messages (throttle.go)

	// relayed: an appliance's chain (relay.go), whose stream shares the
	// relay's connection: a batch is never sealed with another key than
	// the session's (a renewed certificate), the session ends instead and
	// the next one is on a connection with the new certificate.
	relayed    bool
	sessionKey []byte

	draining  bool
	drain     chan struct{}  // closed by the agent at shutdown
	rotations chan *rotation // from the renewer

	sentRecords atomic.Uint64
	sentBatches atomic.Uint64
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
	s.sessionKey = id.KeyID
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
		if s.relayed && s.keyChanged() {
			return 0, errRotated
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
