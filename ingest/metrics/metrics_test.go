package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/ingest/metrics/metricstest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/netlimit"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
)

var t0 = time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)

// full is a registry with every part registered, over fixed figures.
func full(t *testing.T, cfg Config) *Metrics {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return t0 }
	}
	m := New(cfg)
	m.Server(func() int { return 3 })
	m.Delivery([]string{"slack", "pager"},
		func() map[string]SinkStats { return map[string]SinkStats{"slack": {Sent: 5, Failed: 2}} },
		func(context.Context) (map[string]int, error) { return map[string]int{"slack": 4, "gone": 9}, nil })
	m.StoreSize(func(context.Context) (int64, error) { return 12345, nil })
	m.Detection(func() int64 { return 0 }, nil)
	m.Leader(func() bool { return true })
	m.APIRefused(func() uint64 { return 7 })
	m.Forward(func() []ForwardStats {
		return []ForwardStats{
			{Sink: "siem", Records: 900, Alerts: 3, Sends: 4, Failures: 1, BacklogRecords: 250, Oldest: t0.Add(-90 * time.Second), Measured: t0},
			{Sink: "es"}, // not measured yet: no backlog figures
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	m.Listener(netlimit.New(l, 1), func() uint64 { return 1 })
	m.Connections("ingest", func() ConnStats {
		return ConnStats{Open: 5, Refused: map[string]uint64{"limit": 2, "per_address": 3, "handshake_timeout": 4}}
	})
	m.AlertOpened("reboot", "warning")
	m.Heartbeat("r1", heartbeat(map[string]string{"queue_bytes": "100", "dropped_records": "2", "dropped_bytes": "300", "clock_offset_ns": "-1500000000"}))
	(&enrollCounter{EnrollmentServer: fakeEnroll{}, m: m}).Enroll(context.Background(), &offboxv1.EnrollRequest{})
	m.API(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/x", nil))
	return m
}

func heartbeat(attrs map[string]string) *offboxv1.Record {
	r := &offboxv1.Record{Kind: offboxv1.Kind_KIND_HEARTBEAT}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		r.Attrs = append(r.Attrs, &offboxv1.Attr{Key: k, Value: attrs[k]})
	}
	return r
}

type fakeEnroll struct {
	offboxv1grpc.UnimplementedEnrollmentServer
	err error
}

func (f fakeEnroll) Enroll(context.Context, *offboxv1.EnrollRequest) (*offboxv1.EnrollResponse, error) {
	return &offboxv1.EnrollResponse{}, f.err
}

// TestRegistryNames: every metric the issue asks for is there, with its
// type, labels and help text, and the registry passes promlint (the
// Prometheus naming conventions: _total counters, base units).
func TestRegistryNames(t *testing.T) {
	t.Parallel()
	m := full(t, Config{})
	want := map[string]struct {
		typ    string
		labels []string
	}{
		"offbox_ingest_batches_stored_total":                    {"COUNTER", nil},
		"offbox_ingest_records_stored_total":                    {"COUNTER", nil},
		"offbox_ingest_stored_bytes_total":                      {"COUNTER", nil},
		"offbox_ingest_batches_refused_total":                   {"COUNTER", []string{"reason"}},
		"offbox_ingest_integrity_findings_total":                {"COUNTER", []string{"kind"}},
		"offbox_ingest_connected_devices":                       {"GAUGE", nil},
		"offbox_ingest_detection_lag_seconds":                   {"GAUGE", nil},
		"offbox_ingest_alerts_opened_total":                     {"COUNTER", []string{"kind", "severity"}},
		"offbox_ingest_delivery_queue_depth":                    {"GAUGE", []string{"sink"}},
		"offbox_ingest_deliveries_succeeded_total":              {"COUNTER", []string{"sink"}},
		"offbox_ingest_deliveries_failed_total":                 {"COUNTER", []string{"sink"}},
		"offbox_ingest_store_size_bytes":                        {"GAUGE", nil},
		"offbox_ingest_commit_duration_seconds":                 {"HISTOGRAM", nil},
		"offbox_ingest_enrollment_requests_total":               {"COUNTER", []string{"call", "result"}},
		"offbox_ingest_api_requests_total":                      {"COUNTER", []string{"code", "via"}},
		"offbox_ingest_api_connections_refused_total":           {"COUNTER", nil},
		"offbox_ingest_device_queue_bytes":                      {"GAUGE", []string{"device"}},
		"offbox_ingest_device_dropped_records":                  {"GAUGE", []string{"device"}},
		"offbox_ingest_device_dropped_bytes":                    {"GAUGE", []string{"device"}},
		"offbox_ingest_device_clock_offset_seconds":             {"GAUGE", []string{"device"}},
		"offbox_ingest_device_last_heartbeat_timestamp_seconds": {"GAUGE", []string{"device"}},
		"offbox_ingest_heartbeat_devices":                       {"GAUGE", nil},
		"offbox_ingest_heartbeat_devices_left_out_total":        {"COUNTER", nil},
		"offbox_ingest_leader":                                  {"GAUGE", nil},
		"offbox_ingest_forward_records_total":                   {"COUNTER", []string{"sink"}},
		"offbox_ingest_forward_alerts_total":                    {"COUNTER", []string{"sink"}},
		"offbox_ingest_forward_sends_total":                     {"COUNTER", []string{"result", "sink"}},
		"offbox_ingest_forward_backlog_records":                 {"GAUGE", []string{"sink"}},
		"offbox_ingest_forward_lag_seconds":                     {"GAUGE", []string{"sink"}},
		"offbox_ingest_metrics_connections_refused_total":       {"COUNTER", []string{"reason"}},
		"offbox_ingest_scrape_errors_total":                     {"COUNTER", []string{"figure"}},
		"offbox_ingest_connections_open":                        {"GAUGE", []string{"listener"}},
		"offbox_ingest_connections_refused_total":               {"COUNTER", []string{"listener", "reason"}},
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		seen[name] = true
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: not in the test's list (add it, and to the README)", name)
			continue
		}
		if got := f.GetType().String(); got != w.typ {
			t.Errorf("%s: type %s, want %s", name, got, w.typ)
		}
		if len(f.GetHelp()) < 20 {
			t.Errorf("%s: help %q: say what it counts", name, f.GetHelp())
		}
		for _, mt := range f.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName())
			}
			if !slices.Equal(labels, w.labels) {
				t.Errorf("%s: labels %v, want %v", name, labels, w.labels)
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s: not exported", name)
		}
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, Namespace) {
			t.Errorf("promlint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestScrapeValues: the figures read at scrape time are the parts' own.
func TestScrapeValues(t *testing.T) {
	t.Parallel()
	m := full(t, Config{})
	reg := m.Registry()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"offbox_ingest_connected_devices", nil, 3},
		{"offbox_ingest_store_size_bytes", nil, 12345},
		{"offbox_ingest_leader", nil, 1},
		{"offbox_ingest_delivery_queue_depth", map[string]string{"sink": "slack"}, 4},
		{"offbox_ingest_delivery_queue_depth", map[string]string{"sink": "pager"}, 0},
		{"offbox_ingest_delivery_queue_depth", map[string]string{"sink": "gone"}, -1}, // not configured: no label
		{"offbox_ingest_deliveries_succeeded_total", map[string]string{"sink": "slack"}, 5},
		{"offbox_ingest_deliveries_failed_total", map[string]string{"sink": "slack"}, 2},
		{"offbox_ingest_alerts_opened_total", map[string]string{"kind": "reboot", "severity": "warning"}, 1},
		{"offbox_ingest_api_requests_total", map[string]string{"via": "api", "code": "404"}, 1},
		{"offbox_ingest_api_connections_refused_total", nil, 7},
		{"offbox_ingest_enrollment_requests_total", map[string]string{"call": "enroll", "result": "ok"}, 1},
		{"offbox_ingest_device_queue_bytes", map[string]string{"device": "r1"}, 100},
		{"offbox_ingest_device_dropped_records", map[string]string{"device": "r1"}, 2},
		{"offbox_ingest_device_dropped_bytes", map[string]string{"device": "r1"}, 300},
		{"offbox_ingest_device_clock_offset_seconds", map[string]string{"device": "r1"}, -1.5},
		{"offbox_ingest_device_last_heartbeat_timestamp_seconds", map[string]string{"device": "r1"}, float64(t0.Unix())},
		{"offbox_ingest_metrics_connections_refused_total", map[string]string{"reason": "address"}, 1},
		{"offbox_ingest_forward_records_total", map[string]string{"sink": "siem"}, 900},
		{"offbox_ingest_forward_alerts_total", map[string]string{"sink": "siem"}, 3},
		{"offbox_ingest_forward_sends_total", map[string]string{"sink": "siem", "result": "ok"}, 4},
		{"offbox_ingest_forward_sends_total", map[string]string{"sink": "siem", "result": "failed"}, 1},
		{"offbox_ingest_forward_backlog_records", map[string]string{"sink": "siem"}, 250},
		{"offbox_ingest_forward_lag_seconds", map[string]string{"sink": "siem"}, 90},
		{"offbox_ingest_forward_backlog_records", map[string]string{"sink": "es"}, -1}, // not measured: absent
		{"offbox_ingest_forward_records_total", map[string]string{"sink": "es"}, 0},
	} {
		if got := metricstest.Value(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestScrapeStoreError: a store that does not answer leaves its figure
// out of the scrape and counts the miss; the rest is served.
func TestScrapeStoreError(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	fail := func(context.Context) (int64, error) { return 0, errors.New("down") }
	m.StoreSize(fail)
	m.Delivery([]string{"s"}, nil, func(context.Context) (map[string]int, error) { return nil, errors.New("down") })
	for range 2 {
		if _, err := m.Registry().Gather(); err != nil {
			t.Fatalf("a store error fails the scrape: %v", err)
		}
	}
	reg := m.Registry()
	if got := metricstest.Value(t, reg, "offbox_ingest_store_size_bytes", nil); got != -1 {
		t.Errorf("store_size_bytes = %v, want absent", got)
	}
	if got := metricstest.Value(t, reg, "offbox_ingest_delivery_queue_depth", nil); got != -1 {
		t.Errorf("delivery_queue_depth = %v, want absent", got)
	}
	// Each scrape that misses counts once more.
	for _, f := range []string{"store_size_bytes", "delivery_queue_depth"} {
		before := metricstest.Value(t, reg, "offbox_ingest_scrape_errors_total", map[string]string{"figure": f})
		if after := metricstest.Value(t, reg, "offbox_ingest_scrape_errors_total", map[string]string{"figure": f}); before < 2 || after != before+1 {
			t.Errorf("scrape_errors_total{figure=%s}: %v then %v, want at least 2, then one more", f, before, after)
		}
	}
	if got := metricstest.Value(t, reg, "offbox_ingest_deliveries_succeeded_total", map[string]string{"sink": "s"}); got != 0 {
		t.Errorf("deliveries_succeeded_total = %v, want 0 (served without the store)", got)
	}
}

// TestDeviceCap: past MaxDevices, a device's heartbeats make no series;
// each such device is counted once, however often it beats; the devices
// first heard keep theirs.
func TestDeviceCap(t *testing.T) {
	t.Parallel()
	m := New(Config{MaxDevices: 3})
	for round := range 4 {
		for i := range 5 {
			m.Heartbeat(fmt.Sprintf("d%d", i), heartbeat(map[string]string{"queue_bytes": fmt.Sprint(round*10 + i)}))
		}
	}
	m.Heartbeat("d0", &offboxv1.Record{Kind: offboxv1.Kind_KIND_LOG}) // not a heartbeat: ignored
	reg := m.Registry()
	if got := metricstest.Value(t, reg, "offbox_ingest_heartbeat_devices", nil); got != 3 {
		t.Errorf("heartbeat_devices = %v, want 3", got)
	}
	if got := metricstest.Value(t, reg, "offbox_ingest_heartbeat_devices_left_out_total", nil); got != 2 {
		t.Errorf("heartbeat_devices_left_out_total = %v, want 2 (d3, d4, once each)", got)
	}
	if n := testutil.CollectAndCount(m.hb, "offbox_ingest_device_queue_bytes"); n != 3 {
		t.Errorf("%d device_queue_bytes series, want 3", n)
	}
	for i, want := range []float64{30, 31, 32, -1, -1} {
		if got := metricstest.Value(t, reg, "offbox_ingest_device_queue_bytes", map[string]string{"device": fmt.Sprintf("d%d", i)}); got != want {
			t.Errorf("device_queue_bytes{device=d%d} = %v, want %v (the latest heartbeat's)", i, got, want)
		}
	}
}

// TestHeartbeatValues: the latest heartbeat's figures replace the last
// ones; one without a clock reading has no offset; a figure that does not
// parse keeps the one before.
func TestHeartbeatValues(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	reg := m.Registry()
	m.Heartbeat("r", heartbeat(map[string]string{"queue_bytes": "10", "clock_offset_ns": "2000000"}))
	if got := metricstest.Value(t, reg, "offbox_ingest_device_clock_offset_seconds", nil); got != 0.002 {
		t.Errorf("clock offset %v, want 0.002", got)
	}
	m.Heartbeat("r", heartbeat(map[string]string{"queue_bytes": "x<script>", "dropped_records": "4"}))
	if got := metricstest.Value(t, reg, "offbox_ingest_device_clock_offset_seconds", nil); got != -1 {
		t.Errorf("clock offset %v after a heartbeat without one, want absent", got)
	}
	if got := metricstest.Value(t, reg, "offbox_ingest_device_queue_bytes", nil); got != 10 {
		t.Errorf("queue bytes %v, want 10 kept from the heartbeat before", got)
	}
	if got := metricstest.Value(t, reg, "offbox_ingest_device_dropped_records", nil); got != 4 {
		t.Errorf("dropped records %v, want 4", got)
	}
}

// TestHotPathAllocs: what the ingest path calls per batch allocates
// nothing.
func TestHotPathAllocs(t *testing.T) {
	m := New(Config{})
	b := &store.Batch{Row: 1, Received: t0, Bytes: make([]byte, 100), Decoded: &offboxv1.Batch{Records: make([]*offboxv1.Record, 3)}}
	if n := testing.AllocsPerRun(1000, func() {
		b.Row++
		m.Committed(b, time.Millisecond)
		m.BatchRefused(store.EventBadSignature)
		m.BatchRefused("something new")
		m.Finding(store.EventGap)
	}); n != 0 {
		t.Errorf("%v allocations per batch, want 0", n)
	}
}

// TestDetectionLag: the lag is the wait of the oldest batch stored past
// detection's cursor; 0 once detection has read everything; beyond the
// ring, at least the oldest wait it holds; absent when another collector
// detects.
func TestDetectionLag(t *testing.T) {
	t.Parallel()
	var l lagTracker
	for row := int64(1); row <= 10; row++ {
		l.stored(row, t0.Add(time.Duration(row)*time.Second))
	}
	now := t0.Add(20 * time.Second)
	for _, c := range []struct {
		detected int64
		want     time.Duration
	}{{0, 19 * time.Second}, {5, 14 * time.Second}, {9, 10 * time.Second}, {10, 0}, {11, 0}} {
		if got := l.lag(c.detected, now); got != c.want {
			t.Errorf("detected row %d: lag %s, want %s", c.detected, got, c.want)
		}
	}
	var big lagTracker
	for row := int64(1); row <= 3*lagSlots; row++ {
		big.stored(row, t0.Add(time.Duration(row)*time.Millisecond))
	}
	// Row 1 is long overwritten; the oldest left is row 2*lagSlots+1.
	if got, want := big.lag(0, t0.Add(time.Hour)), time.Hour-time.Duration(2*lagSlots+1)*time.Millisecond; got != want {
		t.Errorf("backlog beyond the ring: lag %s, want %s", got, want)
	}

	m := New(Config{Now: func() time.Time { return now }})
	leading := false
	m.Detection(func() int64 { return 5 }, func() bool { return leading })
	for row := int64(1); row <= 10; row++ {
		m.Committed(&store.Batch{Row: row, Received: t0.Add(time.Duration(row) * time.Second), Decoded: &offboxv1.Batch{}}, 0)
	}
	if got := metricstest.Value(t, m.Registry(), "offbox_ingest_detection_lag_seconds", nil); got != -1 {
		t.Errorf("lag while another collector detects: %v, want absent", got)
	}
	leading = true
	if got := metricstest.Value(t, m.Registry(), "offbox_ingest_detection_lag_seconds", nil); got != 14 {
		t.Errorf("lag = %v, want 14", got)
	}
}

// TestEnrollResults: an enrollment call is counted by its gRPC code.
func TestEnrollResults(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	for _, err := range []error{nil, status.Error(codes.Unauthenticated, "bad token"), status.Error(codes.ResourceExhausted, "rate"),
		status.Error(codes.Unauthenticated, "used"), errors.New("not a status")} {
		m.Enrollment(fakeEnroll{err: err}).Enroll(context.Background(), &offboxv1.EnrollRequest{})
	}
	for result, want := range map[string]float64{"ok": 1, "unauthenticated": 2, "resource_exhausted": 1, "unknown": 1} {
		if got := metricstest.Value(t, m.Registry(), "offbox_ingest_enrollment_requests_total", map[string]string{"call": "enroll", "result": result}); got != want {
			t.Errorf("enroll result=%s: %v, want %v", result, got, want)
		}
	}
}

// TestAPICodes: requests are counted by way in and the status written,
// 200 when the handler wrote none.
func TestAPICodes(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	h := m.API(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/denied":
			http.Error(w, "no", http.StatusUnauthorized)
		case "/api/v1/silent":
		default:
			w.Write([]byte("page"))
		}
	}))
	for _, p := range []string{"/api/v1/denied", "/api/v1/denied", "/api/v1/silent", "/", "/device/x"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	for _, c := range []struct {
		via, code string
		want      float64
	}{{"api", "401", 2}, {"api", "200", 1}, {"dashboard", "200", 2}} {
		if got := metricstest.Value(t, m.Registry(), "offbox_ingest_api_requests_total", map[string]string{"via": c.via, "code": c.code}); got != c.want {
			t.Errorf("api_requests_total{via=%s,code=%s} = %v, want %v", c.via, c.code, got, c.want)
		}
	}
}

// TestConnections: each listener's open connections and refusals by
// reason, as registered, with the listener's name as a label; a listener
// that refuses nothing (metrics here: its refusals have their own
// counter) has its gauge only.
func TestConnections(t *testing.T) {
	t.Parallel()
	m := full(t, Config{})
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"offbox_ingest_connections_open", map[string]string{"listener": "ingest"}, 5},
		{"offbox_ingest_connections_open", map[string]string{"listener": "metrics"}, 0},
		{"offbox_ingest_connections_refused_total", map[string]string{"listener": "ingest", "reason": "limit"}, 2},
		{"offbox_ingest_connections_refused_total", map[string]string{"listener": "ingest", "reason": "per_address"}, 3},
		{"offbox_ingest_connections_refused_total", map[string]string{"listener": "ingest", "reason": "handshake_timeout"}, 4},
	} {
		if got := metricstest.Value(t, m.Registry(), c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "offbox_ingest_connections_refused_total" && len(f.GetMetric()) != 3 {
			t.Errorf("connections_refused_total: %d series, want the ingest listener's 3", len(f.GetMetric()))
		}
	}
}

// BenchmarkCommitted is what the ingest path pays the metrics per stored
// batch.
func BenchmarkCommitted(b *testing.B) {
	m := New(Config{})
	batch := &store.Batch{Received: t0, Bytes: make([]byte, 1<<20), Decoded: &offboxv1.Batch{Records: make([]*offboxv1.Record, 6000)}}
	b.ReportAllocs()
	for b.Loop() {
		batch.Row++
		m.Committed(batch, 3*time.Millisecond)
	}
}

// TestAPIFlush: a streaming handler behind the counter can still flush.
func TestAPIFlush(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	rec := httptest.NewRecorder()
	m.API(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Fatal("the counter hides http.Flusher")
		}
		w.Write([]byte("part"))
		f.Flush()
	})).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/stream", nil))
	if !rec.Flushed {
		t.Error("not flushed")
	}
}
