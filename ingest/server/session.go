package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/version"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
)

// received is one Recv result, and what its batch is charged against
// the server's budget (budget.go).
type received struct {
	msg    *offboxv1.AgentMessage
	err    error
	charge int64
}

// receiver runs Recv in its own goroutine so that a session can stop
// waiting for the agent when the collector shuts down. It charges each
// batch to the server's budget before handing it on, and reads nothing
// more until it is charged.
type receiver struct {
	c      chan received
	ctx    context.Context
	stop   context.CancelFunc // the handler has returned; the stream is being torn down
	budget *budget
}

func startReceiver(st offboxv1grpc.Ingest_StreamServer, b *budget) *receiver {
	ctx, stop := context.WithCancel(st.Context())
	r := &receiver{c: make(chan received), ctx: ctx, stop: stop, budget: b}
	go func() {
		for {
			m, err := st.Recv()
			var n int64
			if sb := m.GetBatch(); err == nil && sb != nil {
				n = b.charge(len(sb.GetBatch()) + len(sb.GetSignature()))
				if !b.acquire(ctx, n) {
					return
				}
			}
			select {
			case r.c <- received{m, err, n}:
			case <-ctx.Done():
				b.release(n)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return r
}

// session is one agent stream, from Hello to the last Ack.
type session struct {
	srv    *Server
	st     offboxv1grpc.Ingest_StreamServer
	in     *receiver
	id     *identity
	remote string
	log    *slog.Logger
	cancel context.CancelCauseFunc // ends the stream (a revocation)

	sendMu sync.Mutex // the read loop (Throttle) and the commit loop (Ack) both send

	limit        *limiter      // nil: no rate limit
	lastThrottle time.Time     // when the last Throttle went out
	throttles    int           // Throttle messages sent
	held         time.Duration // total time batches waited for the rate limit

	head store.Head // the chain head as this stream has judged it, ahead of the commits in flight

	received, bytes int64 // batches and batch bytes read (read loop only)
	stored          int64 // batches committed (commit loop only)
}

// item is one batch's outcome, queued for the commit loop in arrival order.
type item struct {
	seq    uint64
	status offboxv1.Ack_Status
	reason string
	commit *store.Batch          // set: store it (with its events), then ack
	event  *store.IntegrityEvent // set: not stored; record the event, then ack
	fatal  error                 // set: record the event and end the stream without an ack
	done   chan struct{}         // closed when the commit loop is through with it
	charge int64                 // held against the server's budget until done
}

func (ss *session) run(ctx context.Context) (err error) {
	// Writes use wctx: a write that has begun is finished even if the
	// agent goes away, so that what happened is on record.
	wctx := context.WithoutCancel(ctx)
	hello, err := ss.awaitHello(ctx)
	if err != nil || hello == nil {
		return err
	}
	if err := ss.admit(wctx, hello); err != nil { // appliance.go
		return err
	}
	release, holder := ss.srv.claim(ss.id, ss.remote, ss.cancel)
	if holder != nil {
		ss.raise(wctx, &store.IntegrityEvent{Kind: store.EventConcurrentSession, Detail: fmt.Sprintf(
			"a second stream from %s refused: a stream from %s is open since %s",
			ss.remote, holder.remote, holder.since.UTC().Format(time.RFC3339))})
		return refuse(codes.AlreadyExists, "device %s already has an open stream", ss.id.device)
	}
	defer release()
	if ss.srv.cfg.Locks != nil {
		unlock, err := ss.lockAcross(wctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	// A revocation read after the check at connect and before the claim.
	if r := ss.srv.revocation(ss.id); r != nil {
		return ss.srv.refuseRevoked(wctx, ss.id, ss.remote, r)
	}
	if ss.srv.cfg.Limits != nil {
		ss.limit = newLimiter(ss.srv.cfg.Limits(ss.id.device))
	}

	start := ss.srv.cfg.Now()
	if err := ss.srv.cfg.Store.PutKey(wctx, store.Key{Device: ss.id.device, KeyID: ss.id.keyID, CertDER: ss.id.certDER, FirstSeen: start}); err != nil {
		return fromStore(err)
	}
	sid, err := ss.srv.cfg.Store.StartSession(wctx, store.Session{Device: ss.id.device, SessionID: hello.GetSessionId(),
		BootID: hello.GetBootId(), AgentVersion: hello.GetAgentVersion(), RemoteAddr: ss.remote, Connected: start})
	if err != nil {
		return fromStore(err)
	}
	ss.log.Info("session start", "agent_version", hello.GetAgentVersion(), "boot_id", hello.GetBootId())
	defer func() { ss.end(wctx, sid, start, err) }()

	if err := ss.welcome(ctx); err != nil {
		return err
	}
	return ss.pump(ctx, wctx)
}

// errLockLost ends a stream whose device lock was lost with the store
// connection that held it: another collector may now take the device.
var errLockLost = refuse(codes.Unavailable, "this collector lost the device's stream lock (its store connection broke); reconnect")

// lockAcross takes the device's stream lock shared by the collectors of one
// store. A device already streaming to another collector is refused and
// recorded: two agents with one certificate look exactly like this. The
// stream is cancelled if the lock is lost; unlock releases it.
func (ss *session) lockAcross(wctx context.Context) (unlock func(), err error) {
	release, lost, ok, err := ss.srv.cfg.Locks.LockDevice(wctx, ss.id.device)
	if err != nil {
		ss.log.Error("taking the device's stream lock failed", "err", err)
		return nil, refuse(codes.Unavailable, "the collector cannot take device %s's stream lock now; retry", ss.id.device)
	}
	if !ok {
		ss.raise(wctx, &store.IntegrityEvent{Kind: store.EventConcurrentSession, Detail: fmt.Sprintf(
			"a second stream from %s refused: another collector sharing the store holds an open stream of this device", ss.remote)})
		return nil, refuse(codes.AlreadyExists, "device %s already has an open stream (to another collector)", ss.id.device)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-lost:
			ss.log.Warn("device stream lock lost; ending the stream")
			ss.cancel(errLockLost)
		case <-done:
		}
	}()
	return func() { close(done); release() }, nil
}

func (ss *session) end(wctx context.Context, sid int64, start time.Time, err error) {
	end := ss.srv.cfg.Now()
	if serr := ss.srv.cfg.Store.EndSession(wctx, sid, end, ss.received, ss.bytes); serr != nil {
		ss.log.Error("recording the session end failed", "err", serr)
	}
	attrs := []any{"batches", ss.received, "stored", ss.stored, "bytes", ss.bytes, "duration", end.Sub(start).Round(time.Millisecond)}
	if ss.throttles > 0 {
		attrs = append(attrs, "throttles", ss.throttles, "held", ss.held.Round(time.Millisecond))
	}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	ss.log.Info("session end", attrs...)
}

// awaitHello returns the first message, which must be a Hello; nil, nil
// when the agent closed the stream first.
func (ss *session) awaitHello(ctx context.Context) (*offboxv1.Hello, error) {
	select {
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	case r := <-ss.in.c:
		ss.srv.inflight.release(r.charge) // a Hello is not charged; a batch first is refused
		if errors.Is(r.err, io.EOF) {
			return nil, nil
		}
		if r.err != nil {
			return nil, r.err
		}
		h := r.msg.GetHello()
		if h == nil {
			return nil, refuse(codes.InvalidArgument, "the first message of a stream must be Hello")
		}
		return h, nil
	case <-ss.srv.shutdown:
		return nil, errShuttingDown
	}
}

// checkHello compares who the agent believes it is with its certificate.
func (ss *session) checkHello(wctx context.Context, h *offboxv1.Hello) error {
	if h.GetDeviceId() == ss.id.device && string(h.GetKeyId()) == string(ss.id.keyID) {
		return nil
	}
	ss.raise(wctx, &store.IntegrityEvent{Kind: store.EventIdentityMismatch, Detail: fmt.Sprintf(
		"Hello names device %q key %x; the connection's certificate is device %q key %x",
		h.GetDeviceId(), h.GetKeyId(), ss.id.device, ss.id.keyID)})
	return refuse(codes.PermissionDenied, "Hello names device %q key %x, the certificate device %q key %x",
		h.GetDeviceId(), h.GetKeyId(), ss.id.device, ss.id.keyID)
}

// raise stores and logs an integrity event outside the batch pipeline,
// or counts it once the device is over its budget (refusals.go).
func (ss *session) raise(wctx context.Context, e *store.IntegrityEvent) {
	e.Device = ss.id.device
	ss.srv.cfg.Observer.Finding(e.Kind)
	if e.Time.IsZero() {
		e.Time = ss.srv.cfg.Now()
	}
	if !ss.srv.gate.admit(e, e.Time) {
		return
	}
	if err := ss.srv.cfg.Store.AddIntegrityEvent(wctx, *e); err != nil {
		ss.log.Error("storing an integrity event failed", "kind", e.Kind, "err", err)
	} else {
		ss.srv.stored(nil)
	}
	ss.logEvent(e)
}

func (ss *session) logEvent(e *store.IntegrityEvent) {
	ss.log.Warn("integrity event", "kind", e.Kind, "seq", e.Seq, "detail", e.Detail)
}

// welcome tells the agent where to continue: the stored head and file
// checkpoints. It also sets the head this stream judges batches against.
func (ss *session) welcome(ctx context.Context) error {
	st := ss.srv.cfg.Store
	head, err := st.Head(ctx, ss.id.device)
	if err != nil {
		return fromStore(err)
	}
	cps, err := st.Checkpoints(ctx, ss.id.device)
	if err != nil {
		return fromStore(err)
	}
	ss.head = head
	w := &offboxv1.Welcome{
		Head:             &offboxv1.ChainHead{Seq: head.Seq, Hash: head.Hash},
		CollectorVersion: version.Version,
		ServerTimeNs:     ss.srv.cfg.Now().UnixNano(),
	}
	for _, cp := range cps {
		w.Checkpoints = append(w.Checkpoints, &offboxv1.FileCheckpoint{Source: cp.Source, Offset: cp.Offset,
			File: &offboxv1.FileIdentity{Dev: cp.File.Dev, Inode: cp.File.Inode, FingerprintLen: cp.File.FPLen, Fingerprint: cp.File.FP}})
	}
	return ss.send(&offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Welcome{Welcome: w}})
}

// pump runs the batch pipeline: this goroutine reads and judges batches
// (decoding and verifying the next while the previous commits), the commit
// loop (committer.go) stores and acknowledges them in arrival order.
func (ss *session) pump(ctx, wctx context.Context) error {
	c := newCommitter(ss, wctx, ss.srv.cfg.Window)
	readErr := ss.readLoop(ctx, c)
	if err := c.wait(); err != nil {
		return err // the first failure of the commit loop is the cause
	}
	return readErr
}

// readLoop judges each batch as it arrives and queues the outcome. It
// returns when the agent closes the stream, on a fatal verdict, when the
// collector shuts down, or when the commit loop has failed.
func (ss *session) readLoop(ctx context.Context, c *committer) error {
	failed := c.failed
	var last *item
	for {
		var r received
		select {
		case r = <-ss.in.c:
		case <-ss.srv.shutdown:
			return errShuttingDown
		case <-failed:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if errors.Is(r.err, io.EOF) {
			return nil
		}
		if r.err != nil {
			return r.err
		}
		sb := r.msg.GetBatch()
		if sb == nil {
			return refuse(codes.InvalidArgument, "after Hello only batches may be sent")
		}
		it, err := ss.take(ctx, sb, last, failed)
		if it == nil {
			ss.srv.inflight.release(r.charge)
			return err
		}
		it.charge = r.charge // released by the commit loop
		if !c.queue(it) {
			ss.srv.inflight.release(r.charge)
			return nil
		}
		last = it
		if it.fatal != nil {
			return it.fatal
		}
	}
}

// take holds a batch to the device's rate limit, then judges it; a nil
// item means reading stops, with the error that ends the stream or nil.
func (ss *session) take(ctx context.Context, sb *offboxv1.SealedBatch, last *item, failed <-chan struct{}) (*item, error) {
	if ok, err := ss.hold(ctx, sb, failed); !ok {
		return nil, err
	}
	return ss.judge(ctx, sb, last, failed)
}

// judge applies the verdict table to one batch. A nil item with a nil
// error means the commit loop failed while judge waited for it.
func (ss *session) judge(ctx context.Context, sb *offboxv1.SealedBatch, last *item, failed <-chan struct{}) (*item, error) {
	now := ss.srv.cfg.Now()
	ss.received++
	ss.bytes += int64(len(sb.GetBatch()))
	b, digest, rej := examine(ss.id, sb.GetBatch(), sb.GetSignature())
	if rej != nil {
		seq := seal.PeekHeader(sb.GetBatch()).GetSeq()
		ss.srv.cfg.Observer.BatchRefused(rej.kind)
		it := &item{seq: seq, status: offboxv1.Ack_STATUS_REJECTED, reason: rej.kind + ": " + rej.detail,
			event: ss.event(rej, seq, now), done: make(chan struct{})}
		if rej.kind == store.EventIdentityMismatch {
			it.fatal = refuse(codes.PermissionDenied, "%s", rej.detail)
		}
		return it, nil
	}
	h := b.GetHeader()
	seq := h.GetSeq()
	p := place(ss.head, h)
	if p == behind {
		return ss.judgeBehind(ctx, h, digest, now, last, failed)
	}
	cb := &store.Batch{Device: ss.id.device, Bytes: sb.GetBatch(), Signature: sb.GetSignature(), Digest: digest,
		Decoded: b, Received: now, ExpectHead: ss.head.Seq}
	if rej := chainEvent(p, ss.head, h); rej != nil {
		cb.Events = []store.IntegrityEvent{*ss.event(rej, seq, now)}
	}
	ss.head = store.Head{Seq: seq, Hash: digest[:]}
	return &item{seq: seq, status: offboxv1.Ack_STATUS_STORED, commit: cb, done: make(chan struct{})}, nil
}

// judgeBehind decides replay or fork for a batch at or below the head,
// once every batch queued before it is committed (it may be one of them).
func (ss *session) judgeBehind(ctx context.Context, h *offboxv1.BatchHeader, digest [32]byte, now time.Time, last *item, failed <-chan struct{}) (*item, error) {
	seq := h.GetSeq()
	if last != nil {
		select {
		case <-last.done:
		case <-failed:
			return nil, nil
		}
	}
	stored, found, err := ss.srv.cfg.Store.BatchDigest(ctx, ss.id.device, seq)
	if err != nil {
		return nil, fromStore(err)
	}
	status, rej := behindVerdict(h, ss.head, digest, stored, found)
	ss.srv.cfg.Observer.BatchRefused(rej.kind)
	ev := ss.event(rej, seq, now)
	if rej.kind == store.EventChainRestart {
		ev.BootID = h.GetBootId()
	}
	return &item{seq: seq, status: status, reason: rej.kind + ": " + rej.detail, event: ev,
		done: make(chan struct{})}, nil
}

// hold makes a batch wait as long as the device's rate limit says before
// it is judged, after telling the agent (at most one Throttle a second).
// Nothing is refused: the agent's next batches wait in the stream's flow
// control. It reports false when reading must stop: with the error that
// ends the stream, or nil when the commit loop failed.
func (ss *session) hold(ctx context.Context, sb *offboxv1.SealedBatch, failed <-chan struct{}) (bool, error) {
	if ss.limit == nil {
		return true, nil
	}
	now := ss.srv.cfg.Now()
	d, why := ss.limit.reserve(now, int(seal.PeekHeader(sb.GetBatch()).GetRecordCount()), len(sb.GetBatch()))
	if d <= 0 {
		return true, nil
	}
	if ss.lastThrottle.IsZero() || now.Sub(ss.lastThrottle) >= throttleEvery {
		if ss.throttles == 0 {
			ss.log.Info("device over its rate limit; reading its batches more slowly", "limit", why, "wait", d.Round(time.Millisecond))
		}
		ss.lastThrottle = now
		ss.throttles++
		t := &offboxv1.Throttle{RetryAfterMs: max(1, d.Milliseconds()), Reason: "over the rate limit of " + why}
		if err := ss.send(&offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Throttle{Throttle: t}}); err != nil {
			return false, err
		}
	}
	ss.held += d
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return false, context.Cause(ctx)
	case <-ss.srv.shutdown:
		return false, errShuttingDown
	case <-failed:
		return false, nil
	}
}

// send sends one message; the read loop and the commit loop share the stream.
func (ss *session) send(m *offboxv1.CollectorMessage) error {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	return ss.st.Send(m)
}

func (ss *session) event(r *rejection, seq uint64, at time.Time) *store.IntegrityEvent {
	ss.srv.cfg.Observer.Finding(r.kind)
	return &store.IntegrityEvent{Device: ss.id.device, Time: at, Kind: r.kind, Seq: seq, Detail: r.detail}
}

// settle makes one outcome durable, then acknowledges it.
func (ss *session) settle(wctx context.Context, it *item) error {
	switch {
	case it.commit != nil:
		start := time.Now()
		if err := ss.srv.cfg.Store.CommitBatch(wctx, it.commit); err != nil {
			return fromStore(err)
		}
		ss.srv.cfg.Observer.Committed(it.commit, time.Since(start))
		ss.stored++
		for i := range it.commit.Events {
			ss.logEvent(&it.commit.Events[i])
		}
		ss.srv.stored(it.commit)
	case it.event != nil:
		// Past the device's budget the event is counted, not stored
		// (refusals.go): the ack need not wait for a write.
		if !ss.srv.gate.admit(it.event, it.event.Time) {
			break
		}
		if err := ss.srv.cfg.Store.AddIntegrityEvent(wctx, *it.event); err != nil {
			return fromStore(err)
		}
		ss.logEvent(it.event)
		ss.srv.stored(nil)
	}
	if it.fatal != nil {
		return it.fatal
	}
	ack := &offboxv1.Ack{Seq: it.seq, Status: it.status, Reason: it.reason}
	return ss.send(&offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Ack{Ack: ack}})
}
