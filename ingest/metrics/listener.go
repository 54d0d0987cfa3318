package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/offbox/offbox/internal/netlimit"
)

// Listener registers the metrics listener's own refusals: connections
// closed for the limit, and (nil when there is no address check)
// connections reset for an address outside the allowed ranges.
func (m *Metrics) Listener(l *netlimit.Listener, outside func() uint64) {
	desc := prometheus.NewDesc(Namespace+"_metrics_connections_refused_total",
		"Connections to the metrics listener closed at once: over metrics.max_connections (limit), or from an address outside api.allow_cidrs (address).",
		[]string{"reason"}, nil)
	m.reg.MustRegister(collectorFunc{descs: []*prometheus.Desc{desc}, collect: func(ch chan<- prometheus.Metric) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(l.Refused()), "limit")
		if outside != nil {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(outside()), "address")
		}
	}})
	m.Connections("metrics", func() ConnStats { return ConnStats{Open: l.Open()} })
}

// ConnStats is what a listener counts of its connections.
type ConnStats struct {
	Open    int64             // connections open now
	Refused map[string]uint64 // connections closed at once since start, by reason
}

// Connections registers a listener's open connections and its refusals
// by reason: offbox_ingest_connections_open{listener} and
// offbox_ingest_connections_refused_total{listener,reason}, read from
// stats at each scrape. listener names it: ingest, api, metrics.
func (m *Metrics) Connections(listener string, stats func() ConnStats) {
	labels := prometheus.Labels{"listener": listener}
	open := prometheus.NewDesc(Namespace+"_connections_open",
		"Connections open on a listener (ingest: agents, api: the query API and dashboard, metrics).", nil, labels)
	refused := prometheus.NewDesc(Namespace+"_connections_refused_total",
		"Connections a listener closed at once or dropped before they authenticated: over its max_connections (limit), "+
			"over the connections one address may have without a device certificate (per_address), "+
			"TLS handshakes not done within the handshake timeout (handshake_timeout) or that failed (handshake), "+
			"over the verified connections one device may have (per_device).",
		[]string{"reason"}, labels)
	m.reg.MustRegister(collectorFunc{descs: []*prometheus.Desc{open, refused}, collect: func(ch chan<- prometheus.Metric) {
		s := stats()
		ch <- prometheus.MustNewConstMetric(open, prometheus.GaugeValue, float64(s.Open))
		for reason, n := range s.Refused {
			ch <- prometheus.MustNewConstMetric(refused, prometheus.CounterValue, float64(n), reason)
		}
	}})
}

// collectorFunc is a collector of fixed Descs.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
