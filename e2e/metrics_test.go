package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
	"github.com/offbox/offbox/internal/testpeer"
)

var metricsListeningRE = regexp.MustCompile(`metrics listening on (\S+)`)

// promServer is a running Debian prometheus.
type promServer struct {
	*proc
	base string // http://127.0.0.1:PORT
}

// startPrometheus runs /usr/bin/prometheus with config (a prometheus.yml
// body) on a port and a storage directory of its own, and waits until it
// is ready.
func startPrometheus(t *testing.T, config string) *promServer {
	t.Helper()
	bin := testpeer.LookPath(t, "prometheus", "/usr/bin/prometheus", "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t, "tcp")
	p := &promServer{proc: start(t, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn"), base: "http://" + addr}
	waitFor(t, 30*time.Second, "prometheus to be ready", func() bool {
		if p.exited() {
			t.Fatalf("prometheus exited: %s", p.out.String())
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// query runs an instant query through Prometheus's HTTP API and returns
// the value of each series by its labels (as Prometheus prints them).
func (p *promServer) query(t *testing.T, q string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v: %s", q, err, body)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", q, s.Value[1], err)
		}
		delete(s.Metric, "__name__")
		delete(s.Metric, "instance")
		delete(s.Metric, "job")
		out[fmt.Sprint(s.Metric)] = v
	}
	return out
}

// one is the value of a query expected to give one series; -1 when it
// gives none for 3 s (a scrape that failed on a loaded machine marks the
// series stale until the next one).
func (p *promServer) one(t *testing.T, q string) float64 {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		got := p.query(t, q)
		if len(got) > 1 {
			t.Fatalf("query %s: %d series, want one: %v", q, len(got), got)
		}
		for _, v := range got {
			return v
		}
		if time.Now().After(deadline) {
			return -1
		}
	}
}

// TestMetricsPrometheusIntegration: Debian's prometheus scrapes a running
// collector's metrics.listen, on every address behind api.allow_cidrs,
// the API's TLS and an operator certificate, every 500 ms. A real agent
// ships a known number of lines; what Prometheus then holds, read back
// through its HTTP API, is exactly what the store holds: records (the
// lines among them), batches and signed bytes, commits observed, one
// connected device while the agent runs and none after, the device's
// heartbeat gauges, the log_access alerts the test's own reads and
// Prometheus's scrapes (audited, as the operator scraper) opened, an
// enrollment and a refused one (a used token), and a refused API call. A
// scrape without an operator certificate is refused.
func TestMetricsPrometheusIntegration(t *testing.T) {
	skipShort(t)
	testpeer.LookPath(t, "prometheus", "/usr/bin/prometheus", "prometheus")
	t.Parallel()
	dir := t.TempDir()
	metricsThroughPrometheus(t, dir, filepath.Join(dir, "m.db"))
}

// TestMetricsPrometheusPostgresIntegration is
// TestMetricsPrometheusIntegration with the PostgreSQL store (a fresh
// database on the server OFFBOX_TEST_POSTGRES names).
func TestMetricsPrometheusPostgresIntegration(t *testing.T) {
	skipShort(t)
	testpeer.LookPath(t, "prometheus", "/usr/bin/prometheus", "prometheus")
	t.Parallel()
	metricsThroughPrometheus(t, t.TempDir(), pgtest.URL(t))
}

func metricsThroughPrometheus(t *testing.T, dir, db string) {
	p := newPKI(t, "prom-1")
	ops := pki(filepath.Join(dir, "ops"))
	if _, se, code := run(t, bin.ingest, "dev-certs", "-out", string(ops), "-operator", "scraper"); code != 0 {
		t.Fatalf("dev-certs -operator: exit %d: %s", code, se)
	}
	cfg := filepath.Join(dir, "ingest.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `metrics:
  listen: 0.0.0.0:0
api:
  listen: 127.0.0.1:0
  allow_cidrs: [127.0.0.1/32]
  tls:
    cert: %s
    key: %s
    client_ca: %s
enroll:
  ca_key: %s
`, p.cert("ingest"), p.key("ingest"), ops.cert("operator-ca"), filepath.Join(string(p), "ca-key.pem")), 0o600)
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	var addr, apiAddr string
	waitFor(t, 10*time.Second, "the metrics and api listening lines", func() bool {
		if m := metricsListeningRE.FindStringSubmatch(in.out.String()); m != nil {
			addr = m[1]
		}
		if m := apiListeningRE.FindStringSubmatch(in.out.String()); m != nil {
			apiAddr = m[1]
		}
		return addr != "" && apiAddr != ""
	})
	_, port, _ := net.SplitHostPort(addr)

	// Without an operator certificate or token: 401, nothing served.
	c := apiClient(t, p, nil, "127.0.0.1")
	if code, body, err := apiGet(c, "https://127.0.0.1:"+port+"/metrics", ""); err != nil || code != http.StatusUnauthorized || strings.Contains(body, "offbox_ingest_") {
		t.Errorf("scrape without credentials: %d %.200q %v, want 401 and no metrics", code, body, err)
	}

	prom := startPrometheus(t, fmt.Sprintf(`global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: offbox
    scheme: https
    tls_config:
      ca_file: %s
      cert_file: %s
      key_file: %s
    static_configs:
      - targets: ['127.0.0.1:%s']
`, p.ca(), ops.cert("scraper"), ops.key("scraper"), port))
	waitFor(t, 30*time.Second, "prometheus to scrape the collector", func() bool {
		return prom.one(t, `up{job="offbox"}`) == 1
	})

	// An enrollment, a second one with the same token, and an API call
	// without credentials: each counted by its result.
	tok := tokenCreate(t, db, "-device", "enr-1")
	for i, want := range []int{0, 1} {
		_, se, code := run(t, bin.agent, "enroll", "-server", in.addr, "-ca", p.ca(), "-token", tok, "-dir", filepath.Join(dir, fmt.Sprint("enr", i)))
		if code != want {
			t.Fatalf("enroll %d: exit %d, want %d: %s", i, code, want, se)
		}
	}
	if code, body, err := apiGet(c, "https://"+apiAddr+"/api/v1/devices", ""); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("API without credentials: %d %s %v, want 401", code, body, err)
	}

	const lines = 3000
	logFile := filepath.Join(dir, "app.log")
	appendLines(t, logFile, "prom", 0, lines)
	agent := startAgent(t, p, "prom-1", in.addr, "-tail", logFile, "-start-at", "beginning", "-heartbeat", "1s",
		"-no-boot", "-no-clock", "-no-watch")
	waitFor(t, 60*time.Second, "the lines to be stored", func() bool {
		return count(t, db, "-kind", "log") == lines
	})
	waitFor(t, 20*time.Second, "prometheus to see the device connected and its heartbeat", func() bool {
		return prom.one(t, "offbox_ingest_connected_devices") == 1 &&
			prom.one(t, `offbox_ingest_device_queue_bytes{device="prom-1"}`) >= 0
	})
	agent.stop()

	// The store, as the CLI and the database say, once nothing moves.
	var storeRecords, storeBatches, storeBytes int64
	settled := func() bool {
		so, se, code := run(t, bin.ingest, "verify", "-db", db)
		m := regexp.MustCompile(`device=prom-1 batches=(\d+) records=(\d+) OK`).FindStringSubmatch(so)
		if code != 0 || m == nil {
			t.Fatalf("verify: exit %d: %s %s", code, so, se)
		}
		storeBatches, _ = strconv.ParseInt(m[1], 10, 64)
		storeRecords, _ = strconv.ParseInt(m[2], 10, 64)
		storeBytes = batchBytes(t, db)
		return prom.one(t, "offbox_ingest_records_stored_total") == float64(storeRecords) &&
			prom.one(t, "offbox_ingest_batches_stored_total") == float64(storeBatches) &&
			prom.one(t, "offbox_ingest_connected_devices") == 0
	}
	waitFor(t, 20*time.Second, "prometheus's totals to match the store", settled)
	if storeRecords <= lines {
		t.Errorf("store holds %d records, want the %d lines and the agent's own records", storeRecords, lines)
	}
	if got := prom.one(t, "offbox_ingest_stored_bytes_total"); got != float64(storeBytes) {
		t.Errorf("offbox_ingest_stored_bytes_total = %v, want %d (the batches' bytes in the store)", got, storeBytes)
	}
	if got := prom.one(t, "offbox_ingest_commit_duration_seconds_count"); got != float64(storeBatches) {
		t.Errorf("commit_duration_seconds_count = %v, want %d commits", got, storeBatches)
	}
	if got := prom.one(t, `sum(offbox_ingest_batches_refused_total)`); got != 0 {
		t.Errorf("batches refused: %v, want 0", got)
	}
	if got := prom.one(t, `offbox_ingest_device_dropped_records{device="prom-1"}`); got != 0 {
		t.Errorf("device_dropped_records = %v, want 0 (nothing dropped)", got)
	}
	if got := prom.one(t, "offbox_ingest_heartbeat_devices"); got != 1 {
		t.Errorf("heartbeat_devices = %v, want 1", got)
	}
	if got := prom.one(t, `offbox_ingest_device_last_heartbeat_timestamp_seconds{device="prom-1"}`); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("device_last_heartbeat_timestamp_seconds = %v, want within the last minute", got)
	}
	if got := prom.one(t, "offbox_ingest_store_size_bytes"); got < float64(storeBytes)/2 {
		t.Errorf("store_size_bytes = %v, want at least half the %d batch bytes (they are stored as received)", got, storeBytes)
	}
	if got := prom.one(t, "offbox_ingest_leader"); got != 1 {
		t.Errorf("leader = %v, want 1 (a collector alone)", got)
	}
	// The test's CLI reads were audited; detection opened their
	// log_access alerts. Once detection has caught up, the alerts opened
	// are the alerts stored.
	waitFor(t, 20*time.Second, "alerts opened to match the stored alerts", func() bool {
		so, se, code := run(t, bin.ingest, "alerts", "-db", db, "-json")
		if code != 0 {
			t.Fatalf("alerts: exit %d: %s", code, se)
		}
		stored := strings.Count(so, "\n")
		scrapesAudited := false
		for _, line := range strings.Split(strings.TrimSpace(so), "\n") {
			var a struct {
				Kind   string            `json:"kind"`
				Fields map[string]string `json:"fields"`
			}
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("alerts -json: %v: %s", err, line)
			}
			if a.Kind == "log_access" && a.Fields["via"] == "metrics" && a.Fields["who"] == "cert:scraper" && a.Fields["what"] == "GET /metrics" {
				scrapesAudited = true
			}
		}
		opened := prom.one(t, "sum(offbox_ingest_alerts_opened_total)")
		logAccess := prom.one(t, `sum(offbox_ingest_alerts_opened_total{kind="log_access"})`)
		return stored > 0 && opened == float64(stored) && logAccess >= 1 && scrapesAudited &&
			prom.one(t, "offbox_ingest_detection_lag_seconds") == 0
	})
	if got := prom.one(t, `offbox_ingest_enrollment_requests_total{call="enroll",result="ok"}`); got != 1 {
		t.Errorf(`enrollment_requests_total{result="ok"} = %v, want 1`, got)
	}
	if got := prom.one(t, `sum(offbox_ingest_enrollment_requests_total{call="enroll",result!="ok"})`); got != 1 {
		t.Errorf("enrollments refused: %v, want 1 (the used token)", got)
	}
	if got := prom.one(t, `offbox_ingest_api_requests_total{via="api",code="401"}`); got != 1 {
		t.Errorf(`api_requests_total{via="api",code="401"} = %v, want 1`, got)
	}
	// A connection to the agents' listener that closes before TLS: a
	// failed handshake, counted by reason; nothing left open there, and
	// the API listener's figures are there too.
	if c, err := net.Dial("tcp", in.addr); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	waitFor(t, 20*time.Second, "prometheus to see the refused handshake", func() bool {
		return prom.one(t, `offbox_ingest_connections_refused_total{listener="ingest",reason="handshake"}`) >= 1
	})
	for _, q := range []string{`offbox_ingest_connections_open{listener="ingest"}`,
		`offbox_ingest_connections_refused_total{listener="ingest",reason="limit"}`, `offbox_ingest_connections_refused_total{listener="ingest",reason="per_address"}`,
		`offbox_ingest_connections_refused_total{listener="api",reason="limit"}`} {
		if got := prom.one(t, q); got != 0 {
			t.Errorf("%s = %v, want 0", q, got)
		}
	}
	if got := prom.one(t, `offbox_ingest_connections_open{listener="api"}`); got < 0 || got > 1 {
		t.Errorf(`connections_open{listener="api"} = %v, want 0 or 1 (the test's client may keep its connection)`, got)
	}
	if got := prom.one(t, `offbox_ingest_connections_open{listener="metrics"}`); got < 1 {
		t.Errorf(`connections_open{listener="metrics"} = %v, want Prometheus's own connection`, got)
	}
	if strings.Contains(in.out.String(), "metrics listener stopped") {
		t.Errorf("metrics listener failed: %s", in.out.String())
	}
	in.stop()
}

// batchBytes is the signed bytes of every batch in the store db.
func batchBytes(t *testing.T, db string) int64 {
	t.Helper()
	const q = "SELECT coalesce(sum(length(bytes)), 0) FROM batches"
	var n int64
	if strings.HasPrefix(db, "postgres") {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
