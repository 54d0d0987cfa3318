package tlsconf

import (
	"bytes"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func devPKI(t *testing.T, devices ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := DevCerts(dir, devices); err != nil {
		t.Fatal(err)
	}
	return dir
}

func files(dir, name string) Files {
	return Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
}

// handshake runs one real TLS connection on loopback and returns the
// device id the server saw, or the client's and server's errors.
func handshake(t *testing.T, server, client *Source) (string, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		id  string
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		id, _, err := Identity(tc.ConnectionState().PeerCertificates[0])
		io.WriteString(tc, "ok")
		done <- result{id, err}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client.ClientConfig("localhost"))
	if err == nil {
		_, err = io.ReadAll(c) // the server's verdict arrives with the first read in TLS 1.3
		c.Close()
	}
	r := <-done
	if r.err != nil {
		return "", r.err
	}
	return r.id, err
}

func load(t *testing.T, f Files) *Source {
	t.Helper()
	s, err := Load(f, Options{CheckEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMutualTLSIdentity(t *testing.T) {
	t.Parallel()
	dir := devPKI(t, "router-1")
	id, err := handshake(t, load(t, files(dir, "ingest")), load(t, files(dir, "router-1")))
	if err != nil {
		t.Fatal(err)
	}
	if id != "router-1" {
		t.Errorf("device id = %q, want router-1", id)
	}
}

func TestClientFromAnotherCARefused(t *testing.T) {
	t.Parallel()
	good, evil := devPKI(t, "a"), devPKI(t, "a")
	if _, err := handshake(t, load(t, files(good, "ingest")), load(t, files(evil, "a"))); err == nil {
		t.Fatal("server accepted a client certificate from another CA")
	}
	// And the other way round: a client does not trust a server of another CA.
	if _, err := handshake(t, load(t, files(evil, "ingest")), load(t, files(good, "a"))); err == nil {
		t.Fatal("client accepted a server certificate from another CA")
	}
}

func TestReloadOnChangeKeepsLastGood(t *testing.T) {
	t.Parallel()
	dir := devPKI(t, "old")
	srv := load(t, files(dir, "ingest"))
	// The client's certificate files are replaced in place by a new
	// device's: the next handshake presents the new identity.
	cf := files(dir, "old")
	cli := load(t, cf)
	if id, err := handshake(t, srv, cli); err != nil || id != "old" {
		t.Fatalf("first handshake: id %q err %v", id, err)
	}
	ca, err := LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := GenerateKey(ECDSAP256)
	cert, err := ca.Issue("new", key.Public(), nil, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyPair(dir, "old", cert, key); err != nil {
		t.Fatal(err)
	}
	if id, err := handshake(t, srv, cli); err != nil || id != "new" {
		t.Fatalf("after reload: id %q err %v, want new", id, err)
	}
	// A broken file does not take the service down: the last good
	// material stays in use.
	if err := os.WriteFile(cf.Cert, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if id, err := handshake(t, srv, cli); err != nil || id != "new" {
		t.Fatalf("with a broken file: id %q err %v, want the last good identity", id, err)
	}
	if _, err := cli.Reload(); err == nil {
		t.Error("Reload of a broken certificate reported no error")
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := devPKI(t, "d")
	f := files(dir, "d")
	other := devPKI(t, "d")
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("hello"), 0o644)
	tests := map[string]struct {
		f    Files
		want string
	}{
		"missing ca":    {Files{CA: filepath.Join(dir, "nope.pem"), Cert: f.Cert, Key: f.Key}, "CA"},
		"ca not pem":    {Files{CA: garbage, Cert: f.Cert, Key: f.Key}, "no PEM certificate"},
		"key mismatch":  {Files{CA: f.CA, Cert: f.Cert, Key: files(other, "d").Key}, "private key does not match"},
		"missing key":   {Files{CA: f.CA, Cert: f.Cert, Key: filepath.Join(dir, "nope")}, "key"},
		"nothing given": {Files{}, "all required"},
	}
	for name, tt := range tests {
		_, err := Load(tt.f, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tt.want)
		}
	}
}

func TestDevCertsRejectsBadNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "a b", "../x", "ca", "ingest", strings.Repeat("x", 129)} {
		if err := DevCerts(t.TempDir(), []string{name}); err == nil {
			t.Errorf("DevCerts accepted device name %q", name)
		}
	}
}

func TestIdentityKeyIDIsStable(t *testing.T) {
	t.Parallel()
	dir := devPKI(t, "d")
	s := load(t, files(dir, "d"))
	id1, k1, err := Identity(s.Leaf())
	if err != nil {
		t.Fatal(err)
	}
	_, k2, _ := Identity(s.Leaf())
	if id1 != "d" || len(k1) != 32 || !bytes.Equal(k1, k2) {
		t.Errorf("Identity = %q %x / %x", id1, k1, k2)
	}
}
