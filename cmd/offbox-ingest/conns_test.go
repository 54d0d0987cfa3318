package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/server"
)

// waitLine waits for re in p's output and returns its first group.
func (p *serveProc) waitLine(t *testing.T, re *regexp.Regexp) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.logs.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no line matching %s:\n%s", re, p.logs.String())
	return ""
}

// getMetrics reads a loopback /metrics on a connection of its own.
func getMetrics(t *testing.T, addr string) (status int, body string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// series reads one series' value from a loopback /metrics; -1 when absent.
func series(t *testing.T, addr, name string) float64 {
	t.Helper()
	_, b := getMetrics(t, addr)
	for _, line := range strings.Split(b, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return -1
}

// waitSeries waits until the series has the value want.
func waitSeries(t *testing.T, addr, name string, want float64) {
	t.Helper()
	got := -1.0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got = series(t, addr, name); got == want {
			return
		}
	}
	t.Fatalf("%s = %v, want %v", name, got, want)
}

// dialIdle opens n TCP connections to addr that send nothing; a dial the
// server reset at once is not an error (the metrics say what happened).
func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var out []net.Conn
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			continue
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, c)
	}
	return out
}

// TestServeConnectionCaps: the real collector with max_connections 3 and
// api.max_connections 2. Five stalled connections to the agents'
// listener: two are reset and counted, three held; once they close, a
// device's mutual TLS handshake goes through. Two to the query API hold
// it: an HTTP request is then refused and counted, and answered once they
// close. The figures are read from the real /metrics.
func TestServeConnectionCaps(t *testing.T) {
	t.Parallel()
	p, pki := serveWith(t, "max_connections: 3\napi:\n  listen: 127.0.0.1:0\n  max_connections: 2\nmetrics:\n  listen: 127.0.0.1:0\n")
	apiAddr := p.waitLine(t, apiListeningRE)
	mAddr := p.waitLine(t, metricsListeningRE)
	const (
		ingestOpen    = `offbox_ingest_connections_open{listener="ingest"}`
		ingestRefused = `offbox_ingest_connections_refused_total{listener="ingest",reason="limit"}`
		apiOpen       = `offbox_ingest_connections_open{listener="api"}`
		apiRefused    = `offbox_ingest_connections_refused_total{listener="api",reason="limit"}`
	)
	if got := series(t, mAddr, ingestRefused); got != 0 {
		t.Fatalf("%s = %v before any connection, want 0", ingestRefused, got)
	}

	flood := dialIdle(t, p.addr, 5)
	waitSeries(t, mAddr, ingestRefused, 2)
	waitSeries(t, mAddr, ingestOpen, 3)
	for _, c := range flood {
		c.Close()
	}
	waitSeries(t, mAddr, ingestOpen, 0)
	dev, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", p.addr, deviceTLS(t, pki))
	if err != nil {
		t.Fatalf("a device's handshake after the flood: %v", err)
	}
	defer dev.Close()

	held := dialIdle(t, apiAddr, 2)
	waitSeries(t, mAddr, apiOpen, 2)
	get := func() error {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get("http://" + apiAddr + "/api/v1/devices")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err == nil {
		t.Error("an API request with api.max_connections held was answered")
	}
	waitSeries(t, mAddr, apiRefused, 1)
	for _, c := range held {
		c.Close()
	}
	waitSeries(t, mAddr, apiOpen, 0)
	if err := get(); err != nil {
		t.Errorf("an API request once the held connections closed: %v", err)
	}
	if got := series(t, mAddr, ingestRefused); got != 2 {
		t.Errorf("%s = %v at the end, want 2", ingestRefused, got)
	}
}

// TestServeWarnsOpenFiles: under an open-files limit below what the
// connection caps allow, serve says so once at start; with caps that fit,
// it says nothing.
func TestServeWarnsOpenFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	n := min(1024, lim.Max) // ulimit -n cannot raise the hard limit
	for _, tc := range []struct {
		caps string
		warn bool
	}{{"", true}, {"max_connections: 500\n", false}} {
		cfg := serveConfig(t, t.TempDir(), pki, tc.caps)
		// ulimit -n sets the hard limit too, which Go cannot raise.
		p := startServeCmd(t, exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, n), binary, "serve", "-config", cfg))
		logs := p.logs.String() // the warning comes before the listening line startServeCmd waited for
		if got := strings.Count(logs, "open-files limit below"); got != map[bool]int{true: 1, false: 0}[tc.warn] {
			t.Errorf("max_connections %q under ulimit -n %d: %d warnings, want warn=%v:\n%s", tc.caps, n, got, tc.warn, logs)
		}
		if tc.warn && !strings.Contains(logs, fmt.Sprintf("limit=%d wanted=16640 max_connections=16384", n)) {
			t.Errorf("warning without the figures:\n%s", logs)
		}
	}
}

// serveConfig writes a collector configuration under dir: the agents'
// listener on loopback, a database, the test PKI's TLS, and extra (YAML
// keys, each line ending in a newline); it returns the file's path.
func serveConfig(t *testing.T, dir, pki, extra string) string {
	t.Helper()
	cfg := filepath.Join(dir, "ingest.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "listen: 127.0.0.1:0\n%sdb: %s\ntls: {ca: %s, cert: %s, key: %s}\n", extra,
		filepath.Join(dir, "c.db"), filepath.Join(pki, "ca.pem"), filepath.Join(pki, "ingest.pem"), filepath.Join(pki, "ingest-key.pem")), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// apiListeningRE finds the query API's address in serve's log.
var apiListeningRE = regexp.MustCompile(`offbox-ingest: api listening on (\S+)\n`)

// serveWith starts the real collector on serveConfig's configuration with
// extra, in a directory of its own with a test PKI, and returns it and
// the PKI's directory.
func serveWith(t *testing.T, extra string) (*serveProc, string) {
	t.Helper()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	return startServe(t, "-config", serveConfig(t, dir, pki, extra)), pki
}

// deviceTLS is the client TLS of the test PKI's device d, speaking h2.
func deviceTLS(t *testing.T, pki string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "d.pem"), filepath.Join(pki, "d-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(pki, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &tls.Config{ServerName: "localhost", RootCAs: roots, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
}

// TestConnectionDefaultsAgree: the configuration's default for
// max_connections (what check-config and the open-files warning say) is
// the server's own.
func TestConnectionDefaultsAgree(t *testing.T) {
	if config.DefaultMaxConnections != server.DefaultMaxConnections {
		t.Errorf("config.DefaultMaxConnections %d, server.DefaultMaxConnections %d", config.DefaultMaxConnections, server.DefaultMaxConnections)
	}
}
