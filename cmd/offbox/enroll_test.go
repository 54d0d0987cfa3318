package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/ingest/enroll"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/tlsconf"
)

// collector is an Enrollment service on loopback that keeps every request
// exactly as it arrived.
type collector struct {
	pki  string
	st   *sqlite.Store
	addr string
	gs   *grpc.Server

	mu  sync.Mutex
	raw [][]byte
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{pki: t.TempDir()}
	if err := tlsconf.DevCerts(c.pki, []string{"unused"}); err != nil {
		t.Fatal(err)
	}
	ca, err := enroll.LoadCA(filepath.Join(c.pki, "ca.pem"), filepath.Join(c.pki, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if c.st, err = sqlite.Open(filepath.Join(t.TempDir(), "db.sqlite"), sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.st.Close() })
	svc, err := enroll.New(enroll.Config{Store: c.st, CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(c.pki, "ingest.pem"), filepath.Join(c.pki, "ingest-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	capture := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		b, _ := proto.Marshal(req.(proto.Message))
		c.mu.Lock()
		c.raw = append(c.raw, b)
		c.mu.Unlock()
		return h(ctx, req)
	}
	c.gs = grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{pair}, ClientAuth: tls.VerifyClientCertIfGiven})), grpc.UnaryInterceptor(capture))
	svc.Register(c.gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go c.gs.Serve(lis)
	t.Cleanup(c.gs.Stop)
	c.addr = lis.Addr().String()
	return c
}

func (c *collector) ca() string { return filepath.Join(c.pki, "ca.pem") }

func (c *collector) token(t *testing.T, device string, labels map[string]string) string {
	t.Helper()
	tok, err := enroll.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.st.CreateToken(context.Background(), store.EnrollToken{Hash: enroll.HashToken(tok), Device: device,
		Labels: labels, Created: time.Now(), Expires: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return tok
}

func (c *collector) requests() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.raw...)
}

// secrets are byte strings of a private key that must never be sent.
func secrets(t *testing.T, key crypto.Signer) map[string][]byte {
	t.Helper()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"PKCS#8 DER": pkcs8}
	switch k := key.(type) {
	case ed25519.PrivateKey:
		out["Ed25519 seed"] = k.Seed()
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		out["ECDSA scalar"] = d
	default:
		t.Fatalf("key type %T", key)
	}
	return out
}

func TestEnrollKeyNeverLeavesTheDevice(t *testing.T) {
	for _, kt := range []string{"ed25519", "ecdsa"} {
		t.Run(kt, func(t *testing.T) {
			c := startCollector(t)
			dir := filepath.Join(t.TempDir(), "etc-offbox")
			code, out, errs := runCmd(t, "enroll", "-server", c.addr, "-ca", c.ca(), "-server-name", "localhost",
				"-token", c.token(t, "sw-9", map[string]string{"site": "par1"}), "-dir", dir, "-key-type", kt)
			if code != 0 || !strings.Contains(out, "enrolled as sw-9") {
				t.Fatalf("enroll: exit %d, stdout %q, stderr %q; want 0 and \"enrolled as sw-9\"", code, out, errs)
			}
			for path, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, filepath.Join(dir, "device-key.pem"): 0o600,
				filepath.Join(dir, "device.pem"): 0o644} {
				if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
					t.Errorf("%s: mode %v (%v), want %v", path, fi.Mode(), err, want)
				}
			}
			keyPEM, err := os.ReadFile(filepath.Join(dir, "device-key.pem"))
			if err != nil {
				t.Fatal(err)
			}
			key, err := tlsconf.ParseKeyPEM(keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			src, err := tlsconf.Load(tlsconf.Files{CA: c.ca(), Cert: filepath.Join(dir, "device.pem"), Key: filepath.Join(dir, "device-key.pem")}, tlsconf.Options{})
			if err != nil {
				t.Fatalf("written files do not load as a TLS identity: %v", err)
			}
			if got := src.Leaf().Subject.CommonName; got != "sw-9" {
				t.Errorf("certificate CN = %q, want sw-9", got)
			}

			reqs := c.requests()
			if len(reqs) != 1 {
				t.Fatalf("collector received %d requests, want 1", len(reqs))
			}
			for what, secret := range secrets(t, key) {
				if bytes.Contains(reqs[0], secret) {
					t.Errorf("the request contains the private key's %s", what)
				}
			}
			var req offboxv1.EnrollRequest
			if err := proto.Unmarshal(reqs[0], &req); err != nil {
				t.Fatal(err)
			}
			csr, err := x509.ParseCertificateRequest(req.CsrDer)
			if err != nil {
				t.Fatal(err)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
				t.Error("the CSR's public key is not the key file's")
			}
		})
	}
}

func TestEnrollRefusalsAndIfNeeded(t *testing.T) {
	c := startCollector(t)
	dir := t.TempDir()
	tok := c.token(t, "gw-1", nil)
	args := []string{"enroll", "-server", c.addr, "-ca", c.ca(), "-server-name", "localhost", "-token", tok, "-dir", dir}
	if code, _, errs := runCmd(t, args...); code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, errs)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "device-key.pem"))

	code, _, errs := runCmd(t, append(args[:len(args):len(args)], "-key-type", "ecdsa")...)
	if code != 1 || !strings.Contains(errs, "refused: enrollment token already used (at ") {
		t.Errorf("second enroll with the token: exit %d, stderr %q; want 1 and \"refused: enrollment token already used (at \"", code, errs)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "device-key.pem")); !bytes.Equal(before, after) {
		t.Error("a refused enrollment replaced the key")
	}

	// -if-needed does nothing, without the collector, while the pair is good.
	c.gs.Stop()
	code, out, errs := runCmd(t, append(args[:len(args):len(args)], "-if-needed")...)
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("enroll -if-needed: exit %d, stdout %q, stderr %q; want 0 and nothing to do", code, out, errs)
	}
	// ... and tries (and here fails) when the pair is missing.
	os.Remove(filepath.Join(dir, "device.pem"))
	if code, _, errs := runCmd(t, append(args[:len(args):len(args)], "-if-needed")...); code != 1 || !strings.Contains(errs, "cannot reach the collector") {
		t.Errorf("enroll -if-needed without a certificate, collector down: exit %d, stderr %q; want 1, cannot reach", code, errs)
	}
}

func TestEnrollWrongCA(t *testing.T) {
	c := startCollector(t)
	other := t.TempDir()
	if err := tlsconf.DevCerts(other, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCmd(t, "enroll", "-server", c.addr, "-ca", filepath.Join(other, "ca.pem"), "-server-name", "localhost",
		"-token", c.token(t, "gw-2", nil), "-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "certificate") {
		t.Errorf("exit %d, stderr %q; want 1 and a certificate error", code, errs)
	}
	if len(c.requests()) != 0 {
		t.Error("the token was sent to a collector the CA does not vouch for")
	}
}

func TestEnrollUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"no dir":       {"-server", "h:1", "-ca", "ca.pem", "-token", "t"},
		"no token":     {"-server", "h:1", "-ca", "ca.pem", "-dir", "d"},
		"bad server":   {"-server", "h", "-ca", "ca.pem", "-token", "t", "-dir", "d"},
		"bad key type": {"-server", "h:1", "-ca", "ca.pem", "-token", "t", "-dir", "d", "-key-type", "rsa"},
		"unknown flag": {"-frob"},
	} {
		if code, _, errs := runCmd(t, append([]string{"enroll"}, args...)...); code != 2 {
			t.Errorf("%s: exit %d, stderr %q; want 2", name, code, errs)
		}
	}
}
