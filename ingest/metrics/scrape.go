package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/offbox/offbox/ingest/store"
)

var (
	deliveryPendingDesc = prometheus.NewDesc(Namespace+"_delivery_queue_depth",
		"Alert deliveries waiting in the store's outbox, by sink.", []string{"sink"}, nil)
	deliverySentDesc = prometheus.NewDesc(Namespace+"_deliveries_succeeded_total",
		"Alert deliveries a sink accepted, since start.", []string{"sink"}, nil)
	deliveryFailedDesc = prometheus.NewDesc(Namespace+"_deliveries_failed_total",
		"Alert delivery attempts that failed (retried later, or given up), since start.", []string{"sink"}, nil)
	scrapeErrorDesc = prometheus.NewDesc(Namespace+"_scrape_errors_total",
		"Figures a scrape could not read (the store did not answer in time), by figure.", []string{"figure"}, nil)
	storeSizeDesc = prometheus.NewDesc(Namespace+"_store_size_bytes",
		"Size of the store: the SQLite database with its WAL, or the PostgreSQL database.", nil, nil)
	lagDesc = prometheus.NewDesc(Namespace+"_detection_lag_seconds",
		"How long the oldest batch this collector stored and detection has not read yet has waited (0: detection has read everything). Only while this collector runs detection (leader 1).", nil, nil)
)

// deliveryCollector reads alert delivery at scrape time.
type deliveryCollector struct {
	sinks   []string
	stats   func() map[string]SinkStats
	pending func(context.Context) (map[string]int, error)
	errs    atomic.Uint64
}

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- deliveryPendingDesc
	ch <- deliverySentDesc
	ch <- deliveryFailedDesc
}

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	stats := map[string]SinkStats{}
	if c.stats != nil {
		stats = c.stats()
	}
	var pending map[string]int
	if c.pending != nil {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		p, err := c.pending(ctx)
		cancel()
		if err != nil {
			c.errs.Add(1)
		} else {
			pending = p
		}
	}
	// Every configured sink, and nothing else: a sink removed from the
	// configuration may still have rows in the outbox, but is no label.
	for _, s := range c.sinks {
		if pending != nil {
			ch <- prometheus.MustNewConstMetric(deliveryPendingDesc, prometheus.GaugeValue, float64(pending[s]), s)
		}
		st := stats[s]
		ch <- prometheus.MustNewConstMetric(deliverySentDesc, prometheus.CounterValue, float64(st.Sent), s)
		ch <- prometheus.MustNewConstMetric(deliveryFailedDesc, prometheus.CounterValue, float64(st.Failed), s)
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.CounterValue, float64(c.errs.Load()), "delivery_queue_depth")
}

// sizeCollector reads the store's size at scrape time.
type sizeCollector struct {
	size func(context.Context) (int64, error)
	errs atomic.Uint64
}

func (c *sizeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- storeSizeDesc }

func (c *sizeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	n, err := c.size(ctx)
	cancel()
	if err != nil {
		c.errs.Add(1)
	} else {
		ch <- prometheus.MustNewConstMetric(storeSizeDesc, prometheus.GaugeValue, float64(n))
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.CounterValue, float64(c.errs.Load()), "store_size_bytes")
}

// lagSlots is how many recent batches the lag tracker remembers; a power
// of two.
const lagSlots = 4096

// lagTracker remembers the receive time of the batches this collector
// committed lately, by store row, in a ring written with atomic stores
// only: the ingest path never waits for a scrape. A scrape looks up the
// first row past detection's cursor.
type lagTracker struct {
	slots [lagSlots]struct{ row, recv atomic.Int64 }
	last  atomic.Int64 // highest row recorded
}

func (l *lagTracker) stored(row int64, received time.Time) {
	if row <= 0 {
		return
	}
	s := &l.slots[row&(lagSlots-1)]
	s.recv.Store(received.UnixNano())
	s.row.Store(row)
	for {
		cur := l.last.Load()
		if row <= cur || l.last.CompareAndSwap(cur, row) {
			return
		}
	}
}

// lag is how long the oldest batch after row detected has waited at now;
// 0 when there is none this collector knows of.
func (l *lagTracker) lag(detected int64, now time.Time) time.Duration {
	last := l.last.Load()
	if detected >= last {
		return 0
	}
	for r := detected + 1; r <= last && r <= detected+lagSlots; r++ {
		s := &l.slots[r&(lagSlots-1)]
		if s.row.Load() == r {
			return max(0, now.Sub(time.Unix(0, s.recv.Load())))
		}
	}
	// Further back than the ring reaches: at least as old as the oldest
	// batch in it past the cursor.
	oldest := int64(0)
	for i := range l.slots {
		s := &l.slots[i]
		if s.row.Load() > detected {
			if t := s.recv.Load(); oldest == 0 || t < oldest {
				oldest = t
			}
		}
	}
	if oldest == 0 {
		return 0
	}
	return max(0, now.Sub(time.Unix(0, oldest)))
}

// lagCollector is the detection lag, while this collector detects.
type lagCollector struct {
	l       *lagTracker
	cursor  func() int64 // the last batch row detection has read
	leading func() bool
	now     func() time.Time
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagDesc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	if c.leading != nil && !c.leading() {
		return
	}
	ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, c.l.lag(c.cursor(), c.now()).Seconds())
}

// Detection registers the detection lag: cursor is the last batch row
// detection has read (alerts.Runner's BatchRow), leading whether
// detection runs here (nil: always).
func (m *Metrics) Detection(cursor func() int64, leading func() bool) {
	m.reg.MustRegister(&lagCollector{l: m.lag, cursor: cursor, leading: leading, now: m.cfg.Now})
}

// Committed is the ingest server's one call per committed batch (its
// server.Observer): the batch with its Row set, and its commit's time.
// Atomic adds and stores only.
func (m *Metrics) Committed(b *store.Batch, commit time.Duration) {
	m.lag.stored(b.Row, b.Received)
	m.BatchStored(len(b.Decoded.GetRecords()), len(b.Bytes), commit)
}
