package syslog

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/offbox/offbox/collectors"
)

// A TCP connection's memory is bounded and lent by the agent's budget
// (collectors.Reserver): a small read buffer for as long as it is open, and
// for a message longer than that buffer, a buffer of up to the maximum
// message size while the message is put together. When the budget lends no
// more, the message is cut there (pieces flagged partial) instead of
// waiting, so peers that never finish a line hold no more than their read
// buffers.
const (
	readBufBytes = 4 << 10 // per connection
	// connBaseBytes is what an open connection holds of the budget: its read
	// buffer, and about what its goroutine's stack and the runtime's and
	// net package's bookkeeping take.
	connBaseBytes = readBufBytes + 12<<10
)

// readStream splits one TCP connection into messages, RFC 6587: a message
// that starts with a digit is octet-counted ("LEN SP MSG"), any other is
// newline-framed. It is detected per message, since relays mix them. A
// message longer than the maximum becomes several records, all but the last
// flagged partial. TCP senders wait while the queue is full. A connection
// that sends nothing for the idle timeout ends with a timeout error.
func (c *Collector) readStream(ctx context.Context, name string, conn net.Conn, out collectors.Emitter) error {
	peer := conn.RemoteAddr().String()
	m := &msgBuf{res: c.res, cuts: &c.cut}
	defer m.free()
	r := bufio.NewReaderSize(idleReader{conn: conn, idle: c.idle}, readBufBytes)
	return splitStream(r, c.maxMsg, m, func(msg []byte, partial bool) error {
		pm := Parse(msg)
		attrs := pm.Attrs(make([]collectors.Attr, 0, 10))
		attrs = append(attrs, collectors.Attr{Key: "peer", Value: peer})
		at := c.now()
		var flags uint32
		if partial {
			flags = collectors.FlagPartial
		}
		em := out
		if c.routeFn != nil {
			var ok bool
			if em, ok = c.route(conn.RemoteAddr()); !ok {
				return errNotAppliance // counted; the connection is closed
			}
			at, attrs = relayedTime(&pm, at, attrs)
		}
		return em.Emit(ctx, collectors.Record{Time: at, Kind: collectors.KindLog, Source: name, Body: msg, Attrs: attrs, Flags: flags})
	})
}

// errNotAppliance ends a relay's connection whose sender is no (longer a)
// configured appliance.
var errNotAppliance = errors.New("sender is no configured appliance")

// idleReader reads conn, failing with a timeout when nothing comes for idle.
// The deadline is set per read, so time spent waiting for the queue (TCP
// backpressure) never counts as idle.
type idleReader struct {
	conn net.Conn
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		r.conn.SetReadDeadline(time.Now().Add(r.idle))
	}
	return r.conn.Read(p)
}

// msgBuf holds the start of a message longer than the read buffer while the
// rest of it comes. Its memory is borrowed from the budget (res nil:
// unbounded) and given back between messages.
type msgBuf struct {
	b    []byte
	lent int64               // bytes borrowed: cap(b)
	res  collectors.Reserver // nil: no budget
	cuts *atomic.Uint64      // counts messages cut for lack of memory; nil: not counted
}

// hold makes room in b for n bytes (at most the maximum message size),
// borrowing from the budget; false if the budget lends none.
func (m *msgBuf) hold(n, maxMsg int) bool {
	if n <= cap(m.b) {
		return true
	}
	for _, want := range []int{min(max(n, 2*cap(m.b)), maxMsg), n} {
		if want < n {
			continue
		}
		if m.res == nil || m.res.Reserve(int64(want)-m.lent) {
			m.lent = int64(want)
			nb := make([]byte, len(m.b), want)
			copy(nb, m.b)
			m.b = nb
			return true
		}
	}
	return false
}

// cut counts a message cut short because the budget lent no memory.
func (m *msgBuf) cut() {
	if m.cuts != nil {
		m.cuts.Add(1)
	}
}

// free gives b and its memory back.
func (m *msgBuf) free() {
	if m.res != nil && m.lent > 0 {
		m.res.Unreserve(m.lent)
	}
	m.b, m.lent = nil, 0
}

// splitStream calls emit for each message of r (see readStream) until r
// ends. msg is valid only during the call. m holds what must be kept of a
// message across reads; it is freed after each message longer than r's
// buffer.
func splitStream(r *bufio.Reader, maxMsg int, m *msgBuf, emit func(msg []byte, partial bool) error) error {
	for {
		first, err := r.Peek(1)
		if err != nil {
			return eofIsEnd(err)
		}
		if first[0] >= '1' && first[0] <= '9' {
			if n, ok := octetCount(r); ok {
				err := readCounted(r, n, maxMsg, m, emit)
				m.free()
				if err != nil {
					return eofIsEnd(err)
				}
				continue
			}
		}
		more, err := readLine(r, maxMsg, m, emit)
		if cap(m.b) > 0 {
			m.free()
		}
		if !more {
			return err
		}
	}
}

// readLine reads one newline-framed message. more is false when the stream
// ended (err nil at EOF).
func readLine(r *bufio.Reader, maxMsg int, m *msgBuf, emit func([]byte, bool) error) (more bool, err error) {
	m.b = m.b[:0]
	for {
		frag, rerr := r.ReadSlice('\n')
		end := rerr == nil
		if end {
			frag = frag[:len(frag)-1]
		}
		// Hand on pieces of maxMsg while more than that is at hand.
		for len(m.b)+len(frag) > maxMsg {
			k := maxMsg - len(m.b)
			switch {
			case len(m.b) == 0:
				if err := emit(frag[:k], true); err != nil {
					return false, err
				}
			case m.hold(maxMsg, maxMsg):
				m.b = append(m.b, frag[:k]...)
				if err := emit(m.b, true); err != nil {
					return false, err
				}
				m.b = m.b[:0]
			default: // no memory to complete the piece: hand on what is held
				m.cut()
				if err := emit(m.b, true); err != nil {
					return false, err
				}
				m.b = m.b[:0]
				continue
			}
			frag = frag[k:]
		}
		if rerr == bufio.ErrBufferFull {
			// frag is r's buffer, which the next read overwrites: keep it.
			if !m.hold(len(m.b)+len(frag), maxMsg) {
				m.cut()
				if len(m.b) > 0 {
					if err := emit(m.b, true); err != nil {
						return false, err
					}
					m.b = m.b[:0]
				}
				if !m.hold(len(frag), maxMsg) {
					if err := emit(frag, true); err != nil {
						return false, err
					}
					continue
				}
			}
			m.b = append(m.b, frag...)
			continue
		}
		// The message ends here: at its newline, or where the stream ended.
		if err := emitLast(m, frag, maxMsg, emit); err != nil {
			return false, err
		}
		if !end {
			return false, eofIsEnd(rerr)
		}
		return true, nil
	}
}

// emitLast hands on the held start of a message and its last fragment (at
// most maxMsg together) as one record, or as two if the budget lends no
// memory to join them. An empty message is skipped.
func emitLast(m *msgBuf, frag []byte, maxMsg int, emit func([]byte, bool) error) error {
	switch {
	case len(m.b) == 0:
		if len(frag) == 0 {
			return nil
		}
		return emit(frag, false)
	case m.hold(len(m.b)+len(frag), maxMsg):
		m.b = append(m.b, frag...)
		return emit(m.b, false)
	default:
		m.cut()
		if err := emit(m.b, true); err != nil {
			return err
		}
		return emit(frag, false)
	}
}

// octetCount consumes "LEN SP" if the stream starts with one: 1 to 9
// digits, no leading zero, then a space.
func octetCount(r *bufio.Reader) (int, bool) {
	n := 0
	for i := 0; i < 10; i++ {
		b, err := r.Peek(i + 1)
		if err != nil {
			return 0, false
		}
		c := b[i]
		switch {
		case c >= '0' && c <= '9' && i < 9:
			n = n*10 + int(c-'0')
		case c == ' ' && i > 0:
			r.Discard(i + 1)
			return n, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// readCounted reads an n-byte message in pieces of at most maxMsg. A piece
// that fits r's buffer is handed on from there; a longer one is read into
// m, or, if the budget lends no memory for it, cut at r's buffer size.
func readCounted(r *bufio.Reader, n, maxMsg int, m *msgBuf, emit func([]byte, bool) error) error {
	for n > 0 {
		k := min(n, maxMsg)
		if k > r.Size() && !m.hold(k, maxMsg) {
			m.cut()
			k = min(k, max(r.Size(), cap(m.b)))
		}
		var b []byte
		if k <= r.Size() {
			var err error
			if b, err = r.Peek(k); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		} else {
			b = m.b[:k]
			if _, err := io.ReadFull(r, b); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		n -= k
		if err := emit(b, n > 0); err != nil {
			return err
		}
		if k <= r.Size() {
			r.Discard(k)
		}
	}
	return nil
}

func eofIsEnd(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
