package server

import (
	"bytes"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/metrics"
	"github.com/offbox/offbox/ingest/metrics/metricstest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TestObserverCounts: the server tells its Observer (the collector's
// metrics) each batch stored with its records and bytes and a commit
// time, each batch refused by its reason, and each finding by kind.
func TestObserverCounts(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Config{})
	h := startServer(t, func(c *Config) { c.Observer = m }, "a")
	c := h.dial(t, h.pki, "a")
	c.mustHello()
	f := batchtest.NewFile("file:/x", 1, 1)
	b1 := c.dev.Next(f.Lines(5, 20)...)
	c.send(b1)
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
	s := c.dev.Seal(2, c.dev.Prev, batchtest.Heartbeat(2))
	bad := bytes.Clone(s.Sig)
	bad[0] ^= 1
	c.sendRaw(s.Bytes, bad)
	c.wantAck(2, offboxv1.Ack_STATUS_REJECTED)
	c.send(b1) // a replay
	c.wantAck(1, offboxv1.Ack_STATUS_DUPLICATE)
	c.dev.Next(batchtest.Heartbeat(2)) // seq 2 lost on the way
	b3 := c.dev.Next(batchtest.Heartbeat(3), batchtest.Heartbeat(3))
	c.send(b3)
	c.wantAck(3, offboxv1.Ack_STATUS_STORED) // stored, with a gap

	reg := m.Registry()
	for name, want := range map[string]float64{
		"offbox_ingest_batches_stored_total": 2,
		"offbox_ingest_records_stored_total": 7,
		"offbox_ingest_stored_bytes_total":   float64(len(b1.Bytes) + len(b3.Bytes)),
	} {
		if got := metricstest.Value(t, reg, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := metricstest.Value(t, reg, "offbox_ingest_commit_duration_seconds", nil); got != 2 {
		t.Errorf("commit_duration_seconds count = %v, want 2", got)
	}
	for reason, want := range map[string]float64{store.EventBadSignature: 1, store.EventReplay: 1, store.EventFork: 0, "other": 0} {
		if got := metricstest.Value(t, reg, "offbox_ingest_batches_refused_total", map[string]string{"reason": reason}); got != want {
			t.Errorf("batches_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	for kind, want := range map[string]float64{store.EventBadSignature: 1, store.EventReplay: 1, store.EventGap: 1, store.EventFork: 0} {
		if got := metricstest.Value(t, reg, "offbox_ingest_integrity_findings_total", map[string]string{"kind": kind}); got != want {
			t.Errorf("integrity_findings_total{kind=%q} = %v, want %v", kind, got, want)
		}
	}
}

// BenchmarkStreamMetrics is BenchmarkStream (sync=normal) with the
// collector's metrics counting: its allocs/op and ns/op against
// BenchmarkStream/sync=normal are what the metrics cost the ingest path.
func BenchmarkStreamMetrics(b *testing.B) {
	benchStream(b, "normal", func(c *Config) { c.Observer = metrics.New(metrics.Config{}) })
}
