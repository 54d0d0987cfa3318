package forward

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/offbox/offbox/transport/tlsconf"
	"golang.org/x/sys/unix"
)

// syslogSink writes RFC 5424 messages to one receiver: over TLS (RFC 5425)
// or TCP (RFC 6587) each framed by octet counting ("LEN SP MSG"), over UDP
// (RFC 5426) one a datagram.
//
// What a successful Send guarantees over TCP and TLS: every message was
// written, the receiver's TCP acknowledged every byte sent on the
// connection (TCP_INFO: nothing unacknowledged or unsent), and the
// connection was still open (no FIN, reset or alert from the receiver) when
// Send returned. Syslog has no application acknowledgement, so a receiver
// that dies holding what its TCP acknowledged loses it; to cover that the
// runner resends, after a failure, from before the last successful Send
// (rewind): duplicates are possible, at most 2 × batch_records records per
// failure, never gaps unless the receiver lost more than one send's worth
// that its TCP had acknowledged. Over UDP a Send is only the datagrams
// written: loss is possible and undetected.
type syslogSink struct {
	cfg      SinkConfig
	tls      *tls.Config // nil: plain
	conn     net.Conn
	raw      syscall.RawConn // of the TCP connection under conn; nil for UDP
	buf      []byte
	maxMsg   int
	drainBuf []byte
	network  string
}

func newSyslog(c SinkConfig) (*syslogSink, error) {
	s := &syslogSink{cfg: c, maxMsg: c.maxMessage(), network: "tcp"}
	if c.transport() == TransportUDP {
		s.network = "udp"
	}
	if c.transport() == TransportTLS {
		host, _, _ := net.SplitHostPort(c.Address)
		cfg, err := clientTLS(c, host)
		if err != nil {
			return nil, err
		}
		s.tls = cfg
	}
	return s, nil
}

// clientTLS is the TLS configuration that verifies the destination
// (always: there is no switch to turn it off) against c.CA or the system's
// roots, with c's client certificate when one is given.
func clientTLS(c SinkConfig, host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.ServerName != "" {
		cfg.ServerName = c.ServerName
	}
	if c.CA != "" {
		pool, err := tlsconf.LoadCAPool(c.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		cfg.RootCAs = pool
	}
	if c.Cert != "" {
		pair, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("cert and key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func (s *syslogSink) rewind() bool { return s.network == "tcp" }

func (s *syslogSink) dial(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, s.network, s.cfg.Address)
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		if s.raw, err = tc.SyscallConn(); err != nil {
			c.Close()
			return err
		}
	}
	if s.tls != nil {
		t := tls.Client(c, s.tls)
		if err := t.HandshakeContext(ctx); err != nil {
			c.Close()
			return fmt.Errorf("TLS with %s: %w", s.cfg.Address, err)
		}
		c = t
	}
	s.conn = c
	return nil
}

// Send implements Sink.
func (s *syslogSink) Send(ctx context.Context, items []Item) error {
	if s.raw != nil { // a connection the receiver closed while idle is replaced first
		if _, closed, err := s.probe(); closed || err != nil {
			s.Close()
		}
	}
	if s.conn == nil {
		if err := s.dial(ctx); err != nil {
			return err
		}
	}
	if err := s.send(ctx, items); err != nil {
		s.Close()
		return err
	}
	return nil
}

func (s *syslogSink) send(ctx context.Context, items []Item) error {
	deadline := time.Now().Add(s.cfg.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	c := s.conn // a write blocked on a receiver that does not read ends with ctx
	defer context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Now()) })()
	fac := s.cfg.facility()
	if s.network == "udp" {
		for i := range items {
			s.buf = appendSyslog(s.buf[:0], &items[i], fac, s.maxMsg)
			if _, err := s.conn.Write(s.buf); err != nil {
				return err
			}
		}
		return nil
	}
	b := s.buf[:0]
	var digits [20]byte
	for i := range items {
		// The message goes after room for its length, then the length is
		// put in front of it.
		at := len(b)
		b = append(b, digits[:]...)
		b = appendSyslog(b, &items[i], fac, s.maxMsg)
		n := strconv.AppendInt(digits[:0], int64(len(b)-at-len(digits)), 10)
		n = append(n, ' ')
		copy(b[at+len(digits)-len(n):], n)
		b = append(b[:at], b[at+len(digits)-len(n):]...)
	}
	s.buf = b
	if _, err := s.conn.Write(b); err != nil {
		return err
	}
	return s.confirm(ctx, deadline)
}

// errUnacked: the receiver's TCP did not acknowledge what was written in
// time.
var errUnacked = errors.New("the receiver did not acknowledge what was written")

// confirm waits until the receiver's TCP has acknowledged every byte sent
// and checks the connection is still open.
func (s *syslogSink) confirm(ctx context.Context, deadline time.Time) error {
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		pending, closed, err := s.probe()
		switch {
		case err != nil:
			return err
		case closed:
			return errors.New("the receiver closed the connection")
		case !pending:
			return nil
		case time.Now().After(deadline):
			return errUnacked
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// probe reads TCP_INFO (bytes unacknowledged or not yet sent) and peeks,
// without reading, whether the receiver closed (FIN or reset) or sent
// anything. A receiver of syslog sends no data, but TLS does after its
// handshake (TLS 1.3 session tickets) and when it ends (close_notify, an
// alert): what arrived is read through the connection, with a deadline
// of drainWait, so TLS handles it; only an end of stream or an error
// there is a close.
func (s *syslogSink) probe() (pending, closed bool, err error) {
	var serr error
	waiting := false
	cerr := s.raw.Control(func(fd uintptr) {
		info, e := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if e != nil {
			serr = e
			return
		}
		pending = info.Unacked > 0 || info.Notsent_bytes > 0
		var one [1]byte
		n, _, e := unix.Recvfrom(int(fd), one[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case e == unix.EAGAIN || e == unix.EWOULDBLOCK:
		case e != nil:
			serr = e
		case n == 0:
			closed = true // FIN
		default:
			waiting = true
		}
	})
	if cerr != nil {
		return false, false, cerr
	}
	if serr != nil || closed || !waiting {
		return pending, closed, serr
	}
	return pending, s.drain(), nil
}

const drainWait = 5 * time.Millisecond

// drain reads and drops what the receiver sent until nothing more comes
// within drainWait; it reports whether the stream ended or failed.
func (s *syslogSink) drain() (closed bool) {
	if s.drainBuf == nil {
		s.drainBuf = make([]byte, 4096)
	}
	defer s.conn.SetReadDeadline(time.Time{})
	for {
		s.conn.SetReadDeadline(time.Now().Add(drainWait))
		if _, err := s.conn.Read(s.drainBuf); err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
	}
}

// Close implements Sink.
func (s *syslogSink) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn, s.raw = nil, nil
	return err
}
