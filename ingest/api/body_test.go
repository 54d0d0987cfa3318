package api

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBodyDeadline, on a real server on loopback: a request announcing a
// body it never sends is answered and its connection closed after the
// deadline, though the handler never reads the body (net/http would wait
// for it for ever); a request without a body keeps its context past it.
func TestBodyDeadline(t *testing.T) {
	t.Parallel()
	const d = 300 * time.Millisecond
	cut := make(chan error, 1)
	h := BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			select { // a long search
			case <-r.Context().Done():
				cut <- r.Context().Err()
			case <-time.After(3 * d):
				cut <- nil
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	}), d)
	l := serveLoopback(t, h)

	held := func(req string) (time.Duration, error) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.Write([]byte(req))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		for err == nil {
			_, err = c.Read(buf)
		}
		return time.Since(start), err
	}
	for _, req := range []string{
		"POST /api/v1/alerts/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
		"POST /api/v1/alerts/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
	} {
		took, err := held(req)
		if errors.Is(err, os.ErrDeadlineExceeded) || took < d {
			t.Errorf("%q: connection ended after %v with %v; want closed by the server after %v", req[:40], took, err, d)
		}
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + l.Addr().String() + "/api/v1/devices")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-cut; err != nil {
		t.Errorf("a request without a body was cancelled (%v) past the body deadline", err)
	}
}

// A request whose body was sent in time keeps its context past the
// deadline while its handler works (a long bulk triage action): the
// deadline bounds reading the body, nothing after it.
func TestBodyDeadlineOnlyBoundsTheBody(t *testing.T) {
	t.Parallel()
	const d = 200 * time.Millisecond
	cut := make(chan error, 1)
	h := BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select { // a long bulk action
		case <-r.Context().Done():
			cut <- r.Context().Err()
		case <-time.After(4 * d):
			cut <- nil
		}
		w.WriteHeader(http.StatusNoContent)
	}), d)
	l := serveLoopback(t, h)
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post("http://"+l.Addr().String()+"/api/v1/alerts/ack", "application/json", strings.NewReader(`{"ids":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := <-cut; err != nil {
		t.Errorf("a request whose body came in time was cancelled (%v) past the body deadline", err)
	}
}

// serveLoopback serves h on a loopback listener until the test ends.
func serveLoopback(t *testing.T, h http.Handler) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l
}
