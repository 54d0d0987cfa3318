// Package metrics is the collector's Prometheus registry: what offbox-ingest
// serves on metrics.listen. Most figures are read from the counters the
// parts already keep, at scrape time (GaugeFunc, CounterFunc, collectors);
// what the ingest path adds itself (batches, records and bytes stored,
// refusals, findings, commit latency) is atomic adds on children made in
// New, so a batch costs no lock and no allocation here.
//
// Each part registers through a small function of its own (Server,
// Delivery, StoreSize, Detection, Leader, AlertOpened, Heartbeat, API,
// Enrollment), and Register takes any other prometheus.Collector, so a
// new part adds its metrics without touching the others. It never reads
// log content, and a label never holds a value a device or a client
// chooses, except a device id, bounded by MaxDevices.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/offbox/offbox/ingest/store"
)

// Namespace prefixes every metric name.
const Namespace = "offbox_ingest"

// DefaultMaxDevices is Config.MaxDevices' default.
const DefaultMaxDevices = 1000

// scrapeTimeout bounds what one scrape may spend reading the store.
const scrapeTimeout = 5 * time.Second

// Config sets up a Metrics. The zero value is the default.
type Config struct {
	MaxDevices int              // devices with per-device heartbeat gauges; 0: DefaultMaxDevices
	Now        func() time.Time // detection lag, heartbeat times; nil: time.Now
}

// Metrics is the registry and the counters the ingest path adds to.
type Metrics struct {
	cfg Config
	reg *prometheus.Registry

	batches, records, bytes prometheus.Counter
	refused                 map[string]prometheus.Counter // by reason, made in New: read without a lock
	refusedOther            prometheus.Counter
	findings                map[string]prometheus.Counter // by kind, likewise
	findingsOther           prometheus.Counter
	commit                  prometheus.Histogram

	alertsOpened *prometheus.CounterVec
	apiRequests  *prometheus.CounterVec
	enrollments  *prometheus.CounterVec

	lag *lagTracker
	hb  *heartbeats
}

// Refusal reasons and finding kinds known in advance: a child each, made
// in New, so that every one is there from the first scrape (a rate over a
// series that appears late misses its first count). Anything else counts
// as "other".
var (
	refusalReasons = []string{store.EventIdentityMismatch, store.EventMalformed, store.EventBadSignature,
		store.EventReplay, store.EventFork, store.EventChainRestart}
	findingKinds = append([]string{store.EventGap, store.EventConcurrentSession, store.EventRevoked}, refusalReasons...)
)

// CommitBuckets are the commit latency histogram's bucket bounds, seconds:
// from a group commit that rides on another's fsync to a stalled disk.
var CommitBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New makes the registry with the collector's metrics, and Go's and the
// process's own.
func New(cfg Config) *Metrics {
	if cfg.MaxDevices <= 0 {
		cfg.MaxDevices = DefaultMaxDevices
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{cfg: cfg, reg: reg, refused: map[string]prometheus.Counter{}, findings: map[string]prometheus.Counter{}}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	m.batches = counter("batches_stored_total", "Batches committed to the store (acknowledged to their agent as stored).")
	m.records = counter("records_stored_total", "Records in the batches committed to the store.")
	m.bytes = counter("stored_bytes_total", "Signed batch bytes committed to the store.")
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "batches_refused_total",
		Help: "Batches received and not stored, by reason: the integrity event kind of the verdict (replay: already stored, acknowledged as a duplicate)."},
		[]string{"reason"})
	findings := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "integrity_findings_total",
		Help: "Integrity events the ingest server found, by kind (signature, identity, chain: gap, fork, replay, restart; revoked, concurrent session), including those counted past a device's budget and stored as one summary."},
		[]string{"kind"})
	reg.MustRegister(refused, findings)
	for _, k := range refusalReasons {
		m.refused[k] = refused.WithLabelValues(k)
	}
	for _, k := range findingKinds {
		m.findings[k] = findings.WithLabelValues(k)
	}
	m.refusedOther, m.findingsOther = refused.WithLabelValues("other"), findings.WithLabelValues("other")
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "commit_duration_seconds",
		Help:    "Time from handing a verified batch to the store to its durable commit (what the agent's acknowledgement waits for).",
		Buckets: CommitBuckets})
	m.alertsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "alerts_opened_total",
		Help: "Alerts opened by detection (not their later updates), by kind and severity."}, []string{"kind", "severity"})
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "api_requests_total",
		Help: "Requests to the operator listener, by way in (api, dashboard) and HTTP status code."}, []string{"via", "code"})
	m.enrollments = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "enrollment_requests_total",
		Help: "Enrollment service calls, by call (enroll, renew) and result (ok, or the refusal's gRPC code)."}, []string{"call", "result"})
	reg.MustRegister(m.commit, m.alertsOpened, m.apiRequests, m.enrollments)
	m.lag = &lagTracker{}
	m.hb = newHeartbeats(cfg.MaxDevices)
	reg.MustRegister(m.hb)
	return m
}

// Registry is the registry, for tests and for parts that add their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Register adds a part's own collector (a forward sink's lag, say).
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Handler serves the registry in the Prometheus exposition formats: at
// most two scrapes at once, each cut at scrapeTimeout.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 2, Timeout: 2 * scrapeTimeout})
}

// BatchStored counts a committed batch: its records, its signed bytes and
// how long its commit took. The ingest server calls it once per batch.
func (m *Metrics) BatchStored(records, bytes int, commit time.Duration) {
	m.batches.Inc()
	m.records.Add(float64(records))
	m.bytes.Add(float64(bytes))
	m.commit.Observe(commit.Seconds())
}

// BatchRefused counts a batch received and not stored, by the kind of its
// integrity event.
func (m *Metrics) BatchRefused(reason string) {
	if c, ok := m.refused[reason]; ok {
		c.Inc()
		return
	}
	m.refusedOther.Inc()
}

// Finding counts an integrity event the server found.
func (m *Metrics) Finding(kind string) {
	if c, ok := m.findings[kind]; ok {
		c.Inc()
		return
	}
	m.findingsOther.Inc()
}

// Server registers the ingest server's figures read at scrape time:
// the devices with an open stream on this collector.
func (m *Metrics) Server(connected func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "connected_devices",
		Help: "Devices with an open stream to this collector."}, func() float64 { return float64(connected()) }))
}

// SinkStats is one alert sink's delivery totals (notify.SinkStats).
type SinkStats struct{ Sent, Failed uint64 }

// Delivery registers alert delivery: per sink, the deliveries waiting in
// the store's outbox (pending, read at scrape time) and the attempts that
// succeeded and failed since start (stats).
func (m *Metrics) Delivery(sinks []string, stats func() map[string]SinkStats, pending func(context.Context) (map[string]int, error)) {
	m.reg.MustRegister(&deliveryCollector{sinks: sinks, stats: stats, pending: pending})
}

// StoreSize registers the store's size on disk, read at scrape time.
func (m *Metrics) StoreSize(size func(context.Context) (int64, error)) {
	m.reg.MustRegister(&sizeCollector{size: size})
}

// Leader registers whether this collector runs detection, delivery and
// retention for the fleet now.
func (m *Metrics) Leader(leading func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "leader",
		Help: "1 while this collector runs detection, alert delivery and retention for the collectors sharing its store."},
		func() float64 {
			if leading() {
				return 1
			}
			return 0
		}))
}

// AlertOpened counts an alert detection has opened and saved.
func (m *Metrics) AlertOpened(kind, severity string) {
	m.alertsOpened.WithLabelValues(kind, severity).Inc()
}

// apiCode is the status label of an API request.
func apiCode(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}
