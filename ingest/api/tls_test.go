package api

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"
	"github.com/offbox/offbox/transport/tlsconf"
)

// testPKI writes into dir the API's server certificate (for 127.0.0.1,
// from a server CA) and an operator CA, and returns the server CA pool and
// client certificates: one from the operator CA (CN carol) and one from
// another CA (CN mallory).
func testPKI(t *testing.T, dir string) (roots *x509.CertPool, carol, mallory tls.Certificate) {
	t.Helper()
	issue := func(ca *tlsconf.CA, name, cn string, hosts []string, client bool) tls.Certificate {
		key, err := tlsconf.GenerateKey(tlsconf.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ca.Issue(cn, key.Public(), hosts, client, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlsconf.WriteKeyPair(dir, name, cert, key); err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	}
	newCA := func(name string) *tlsconf.CA {
		ca, err := tlsconf.NewCA(name, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ca
	}
	serverCA, opsCA, otherCA := newCA("server CA"), newCA("operator CA"), newCA("device CA")
	if err := tlsconf.WriteKeyPair(dir, "ops-ca", opsCA.Cert, opsCA.Key); err != nil {
		t.Fatal(err)
	}
	issue(serverCA, "api", "localhost", []string{"127.0.0.1"}, false)
	roots = x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	return roots, issueOperator(t, opsCA, dir, "carol"), issue(otherCA, "mallory", "mallory", nil, true)
}

// issueOperator writes an operator certificate of ca for cn into dir.
func issueOperator(t *testing.T, ca *tlsconf.CA, dir, cn string) tls.Certificate {
	t.Helper()
	key, err := tlsconf.GenerateKey(tlsconf.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueOperator(cn, key.Public(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlsconf.WriteKeyPair(dir, cn, cert, key); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
}

// serveAPI serves the fixture's API over real TLS on 127.0.0.1 behind a
// Guard admitting allow; it returns the address, the guard and the log.
func serveAPI(t *testing.T, h http.Handler, dir string, operatorCA bool, allow []netip.Prefix, now func() time.Time) (string, *Guard, *lockedbuf.Buffer) {
	t.Helper()
	logs := &lockedbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	src, err := tlsconf.Load(tlsconf.Files{CA: filepath.Join(dir, "ops-ca.pem"), Cert: filepath.Join(dir, "api.pem"),
		Key: filepath.Join(dir, "api-key.pem")}, tlsconf.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := AllowListener(l, allow, log)
	g.logs.now = now
	srv := &http.Server{Handler: Permitted(h, WriteError), ConnContext: g.ConnContext, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go srv.Serve(tls.NewListener(g, TLSConfig(src, operatorCA)))
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), g, logs
}

func client(roots *x509.CertPool, cert *tls.Certificate, local net.IP) *http.Client {
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	if cert != nil { // always sent, even when its CA is not one the server names
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DialContext: d.DialContext}}
}

func call(c *http.Client, url, token string) (int, string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestOverTLS: over real TLS, an operator certificate or a token gets in
// and is audited by name; a certificate of another CA does not complete
// the handshake; nothing at all is a 401.
func TestOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	roots, carol, mallory := testPKI(t, dir)
	st := fixture(t)
	addr, _, _ := serveAPI(t, newHandler(st), dir, true, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, nil)
	url := "https://" + addr + "/api/v1/devices"

	if code, body, err := call(client(roots, &carol, nil), url, ""); err != nil || code != 200 {
		t.Errorf("operator certificate: %d %s %v, want 200", code, body, err)
	}
	if code, body, err := call(client(roots, nil, nil), url, aliceToken); err != nil || code != 200 {
		t.Errorf("token: %d %s %v, want 200", code, body, err)
	}
	if code, body, err := call(client(roots, nil, nil), url, ""); err != nil || code != 401 {
		t.Errorf("nothing: %d %s %v, want 401", code, body, err)
	}
	if code, _, err := call(client(roots, &mallory, nil), url, aliceToken); err == nil {
		t.Errorf("certificate of another CA: status %d, want a failed handshake", code)
	}
	as := accesses(t, st)
	var who []string
	for _, a := range as {
		who = append(who, a.Who)
	}
	if got := strings.Join(who, " "); got != "cert:carol token:alice unauthenticated" {
		t.Errorf("accesses by %q, want cert:carol token:alice unauthenticated", got)
	}
}

// TestTokensOnlyTLS: without an operator CA no certificate is asked for,
// so a client certificate authenticates nobody.
func TestTokensOnlyTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	roots, carol, _ := testPKI(t, dir)
	addr, _, _ := serveAPI(t, newHandler(fixture(t)), dir, false, nil, nil)
	url := "https://" + addr + "/api/v1/devices"
	if code, _, err := call(client(roots, &carol, nil), url, ""); err != nil || code != 401 {
		t.Errorf("certificate without an operator CA: %d %v, want 401", code, err)
	}
	if code, _, err := call(client(roots, &carol, nil), url, aliceToken); err != nil || code != 200 {
		t.Errorf("token: %d %v, want 200", code, err)
	}
}

// TestAllowListener: a client outside the allow-list is disconnected
// before TLS, whatever credential it would present: its TLS dial fails at
// the handshake, no request is answered, nothing is read or audited; it
// is counted, and logged once a minute. Both ways round on loopback:
// 127.0.0.1 allowed and 127.0.0.2 not, then the reverse.
func TestAllowListener(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ allow, inside, outside string }{
		{"127.0.0.1/32", "127.0.0.1", "127.0.0.2"},
		{"127.0.0.2/32", "127.0.0.2", "127.0.0.1"},
	} {
		t.Run(tt.allow, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			roots, carol, _ := testPKI(t, dir)
			st := fixture(t)
			var clock atomic.Int64 // seconds added to the start
			start := time.Now()
			addr, g, logs := serveAPI(t, newHandler(st), dir, true, []netip.Prefix{netip.MustParsePrefix(tt.allow)},
				func() time.Time { return start.Add(time.Duration(clock.Load()) * time.Second) })
			url := "https://" + addr + "/api/v1/devices" // the server is on 127.0.0.1; the client picks its source address
			outsider := net.ParseIP(tt.outside)

			// A bare TLS dial from outside fails in the handshake.
			d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: outsider}}
			conn, err := tls.DialWithDialer(d, "tcp", addr,
				&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{carol}})
			if err == nil {
				conn.Close()
				t.Errorf("TLS dial from %s: handshake completed, want it refused before TLS", tt.outside)
			}
			if code, body, err := call(client(roots, &carol, outsider), url, aliceToken); err == nil {
				t.Errorf("from %s with a certificate and a token: %d %q, want no answer", tt.outside, code, body)
			}
			if code, _, err := call(client(roots, &carol, net.ParseIP(tt.inside)), url, ""); err != nil || code != 200 {
				t.Errorf("from %s: %d %v, want 200", tt.inside, code, err)
			}
			if got := g.Refused(); got != 2 {
				t.Errorf("refused %d, want 2", got)
			}
			// A refusal is counted before its line (if any) is written: give
			// the line its moment before counting lines.
			settle := func(lines int) {
				deadline := time.Now().Add(2 * time.Second)
				for strings.Count(logs.String(), "not in api.allow_cidrs") < lines && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
			}
			settle(1)
			if n := strings.Count(logs.String(), "not in api.allow_cidrs"); n != 1 {
				t.Errorf("%d log lines for two refusals within a minute, want 1:\n%s", n, logs.String())
			}
			clock.Add(int64(logEvery / time.Second))
			call(client(roots, nil, outsider), url, "")
			waitUntil(t, func() bool { return g.Refused() == 3 })
			settle(2)
			if n := strings.Count(logs.String(), "not in api.allow_cidrs"); n != 2 || !strings.Contains(logs.String(), "remote="+tt.outside+":") {
				t.Errorf("%d log lines a minute later, want 2 naming %s:\n%s", n, tt.outside, logs.String())
			}
			if as := accesses(t, st); len(as) != 1 || as[0].Who != "cert:carol" {
				t.Errorf("accesses %+v, want only carol's", as)
			}
		})
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGuardAllowed(t *testing.T) {
	t.Parallel()
	loopOnly := AllowListener(nil, nil, nil)
	ranges := AllowListener(nil, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("2001:db8::/32")}, nil)
	tests := []struct {
		g    *Guard
		ip   string
		want bool
	}{
		{loopOnly, "127.0.0.1", true},
		{loopOnly, "127.0.0.2", true},
		{loopOnly, "::1", true},
		{loopOnly, "::ffff:127.0.0.1", true},
		{loopOnly, "10.0.0.1", false},
		{ranges, "10.0.0.255", true},
		{ranges, "::ffff:10.0.0.7", true},
		{ranges, "10.0.1.0", false},
		{ranges, "127.0.0.1", false},
		{ranges, "2001:db8:1::9", true},
		{ranges, "2001:db9::1", false},
	}
	for _, tt := range tests {
		if got := tt.g.Allowed(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("%v Allowed(%s) = %v, want %v", tt.g.allow, tt.ip, got, tt.want)
		}
	}
}

// TestDeviceCertNotOperator: a certificate the operator CA verifies but
// that is not marked as an operator's (a device certificate, as
// enrollment issues them, should the device CA be trusted for operators)
// authenticates nobody: a 401, recorded as refused.
func TestDeviceCertNotOperator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	roots, carol, _ := testPKI(t, dir)
	ca, err := tlsconf.LoadCA(filepath.Join(dir, "ops-ca.pem"), filepath.Join(dir, "ops-ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := tlsconf.GenerateKey(tlsconf.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	devCert, err := ca.IssueDevice("router-1", map[string]string{"role": "router"}, key.Public(), time.Now().Add(-time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dev := tls.Certificate{Certificate: [][]byte{devCert.Raw}, PrivateKey: key, Leaf: devCert}
	st := fixture(t)
	addr, _, _ := serveAPI(t, newHandler(st), dir, true, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, nil)
	url := "https://" + addr + "/api/v1/devices"
	if code, body, err := call(client(roots, &dev, nil), url, ""); err != nil || code != 401 || !strings.Contains(body, "not marked as an operator") {
		t.Errorf("device certificate of the operator CA: %d %s %v, want 401", code, body, err)
	}
	if code, _, err := call(client(roots, &carol, nil), url, ""); err != nil || code != 200 {
		t.Errorf("operator certificate: %d %v, want 200", code, err)
	}
	as := accesses(t, st)
	if len(as) != 2 || as[0].Who != WhoUnauthenticated || as[1].Who != "cert:carol" {
		t.Errorf("accesses %+v, want the refused device, then carol", as)
	}
}
