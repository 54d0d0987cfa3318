package metrics

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Limited is a listener that keeps at most max connections open: one
// past it is reset as soon as it is accepted, and counted (Refused), so a
// flood of scrapers costs a counter, not memory or a log line each.
type Limited struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Uint64
}

// LimitListener wraps l to keep at most n connections open (n ≥ 1).
func LimitListener(l net.Listener, n int) *Limited {
	return &Limited{Listener: l, max: int64(max(n, 1))}
}

// Accept returns the next connection within the limit.
func (l *Limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		l.refused.Add(1)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset: no TIME_WAIT kept for a refused peer
		}
		c.Close()
	}
}

// Refused is the number of connections closed for the limit.
func (l *Limited) Refused() uint64 { return l.refused.Load() }

// Open is the number of connections open now.
func (l *Limited) Open() int64 { return l.open.Load() }

type limitedConn struct {
	net.Conn
	l    *Limited
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// Listener registers the metrics listener's own refusals: connections
// closed for the limit, and (nil when there is no address check)
// connections reset for an address outside the allowed ranges.
func (m *Metrics) Listener(l *Limited, outside func() uint64) {
	desc := prometheus.NewDesc(Namespace+"_metrics_connections_refused_total",
		"Connections to the metrics listener closed at once: over metrics.max_connections (limit), or from an address outside api.allow_cidrs (address).",
		[]string{"reason"}, nil)
	m.reg.MustRegister(collectorFunc{desc: desc, collect: func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(l.Refused()), "limit")
		if outside != nil {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(outside()), "address")
		}
	}})
}

// collectorFunc is a collector of one Desc.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
