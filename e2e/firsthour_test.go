package e2e

// The first hour (issue 17): the configurations the packages ship pass
// check-config on any machine, and the collector's starts as shipped once
// its files exist.

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// shippedConfigs are the example configurations the packages install, by
// the program that reads them.
var shippedConfigs = []struct{ program, path string }{
	{"offbox", "../packaging/offbox.yaml"},
	{"offbox", "../packaging/openwrt/offbox.yaml"},
	{"offbox-ingest", "../packaging/offbox-ingest.yaml"},
}

// TestShippedConfigsCheck: check-config -syntax-only passes every shipped
// configuration on this machine, which has none of the files they name;
// without -syntax-only the collector's names only what is missing here,
// each at its file:line.
func TestShippedConfigsCheck(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, c := range shippedConfigs {
		prog := bin.agent
		if c.program == "offbox-ingest" {
			prog = bin.ingest
		}
		so, se, code := run(t, prog, "check-config", "-syntax-only", "-config", c.path)
		if code != 0 || !strings.HasPrefix(so, "config OK: "+c.path+"\n") {
			t.Errorf("%s check-config -syntax-only -config %s: exit %d, stdout %q, stderr %q; want 0 and config OK",
				c.program, c.path, code, so, se)
		}
	}
	// The full check, as on a fresh install: the shipped file with its /etc
	// and /var/lib paths under an empty scratch root, so whatever this
	// machine has installed is never read.
	root := t.TempDir()
	shipped, err := os.ReadFile("../packaging/offbox-ingest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "offbox-ingest.yaml")
	scratch := strings.NewReplacer("/etc/offbox-ingest/", root+"/etc/offbox-ingest/", "/var/lib/offbox-ingest/", root+"/var/lib/offbox-ingest/")
	if err := os.WriteFile(path, []byte(scratch.Replace(string(shipped))), 0o600); err != nil {
		t.Fatal(err)
	}
	_, se, code := run(t, bin.ingest, "check-config", "-config", path)
	if code != 1 {
		t.Fatalf("offbox-ingest check-config -config %s: exit %d, want 1 (its files are not here); stderr %q", path, code, se)
	}
	line := regexp.MustCompile(`^offbox-ingest check-config: ` + regexp.QuoteMeta(path) + `:\d+: (tls\.(ca|cert|key): open ` + regexp.QuoteMeta(root) + `/etc/offbox-ingest/|db ` + regexp.QuoteMeta(root) + `/var/lib/offbox-ingest/)`)
	lines := strings.Split(strings.TrimSpace(se), "\n")
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("check-config of the shipped config: %q; want only missing tls files and db directory, at their file:line", l)
		}
	}
	if len(lines) != 4 {
		t.Errorf("check-config of the shipped config: %d problems, want 4 (tls.ca, tls.cert, tls.key, db):\n%s", len(lines), se)
	}
}

// TestShippedCollectorConfigServes: the shipped collector configuration,
// with its /etc and /var/lib paths moved to a scratch directory and
// dev-certs TLS files there, starts, completes an mTLS handshake with a
// device, and stores what an agent sends.
func TestShippedCollectorConfigServes(t *testing.T) {
	skipShort(t)
	t.Parallel()
	root := t.TempDir()
	etc, lib := filepath.Join(root, "etc", "offbox-ingest"), filepath.Join(root, "var", "lib", "offbox-ingest")
	if err := os.MkdirAll(lib, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, se, code := run(t, bin.ingest, "dev-certs", "-out", etc, "-device", "sw1"); code != 0 {
		t.Fatalf("dev-certs: exit %d: %s", code, se)
	}
	data, err := os.ReadFile("../packaging/offbox-ingest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.ReplaceAll(string(data), "/etc/offbox-ingest/", etc+"/")
	conf = strings.ReplaceAll(conf, "/var/lib/offbox-ingest/", lib+"/")
	// The shipped ports, unless something on this machine holds one: then
	// any free port, so that the test checks the file, not the machine.
	for _, addr := range []string{"0.0.0.0:7443", "127.0.0.1:7480"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Logf("%s is in use here (%v); the test uses a free port instead", addr, err)
			host, _, _ := net.SplitHostPort(addr)
			conf = strings.Replace(conf, "listen: "+addr, "listen: "+net.JoinHostPort(host, "0"), 1)
			continue
		}
		l.Close()
	}
	path := filepath.Join(root, "offbox-ingest.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	if so, se, code := run(t, bin.ingest, "check-config", "-config", path); code != 0 {
		t.Fatalf("check-config of the shipped config on the scratch dir: exit %d, stdout %q, stderr %q", code, so, se)
	}

	in := start(t, bin.ingest, "serve", "-config", path)
	addr := in.listenAddr(listeningRE, "offbox-ingest serve -config (shipped)")
	waitFor(t, 10*time.Second, "the query API to listen", func() bool { return strings.Contains(in.out.String(), "api listening on ") })
	_, port, _ := net.SplitHostPort(addr)
	server := net.JoinHostPort("127.0.0.1", port)

	// A device's mTLS handshake completes.
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(etc, "ca.pem"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.pem: %v", err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(etc, "sw1.pem"), filepath.Join(etc, "sw1-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", server,
		&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("TLS handshake with the collector on %s: %v", server, err)
	}
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x, want TLS 1.3", v)
	}
	conn.Close()

	// And an agent's line is stored.
	logFile := filepath.Join(root, "app.log")
	if err := os.WriteFile(logFile, []byte("first hour\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := pki(etc)
	startAgent(t, p, "sw1", server, "-tail", logFile, "-no-clock", "-no-watch")
	db := filepath.Join(lib, "offbox.db")
	waitFor(t, 30*time.Second, "the agent's line to be stored", func() bool {
		for _, r := range records(t, db, "-device", "sw1", "-kind", "log") {
			if r.Body == "first hour" {
				return true
			}
		}
		return false
	})
	in.stop()
}
