package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// anyAddrPort returns a port nothing listens on, on any address.
func anyAddrPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

var apiListeningRE = regexp.MustCompile(`api listening on (\S+)`)

// apiClient is an HTTPS client of the collector's API that trusts the
// PKI's CA, presents cert (when not nil) and connects from local.
func apiClient(t *testing.T, p pki, cert *tls.Certificate, local string) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	b, err := os.ReadFile(p.ca())
	if err != nil || !roots.AppendCertsFromPEM(b) {
		t.Fatalf("CA %s: %v", p.ca(), err)
	}
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	d := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DialContext: d.DialContext}}
}

func apiGet(c *http.Client, url, token string) (int, string, error) {
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

// TestAPIOperatorAccess: the query API on 0.0.0.0 with TLS and an
// allow-list of 127.0.0.1/32. A client from 127.0.0.2 is disconnected
// before TLS, and nothing is read or audited; from 127.0.0.1 a call without
// credentials is a 401, one with an operator token or an operator
// certificate is answered, and each leaves an access row (read back as
// log_access alerts).
func TestAPIOperatorAccess(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	p := newPKI(t, "api-dev")
	// ops: the operator CA and carol's operator certificate.
	ops := pki(filepath.Join(dir, "ops"))
	if _, se, code := run(t, bin.ingest, "dev-certs", "-out", string(ops), "-operator", "carol"); code != 0 {
		t.Fatalf("dev-certs -operator: exit %d: %s", code, se)
	}
	port := anyAddrPort(t)
	cfg := filepath.Join(dir, "ingest.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `api:
  listen: 0.0.0.0:%s
  allow_cidrs: [127.0.0.1/32]
  tls:
    cert: %s
    key: %s
    client_ca: %s
`, port, p.cert("ingest"), p.key("ingest"), ops.cert("operator-ca")), 0o600)
	db := filepath.Join(dir, "api.db")
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	var apiAddr string
	waitFor(t, 10*time.Second, "the api listening line", func() bool {
		if m := apiListeningRE.FindStringSubmatch(in.out.String()); m != nil {
			apiAddr = m[1]
		}
		return apiAddr != ""
	})
	if apiAddr != "[::]:"+port && apiAddr != "0.0.0.0:"+port {
		t.Fatalf("api listening on %s, want port %s on every address", apiAddr, port)
	}
	token := operatorToken(t, db, "alice")
	url := "https://127.0.0.1:" + port + "/api/v1/devices"

	// From outside allow_cidrs: disconnected before TLS, whatever is
	// presented, by a program or a browser.
	outside := apiClient(t, p, nil, "127.0.0.2")
	if code, body, err := apiGet(outside, url, token); err == nil {
		t.Errorf("from 127.0.0.2 with a token: %d %q, want the connection refused before TLS", code, body)
	}
	req, _ := http.NewRequest("GET", "https://127.0.0.1:"+port+"/", nil)
	req.Header.Set("Accept", "text/html")
	if resp, err := outside.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("browser from 127.0.0.2: %d, want the connection refused before TLS", resp.StatusCode)
	}

	local := apiClient(t, p, nil, "127.0.0.1")
	if code, body, err := apiGet(local, url, ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d %s %v, want 401", code, body, err)
	}
	if code, body, err := apiGet(local, url, token); err != nil || code != http.StatusOK || !strings.Contains(body, `"devices"`) {
		t.Errorf("token: %d %s %v, want 200 with devices", code, body, err)
	}
	carol, err := tls.LoadX509KeyPair(ops.cert("carol"), ops.key("carol"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body, err := apiGet(apiClient(t, p, &carol, "127.0.0.1"), url, ""); err != nil || code != http.StatusOK {
		t.Errorf("operator certificate: %d %s %v, want 200", code, body, err)
	}
	// A device certificate is no operator's.
	dev, err := tls.LoadX509KeyPair(p.cert("api-dev"), p.key("api-dev"))
	if err != nil {
		t.Fatal(err)
	}
	devClient := apiClient(t, p, nil, "127.0.0.1")
	devClient.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &dev, nil }
	if code, _, err := apiGet(devClient, url, ""); err == nil {
		t.Errorf("device certificate: status %d, want a failed handshake", code)
	}

	// Every call let through left an access row, refused ones included.
	want := map[string]string{"unauthenticated": "refused: GET /api/v1/devices", "token:alice": "GET /api/v1/devices",
		"cert:carol": "GET /api/v1/devices"}
	var seen map[string]string
	waitFor(t, 20*time.Second, "log_access alerts of the API calls", func() bool {
		so, se, code := run(t, bin.ingest, "alerts", "-db", db, "-kind", "log_access", "-json")
		if code != 0 {
			t.Fatalf("alerts: exit %d: %s", code, se)
		}
		seen = map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(so))
		for sc.Scan() {
			var a struct {
				Summary string            `json:"summary"`
				Fields  map[string]string `json:"fields"`
			}
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				t.Fatalf("alerts -json: %v: %s", err, sc.Text())
			}
			if a.Fields["via"] == "api" {
				seen[a.Fields["who"]] = a.Fields["what"]
				if !strings.HasPrefix(a.Fields["remote"], "127.0.0.1:") {
					t.Errorf("access from %q, want 127.0.0.1", a.Fields["remote"])
				}
			}
		}
		return len(seen) >= len(want)
	})
	for who, what := range want {
		if seen[who] != what {
			t.Errorf("access by %s: %q, want %q (all: %v)", who, seen[who], what, seen)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("API accesses %v, want exactly %v", seen, want)
	}
	if !strings.Contains(in.out.String(), "connection refused: address not in api.allow_cidrs") ||
		!strings.Contains(in.out.String(), "remote=127.0.0.2:") {
		t.Errorf("no log line about the refused 127.0.0.2")
	}
	if strings.Contains(in.out.String(), token) {
		t.Errorf("the collector logged the token")
	}
	in.stop()
}

// TestUnsafeConfigRefused: serve does not start with a private key that
// everyone can read, nor with a query API beyond loopback without
// allow_cidrs, and says why.
func TestUnsafeConfigRefused(t *testing.T) {
	skipShort(t)
	t.Parallel()
	dir := t.TempDir()
	p := newPKI(t, "unsafe-dev")
	openKey := filepath.Join(dir, "open-key.pem")
	b, err := os.ReadFile(p.key("ingest"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(openKey, b, 0o600)
	os.Chmod(openKey, 0o644)
	noRanges := filepath.Join(dir, "public-api.yaml")
	os.WriteFile(noRanges, fmt.Appendf(nil, "api:\n  listen: 0.0.0.0:%s\n  tls:\n    cert: %s\n    key: %s\n",
		anyAddrPort(t), p.cert("ingest"), p.key("ingest")), 0o600)
	base := []string{"serve", "-listen", "127.0.0.1:0", "-ca", p.ca(), "-cert", p.cert("ingest"), "-db", filepath.Join(dir, "u.db")}
	tests := map[string]struct {
		args []string
		want string
	}{
		"world-readable key": {append(base, "-key", openKey), "tls.key " + openKey + ": private key readable by every user (mode 0644); chmod 600 " + openKey},
		"api without allow_cidrs": {append(base, "-key", p.key("ingest"), "-config", noRanges),
			"api.allow_cidrs: required when api.listen"},
	}
	for name, tt := range tests {
		_, se, code := run(t, bin.ingest, tt.args...)
		if code != 1 || !strings.Contains(se, tt.want) || strings.Contains(se, "listening on") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 saying %q", name, code, se, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "u.db")); err == nil {
		t.Errorf("a refused start created the database")
	}
}
