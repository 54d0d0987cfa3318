package main

import (
	"crypto/tls"
	"testing"
	"time"
)

// TestServePerDeviceMetric: on the real collector, a device that opens
// six verified connections and no stream has two reset at the end of
// their handshake (4 per device), counted under reason="per_device" in
// the real /metrics, and the four it holds open.
func TestServePerDeviceMetric(t *testing.T) {
	t.Parallel()
	p, pki := serveWith(t, "metrics:\n  listen: 127.0.0.1:0\n")
	mAddr := p.waitLine(t, metricsListeningRE)
	const refused = `offbox_ingest_connections_refused_total{listener="ingest",reason="per_device"}`
	if got := series(t, mAddr, refused); got != 0 {
		t.Fatalf("%s = %v before any connection, want 0", refused, got)
	}
	devTLS := deviceTLS(t, pki)
	for range 6 {
		c, err := tls.Dial("tcp", p.addr, devTLS)
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
