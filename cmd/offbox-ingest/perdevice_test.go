package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestServePerDeviceMetric: on the real collector, a device that opens
// six verified connections and no stream has two reset at the end of
// their handshake (4 per device), counted under reason="per_device" in
// the real /metrics, and the four it holds open.
func TestServePerDeviceMetric(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	cfg := filepath.Join(dir, "ingest.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "listen: 127.0.0.1:0\ndb: %s\ntls: {ca: %s, cert: %s, key: %s}\nmetrics:\n  listen: 127.0.0.1:0\n",
		filepath.Join(dir, "c.db"), filepath.Join(pki, "ca.pem"), filepath.Join(pki, "ingest.pem"), filepath.Join(pki, "ingest-key.pem")), 0o600)
	p := startServe(t, "-config", cfg)
	mAddr := p.waitLine(t, metricsListeningRE)
	const refused = `offbox_ingest_connections_refused_total{listener="ingest",reason="per_device"}`
	if got := series(t, mAddr, refused); got != 0 {
		t.Fatalf("%s = %v before any connection, want 0", refused, got)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "d.pem"), filepath.Join(pki, "d-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(pki, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	for range 6 {
		c, err := tls.Dial("tcp", p.addr, &tls.Config{ServerName: "localhost", RootCAs: roots, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err) // TLS 1.3: the client is done before the server resets it
		}
		defer c.Close()
		c.Write(append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0))
		time.Sleep(20 * time.Millisecond) // in order: the first four are held
	}
	waitSeries(t, mAddr, refused, 2)
	waitSeries(t, mAddr, `offbox_ingest_connections_open{listener="ingest"}`, 4)
}
