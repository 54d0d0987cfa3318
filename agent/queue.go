package agent

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/transport/seal"
)

// batch is a run of encoded records on its way to the collector service. Its
// records are encoded once, when they are emitted (by the queue's
// seal.Builder); sealing prepends a header and keeps the record bytes apart
// from it, so the batch can be sealed again under a new header without
// re-encoding anything. Records name their source and file by reference
// into the batch's tables, which follow the records once the batch is
// closed (taken from the queue): the tables belong to the records, so a
// re-seal keeps both.
type batch struct {
	buf       []byte    // headerRoom bytes, then the records: sealing writes the header in place
	recs      []byte    // once closed: the body, encoded records and their tables; normally inside buf
	count     int       // records
	bodyBytes uint64    // of record bodies: a loss is reported in the user's terms
	first     time.Time // when the first record was queued; the max delay runs from here
	marks     []mark    // the last file range of each file source in the batch

	dropRecords uint64 // lost before this batch, reported in its header
	dropBytes   uint64 // of record bodies

	sealed   *seal.Sealed // nil until sealed
	deviceID string       // identity the batch was sealed under
	keyID    []byte
	sentOnce bool // counted in the sent totals
	lost     bool // rejected by the collector
}

// mark is the last file range of one source in a batch: what becomes a file
// checkpoint when the batch is acknowledged.
type mark struct {
	source string
	file   collectors.FileRange
}

// headerRoom is the space kept in front of a batch's records for its
// header, so sealing needs no copy of the records.
const headerRoom = seal.HeaderRoom

// size is what a closed batch holds of the memory budget: its encoded
// records and their tables.
func (b *batch) size() int64 { return int64(len(b.recs)) }

func (b *batch) seq() uint64 { return b.sealed.Seq }

func (b *batch) markFile(source string, r *collectors.FileRange) {
	for i := range b.marks {
		if b.marks[i].source == source {
			b.marks[i].file = *r
			return
		}
	}
	b.marks = append(b.marks, mark{source: source, file: *r})
}

// loss counts records dropped and the bytes of their bodies.
type loss struct{ records, bytes uint64 }

// queueConfig sizes the queue; zero values are not defaults here (Config
// fills them).
type queueConfig struct {
	budget     int64         // bytes of encoded records not yet acknowledged
	maxBytes   int           // of encoded records per batch
	maxRecords int           // per batch
	maxDelay   time.Duration // from a batch's first record to its sealing
	idleDelay  time.Duration // the same when nothing is in flight
	now        func() time.Time
}

// queue is the agent's bounded record queue and batcher; it implements
// collectors.Emitter. Records are encoded into the open batch under the
// mutex as they are emitted, so the hot path copies bytes and allocates
// nothing. The budget covers every encoded record not yet acknowledged: the
// open batch, full batches waiting for the sender, and sealed batches in
// flight (released by the sender on acknowledgement).
type queue struct {
	cfg queueConfig

	mu    sync.Mutex
	wr    seal.WireRecord    // scratch: the record being encoded
	wattr []seal.WireAttr    // scratch backing wr.Attrs
	wfile seal.WireFileRange // scratch backing wr.File
	open  *batch
	bld   seal.Builder  // encodes the open batch: its records and tables
	full  []*batch      // cut at max bytes or records, oldest first, not yet taken by the sender
	spare [][]byte      // batch buffers to reuse
	used  int64         // bytes of encoded records not yet acknowledged, and reserved
	rsvd  int64         // of used: reserved by collectors for memory they hold (Reserve)
	room  chan struct{} // closed when budget is released; nil while nobody waits
	lost  loss          // dropped since the last gap record was queued
	total loss          // dropped since start
	flush bool          // someone asked for the open batch to go out now

	ready chan struct{} // capacity 1: wakes the sender when there is something to send
}

// maxSpare bounds the reusable buffers the queue keeps: at a steady high
// rate, the window in flight and the open batch, so that a full flow
// allocates nothing. idleSpare is what it keeps once everything is
// acknowledged.
const (
	maxSpare  = DefaultWindow + 2
	idleSpare = 1
)

func newQueue(cfg queueConfig) *queue {
	return &queue{cfg: cfg, open: &batch{}, ready: make(chan struct{}, 1)}
}

var _ collectors.Emitter = (*queue)(nil)

// Emit queues r, waiting while the budget is full.
func (q *queue) Emit(ctx context.Context, r collectors.Record) error {
	if err := q.admitLocked(ctx, &r); err != nil {
		return err
	}
	q.mu.Unlock()
	return nil
}

// admitLocked queues r, waiting while the budget is full, and returns with
// q.mu held; on error (ctx ended) it returns without.
func (q *queue) admitLocked(ctx context.Context, r *collectors.Record) error {
	q.mu.Lock()
	return q.admitHeld(ctx, r)
}

// admitHeld is admitLocked called with q.mu held.
func (q *queue) admitHeld(ctx context.Context, r *collectors.Record) error {
	for !q.admit(r) {
		room := q.waitRoom()
		q.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
	return nil
}

// emitAndCut queues r as the last record of its batch, cut at once, and
// returns that batch: whatever was queued before r is in it or in batches
// before it, whatever comes after in batches after it. It waits for budget
// like Emit.
func (q *queue) emitAndCut(ctx context.Context, r collectors.Record) (*batch, error) {
	if err := q.admitLocked(ctx, &r); err != nil {
		return nil, err
	}
	defer q.mu.Unlock()
	if q.open.count == 0 { // the record filled its batch, which was cut already
		return q.full[len(q.full)-1], nil
	}
	b := q.open
	q.cutOpen()
	return b, nil
}

// TryEmit queues r if the budget has room and otherwise drops it, counting
// the drop into the next batch header and a gap record.
func (q *queue) TryEmit(r collectors.Record) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.admit(&r) {
		return true
	}
	l := loss{records: 1, bytes: uint64(len(r.Body))}
	q.lost.records += l.records
	q.lost.bytes += l.bytes
	q.countLossLocked(l)
	return false
}

// waitRoom returns a channel closed when budget is next released.
func (q *queue) waitRoom() <-chan struct{} {
	if q.room == nil {
		q.room = make(chan struct{})
	}
	return q.room
}

// fits reports whether size more bytes stay inside the budget. A record
// larger than the whole budget is admitted when no record is queued, so it
// cannot wait forever (reservations never make it wait for them).
func (q *queue) fits(size int64) bool {
	return q.used == q.rsvd || q.used+size <= q.cfg.budget
}

// admit encodes r into the open batch if it fits. The caller holds q.mu.
func (q *queue) admit(r *collectors.Record) bool {
	if q.lost.records == 0 && len(r.Attrs) == 0 && r.File != nil {
		if added, ok := q.admitLine(r); ok {
			return added
		}
	}
	q.load(r)
	if q.lost.records > 0 {
		if !q.fits(int64(maxRecordSize(r))) {
			return false
		}
		// Room is back: the loss goes into the chain before the record.
		q.appendGap()
		q.load(r)
	}
	return q.appendLoaded(maxRecordSize(r), r.Source, r.File, len(r.Body), false)
}

// maxRecordSize bounds the encoded size of r from above without encoding
// it: the varints and tags of a record take at most fixedRecordMax bytes,
// each attribute at most attrOverheadMax more.
func maxRecordSize(r *collectors.Record) int {
	n := fixedRecordMax + len(r.Source) + len(r.Body)
	for _, a := range r.Attrs {
		n += attrOverheadMax + len(a.Key) + len(a.Value)
	}
	return n
}

const (
	fixedRecordMax  = 192
	attrOverheadMax = 24
)

// load fills the scratch wire record from r without allocating.
func (q *queue) load(r *collectors.Record) {
	q.wr = seal.WireRecord{TimeNs: q.timeNs(r), Kind: uint32(r.Kind), Source: r.Source, Body: r.Body, Flags: r.Flags}
	q.wattr = q.wattr[:0]
	for _, a := range r.Attrs {
		q.wattr = append(q.wattr, seal.WireAttr(a))
	}
	q.wr.Attrs = q.wattr
	if f := r.File; f != nil {
		q.wfile = seal.WireFileRange{Dev: f.ID.Dev, Inode: f.ID.Inode, FPLen: f.ID.FPLen, FP: f.ID.FP[:],
			Start: f.Start, End: f.End}
		q.wr.File = &q.wfile
	}
}

// appendLoaded appends the scratch record to the open batch if the budget
// has room (or force is set), cutting the batch first if the record could
// take it past the max bytes (upper bounds the record's encoded size) and
// after if it is full. The record is encoded once, straight into the batch,
// and its size measured from that.
func (q *queue) appendLoaded(upper int, source string, file *collectors.FileRange, bodyLen int, force bool) bool {
	b := q.open
	// The exact size costs a second pass over the record, so it is worked
	// out only when the bound says the batch might overflow. upper bounds the
	// record spelling out its source and file; with seal.RefsMax more, it
	// bounds the record with refs and the table entries it may add. The
	// tables follow the records in the batch.
	if have := q.bld.Len(); b.count > 0 && have+upper+seal.RefsMax > q.cfg.maxBytes {
		if have+q.bld.Grow(&q.wr) > q.cfg.maxBytes {
			q.cutOpen()
			b = q.open
		}
	}
	if b.buf == nil {
		b.buf = q.buffer()
		q.bld.Reset(b.buf)
	}
	size := int64(q.bld.Add(&q.wr))
	if !force && !q.fits(size) {
		q.bld.Undo()
		return false
	}
	if b.count == 0 {
		b.first = q.cfg.now()
		q.wake() // the delay starts, or the sender is idle and sends at once
	}
	q.added(b, size, source, file, bodyLen)
	return true
}

// added counts a record of size bytes just encoded into the open batch b,
// and cuts b if it is full.
func (q *queue) added(b *batch, size int64, source string, file *collectors.FileRange, bodyLen int) {
	b.count++
	b.bodyBytes += uint64(bodyLen)
	if file != nil {
		b.markFile(source, file)
	}
	q.used += size
	if b.count >= q.cfg.maxRecords || q.bld.Len() >= q.cfg.maxBytes {
		q.cutOpen()
	}
}

// appendGap queues the gap record for what TryEmit dropped since the last
// one. It ignores the budget: it is small, and loss must not go unrecorded.
func (q *queue) appendGap() {
	l := q.lost
	q.lost = loss{}
	recs, bytes := strconv.FormatUint(l.records, 10), strconv.FormatUint(l.bytes, 10)
	body := "queue full: " + recs + " records (" + bytes + " bytes) dropped"
	q.wattr = append(q.wattr[:0],
		seal.WireAttr{Key: "reason", Value: "queue_full"},
		seal.WireAttr{Key: "dropped_records", Value: recs},
		seal.WireAttr{Key: "dropped_bytes", Value: bytes})
	q.wr = seal.WireRecord{TimeNs: q.cfg.now().UnixNano(), Kind: uint32(collectors.KindGap), Source: agentSource,
		Body: []byte(body), Attrs: q.wattr}
	q.appendLoaded(seal.RecordSize(&q.wr), agentSource, nil, len(body), true)
}

// buffer returns a batch buffer: header room, then room for maxBytes of
// records. It is reused when one is spare.
func (q *queue) buffer() []byte {
	if n := len(q.spare); n > 0 {
		b := q.spare[n-1]
		q.spare[n-1] = nil
		q.spare = q.spare[:n-1]
		return b
	}
	return make([]byte, headerRoom+q.cfg.maxBytes)
}

// recycle takes back a batch buffer once nothing refers to its bytes: the
// batch was acknowledged, or sealed by copying.
func (q *queue) recycle(buf []byte) {
	if buf == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.spare) < maxSpare && len(buf) == headerRoom+q.cfg.maxBytes {
		q.spare = append(q.spare, buf)
	}
}

// cutOpen moves the open batch to the full list and opens a new one.
func (q *queue) cutOpen() {
	q.full = append(q.full, q.closeOpen())
	q.wake()
}

// closeOpen closes the open batch, appending its tables to its records
// (inside its buffer: the batch was cut with room for them), and opens a new
// one. The tables' bytes are already counted in the budget.
func (q *queue) closeOpen() *batch {
	b := q.open
	b.recs = q.bld.Close()
	q.open = &batch{}
	return b
}

func (q *queue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Flush asks for the open batch to go out without waiting for the delay.
func (q *queue) Flush() {
	q.mu.Lock()
	q.flush = true
	q.mu.Unlock()
	q.wake()
}

// takeReady removes the next batch to seal: the oldest full one, or the open
// one when it is due: its max delay has passed, or its idle delay (0: at
// once) when nothing is in flight (idle), or the sender drains or was asked
// to flush. Otherwise wait is how long until the open batch is due (0: it
// is empty). Sealing at once when idle keeps latency low at low rates; at
// high rates acks are outstanding, so batches fill up.
func (q *queue) takeReady(idle, draining bool) (b *batch, wait time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.full) > 0 {
		b = q.full[0]
		q.full[0] = nil
		q.full = q.full[1:]
		return b, 0
	}
	if q.open.count == 0 {
		q.flush = false
		return nil, 0
	}
	age := q.cfg.now().Sub(q.open.first)
	due := q.cfg.maxDelay
	if idle {
		due = min(due, q.cfg.idleDelay)
	}
	if draining || q.flush || age >= due {
		q.flush = false
		return q.closeOpen(), 0
	}
	return nil, due - age
}

// putBack returns a batch the sender could not seal to the front of the queue.
func (q *queue) putBack(b *batch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.full = append([]*batch{b}, q.full...)
}

// pending reports whether records wait in the queue (not yet taken).
func (q *queue) pending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.open.count > 0 || len(q.full) > 0
}

// release returns n bytes of acknowledged (or lost) records to the budget
// and wakes whoever waits for room.
func (q *queue) release(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked(n)
}

func (q *queue) releaseLocked(n int64) {
	q.used -= n
	if q.used == q.rsvd && len(q.spare) > idleSpare {
		// Everything is acknowledged: the flow is slow or has stopped, so
		// buffers kept for a burst go back to the runtime (and the device).
		clear(q.spare[idleSpare:])
		q.spare = q.spare[:idleSpare]
	}
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	if q.lost.records > 0 && q.fits(fixedRecordMax+128) {
		q.appendGap()
	}
}

// addLoss counts records lost outside the queue (a rejected batch) into the
// next batch header and the totals.
func (q *queue) addLoss(l loss) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.countLossLocked(l)
}

func (q *queue) countLossLocked(l loss) {
	q.open.dropRecords += l.records
	q.open.dropBytes += l.bytes
	q.total.records += l.records
	q.total.bytes += l.bytes
}

// countTotal adds a loss that is already in a batch header to the totals.
func (q *queue) countTotal(l loss) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.total.records += l.records
	q.total.bytes += l.bytes
}

// usage reports the bytes of records held of the budget (reservations
// apart) and the losses since start.
func (q *queue) usage() (used int64, dropped loss) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.used - q.rsvd, q.total
}
