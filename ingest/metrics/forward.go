package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ForwardStats is one forward sink's state (forward.Stats), read at
// scrape time.
type ForwardStats struct {
	Sink            string
	Records, Alerts int64     // sent and acknowledged since start
	Sends, Failures int64     // since start
	BacklogRecords  int64     // stored and not yet sent, as last measured
	Oldest          time.Time // received time of the oldest batch not sent; zero: none
	Measured        time.Time // when the backlog was measured; zero: not yet
}

var (
	forwardRecordsDesc = prometheus.NewDesc(Namespace+"_forward_records_total",
		"Records a forward sink sent and its destination took, since start.", []string{"sink"}, nil)
	forwardAlertsDesc = prometheus.NewDesc(Namespace+"_forward_alerts_total",
		"Alerts a forward sink sent and its destination took, since start.", []string{"sink"}, nil)
	forwardSendsDesc = prometheus.NewDesc(Namespace+"_forward_sends_total",
		"Sends to a forward sink's destination, by result, since start.", []string{"sink", "result"}, nil)
	forwardBacklogDesc = prometheus.NewDesc(Namespace+"_forward_backlog_records",
		"Stored records a forward sink has not sent yet (its lag in records), as last measured.", []string{"sink"}, nil)
	forwardLagDesc = prometheus.NewDesc(Namespace+"_forward_lag_seconds",
		"Age of the oldest stored batch a forward sink has not sent yet (0 when it is caught up).", []string{"sink"}, nil)
)

// Forward registers the forward sinks' figures; stats is read at scrape
// time.
func (m *Metrics) Forward(stats func() []ForwardStats) {
	m.reg.MustRegister(&forwardCollector{stats: stats, now: m.cfg.Now})
}

type forwardCollector struct {
	stats func() []ForwardStats
	now   func() time.Time
}

func (c *forwardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- forwardRecordsDesc
	ch <- forwardAlertsDesc
	ch <- forwardSendsDesc
	ch <- forwardBacklogDesc
	ch <- forwardLagDesc
}

func (c *forwardCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(forwardRecordsDesc, prometheus.CounterValue, float64(s.Records), s.Sink)
		ch <- prometheus.MustNewConstMetric(forwardAlertsDesc, prometheus.CounterValue, float64(s.Alerts), s.Sink)
		ch <- prometheus.MustNewConstMetric(forwardSendsDesc, prometheus.CounterValue, float64(s.Sends), s.Sink, "ok")
		ch <- prometheus.MustNewConstMetric(forwardSendsDesc, prometheus.CounterValue, float64(s.Failures), s.Sink, "failed")
		if s.Measured.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(forwardBacklogDesc, prometheus.GaugeValue, float64(s.BacklogRecords), s.Sink)
		lag := 0.0
		if !s.Oldest.IsZero() {
			lag = max(0, now.Sub(s.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(forwardLagDesc, prometheus.GaugeValue, lag, s.Sink)
	}
}
