package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var metricsListeningRE = regexp.MustCompile(`metrics listening on (\S+)`)

// TestServeMetricsLoopback: metrics.listen on loopback serves /metrics in
// plain HTTP without credentials; past metrics.max_connections open
// connections, one more is closed at once and counted.
func TestServeMetricsLoopback(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	cfg := filepath.Join(dir, "ingest.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "listen: 127.0.0.1:0\ndb: %s\ntls: {ca: %s, cert: %s, key: %s}\nmetrics:\n  listen: 127.0.0.1:0\n  max_connections: 2\n",
		filepath.Join(dir, "m.db"), filepath.Join(pki, "ca.pem"), filepath.Join(pki, "ingest.pem"), filepath.Join(pki, "ingest-key.pem")), 0o600)
	p := startServe(t, "-config", cfg)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := metricsListeningRE.FindStringSubmatch(p.logs.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no metrics listening line:\n%s", p.logs.String())
	}
	get := func() (int, string) {
		t.Helper()
		return getMetrics(t, addr)
	}
	code, body := get()
	for _, want := range []string{"\noffbox_ingest_connected_devices 0\n", "\noffbox_ingest_leader 1\n",
		"# HELP offbox_ingest_records_stored_total ", "\noffbox_ingest_store_size_bytes "} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET /metrics: %d, want 200 with %q:\n%.2000s", code, want, body)
		}
	}

	// Two idle connections take the two places (a dial may be refused
	// while the scrape's connection is still closing: held, one times out
	// reading, refused, it is reset); a third is then closed at once.
	held := 0
	for try := 0; held < 2; try++ {
		if try == 50 {
			t.Fatalf("only %d idle connections held after 50 tries", held)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err = c.Read(make([]byte, 1))
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			held++
			defer c.Close()
			continue
		}
		c.Close()
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\n\r\n")
		if n, err := c.Read(make([]byte, 100)); err == nil {
			t.Errorf("a third connection was answered (%d bytes), want it closed", n)
		}
		c.Close()
	}
	if p.cmd.ProcessState != nil {
		t.Fatal("serve exited")
	}
}

// TestServeRefusesPublicMetrics: metrics beyond loopback without the
// API's TLS and address ranges stop serve before it listens, at the
// key's line.
func TestServeRefusesPublicMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	cfg := filepath.Join(dir, "ingest.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "listen: 127.0.0.1:0\ndb: %s\ntls: {ca: %s, cert: %s, key: %s}\nmetrics:\n  listen: 0.0.0.0:9464\n",
		filepath.Join(dir, "m.db"), filepath.Join(pki, "ca.pem"), filepath.Join(pki, "ingest.pem"), filepath.Join(pki, "ingest-key.pem")), 0o600)
	_, stderr, code := runBin(t, "serve", "-config", cfg)
	for _, want := range []string{cfg + ":5: metrics.listen \"0.0.0.0:9464\" is not loopback", "api.tls.cert and api.tls.key are required", "api.allow_cidrs is required"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("serve: exit %d, stderr %q; want exit 1 saying %q", code, stderr, want)
		}
	}
	if strings.Contains(stderr, "listening on") {
		t.Errorf("serve listened: %s", stderr)
	}
}
