package main

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/offbox/offbox/transport/tlsconf"
)

// TestDevCertsOperator: dev-certs -operator mints operator certificates
// marked as such, from an operator CA that is not the device CA; device
// certificates carry no mark.
func TestDevCertsOperator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, stderr, code := runFunc("dev-certs", "-out", dir, "-device", "router-1", "-operator", "carol"); code != 0 {
		t.Fatalf("dev-certs: exit %d: %s", code, stderr)
	}
	load := func(name string) *x509.Certificate {
		t.Helper()
		ca, err := tlsconf.LoadCA(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		return ca.Cert
	}
	devCA, opsCA, carol, router := load("ca"), load("operator-ca"), load("carol"), load("router-1")
	if string(devCA.RawSubjectPublicKeyInfo) == string(opsCA.RawSubjectPublicKeyInfo) {
		t.Fatal("the operator CA is the device CA")
	}
	if !tlsconf.IsOperator(carol) || carol.Subject.CommonName != "carol" || carol.CheckSignatureFrom(opsCA) != nil {
		t.Errorf("carol %v: want an operator certificate of operator-ca.pem", carol.Subject)
	}
	if tlsconf.IsOperator(router) {
		t.Errorf("device certificate %v marked as an operator's", router.Subject)
	}
	if fi, err := os.Stat(filepath.Join(dir, "carol-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("carol-key.pem: %v, want mode 600", err)
	}
}
