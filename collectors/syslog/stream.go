package syslog

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"

	"github.com/offbox/offbox/collectors"
)

// readStream splits one TCP connection into messages, RFC 6587: a message
// that starts with a digit is octet-counted ("LEN SP MSG"), any other is
// newline-framed. It is detected per message, since relays mix them. A
// message longer than the maximum becomes several records, all but the last
// flagged partial. TCP senders wait while the queue is full.
func (c *Collector) readStream(ctx context.Context, name string, conn net.Conn, out collectors.Emitter) error {
	peer := conn.RemoteAddr().String()
	return splitStream(bufio.NewReaderSize(conn, 64<<10), c.maxMsg, func(msg []byte, partial bool) error {
		attrs := Parse(msg).Attrs(make([]collectors.Attr, 0, 10))
		attrs = append(attrs, collectors.Attr{Key: "peer", Value: peer})
		var flags uint32
		if partial {
			flags = collectors.FlagPartial
		}
		return out.Emit(ctx, collectors.Record{Time: c.now(), Kind: collectors.KindLog, Source: name, Body: msg, Attrs: attrs, Flags: flags})
	})
}

// splitStream calls emit for each message of r (see readStream) until r
// ends. msg is valid only during the call.
func splitStream(r *bufio.Reader, maxMsg int, emit func(msg []byte, partial bool) error) error {
	var line []byte
	for {
		first, err := r.Peek(1)
		if err != nil {
			return eofIsEnd(err)
		}
		if first[0] >= '1' && first[0] <= '9' {
			if n, ok := octetCount(r); ok {
				if err := readCounted(r, n, maxMsg, &line, emit); err != nil {
					return eofIsEnd(err)
				}
				continue
			}
		}
		line = line[:0]
		for {
			frag, err := r.ReadSlice('\n')
			line = append(line, frag...)
			for len(line) > maxMsg && !(err == nil && len(line) == maxMsg+1) {
				if e := emit(line[:maxMsg], true); e != nil {
					return e
				}
				line = append(line[:0], line[maxMsg:]...)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == nil {
				if len(line) > 1 {
					if e := emit(line[:len(line)-1], false); e != nil {
						return e
					}
				}
				break
			}
			if len(line) > 0 { // the last message, without its newline
				if e := emit(line, false); e != nil {
					return e
				}
			}
			return eofIsEnd(err)
		}
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

// readCounted reads an n-byte message in pieces of at most maxMsg.
func readCounted(r *bufio.Reader, n, maxMsg int, buf *[]byte, emit func([]byte, bool) error) error {
	for n > 0 {
		k := min(n, maxMsg)
		if cap(*buf) < k {
			*buf = make([]byte, k)
		}
		b := (*buf)[:k]
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		n -= k
		if err := emit(b, n > 0); err != nil {
			return err
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
