package main

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestServeAPIBodyDeadline: on the real collector, an unauthenticated
// request announcing a body it never sends is answered and its API
// connection closed after 10 s (api.DefaultBodyTimeout), its place given
// back; before, net/http waited for the body for ever, so 256 such
// connections from one address held the API.
func TestServeAPIBodyDeadline(t *testing.T) {
	t.Parallel()
	p, _ := serveWith(t, "api:\n  listen: 127.0.0.1:0\nmetrics:\n  listen: 127.0.0.1:0\n")
	apiAddr := p.waitLine(t, apiListeningRE)
	mAddr := p.waitLine(t, metricsListeningRE)
	c, err := net.Dial("tcp", apiAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("POST /api/v1/alerts/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"))
	start := time.Now()
	waitSeries(t, mAddr, `offbox_ingest_connections_open{listener="api"}`, 1)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	for err == nil {
		_, err = c.Read(buf)
	}
	if took := time.Since(start); errors.Is(err, os.ErrDeadlineExceeded) || took < 9*time.Second {
		t.Fatalf("connection ended after %v with %v; want closed by the collector after 10 s", took, err)
	}
	waitSeries(t, mAddr, `offbox_ingest_connections_open{listener="api"}`, 0)
}
