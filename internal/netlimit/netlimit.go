// Package netlimit bounds the connections a listener keeps open: one past
// the bound is reset as soon as it is accepted and counted, so a flood of
// connections costs a counter, not file descriptors, goroutines, memory or
// a log line each. The collector's ingest, query API and metrics listeners
// use it. It never logs and never reads from a connection.
package netlimit

import (
	"net"
	"sync"
	"sync/atomic"
)

// Listener is a listener that keeps at most max connections open: one
// past it is reset as soon as it is accepted, and counted (Refused).
type Listener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Uint64
}

// New wraps l to keep at most n connections open (n ≥ 1).
func New(l net.Listener, n int) *Listener {
	return &Listener{Listener: l, max: int64(max(n, 1))}
}

// Accept returns the next connection within the limit.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &conn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.refused.Add(1)
		Reset(c)
	}
}

// Refused is the number of connections closed for the limit.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Open is the number of connections open now.
func (l *Listener) Open() int64 { return l.open.Load() }

// Max is the limit.
func (l *Listener) Max() int { return int(l.max) }

type conn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// NetConn is the connection underneath, as tls.Conn's NetConn.
func (c *conn) NetConn() net.Conn { return c.Conn }

// Reset closes c with a TCP reset: no TIME_WAIT kept for a refused peer.
// It looks through wrappers that tell their NetConn (this package's, TLS).
func Reset(c net.Conn) error {
	for u := c; u != nil; {
		if tc, ok := u.(*net.TCPConn); ok {
			tc.SetLinger(0)
			break
		}
		w, ok := u.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		u = w.NetConn()
	}
	return c.Close()
}
