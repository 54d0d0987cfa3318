package enroll

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	s, _ := status.FromError(err)
	if s.Code() != code || !strings.Contains(s.Message(), msg) {
		t.Errorf("error = %v, want %s containing %q", err, code, msg)
	}
}

// checkDeviceCert: cert is the CA's client certificate of device for
// key, issued at now (to the second) with labels.
func (f *fixture) checkDeviceCert(der []byte, device string, labels map[string]string, key crypto.Signer) *x509.Certificate {
	f.t.Helper()
	t := f.t
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != device {
		t.Errorf("CN = %q, want %q", cert.Subject.CommonName, device)
	}
	var want []string
	for k, v := range labels {
		want = append(want, k+"="+v)
	}
	if got := slices.Sorted(slices.Values(cert.Subject.OrganizationalUnit)); !reflect.DeepEqual(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("OU = %q, want %q", got, want)
	}
	if nb := f.now().Truncate(time.Second); !cert.NotBefore.Equal(nb) || !cert.NotAfter.Equal(nb.Add(time.Hour)) {
		t.Errorf("valid %s to %s, want %s to %s", cert.NotBefore, cert.NotAfter, nb, nb.Add(time.Hour))
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: f.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("not a client certificate of the CA: %v", err)
	}
	if !samePublic(key.Public(), cert.PublicKey) {
		t.Error("certificate is not for the CSR's key")
	}
	return cert
}

func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

func TestEnrollTokenWorksOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	labels := map[string]string{"role": "switch", "site": "par1"}
	tok := f.token("sw-1", labels, time.Hour)
	c := f.client(nil, nil)
	key := newKey(t, tlsconf.Ed25519)
	resp, err := c.Enroll(context.Background(), &offboxv1.EnrollRequest{Token: tok, CsrDer: csrFor(t, key, "admin")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.DeviceId != "sw-1" {
		t.Errorf("device id = %q, want sw-1", resp.DeviceId)
	}
	f.checkDeviceCert(resp.CertificateDer, "sw-1", labels, key)

	_, err = c.Enroll(context.Background(), &offboxv1.EnrollRequest{Token: tok, CsrDer: csrFor(t, newKey(t, tlsconf.Ed25519), "")})
	wantStatus(t, err, codes.Unauthenticated, "enrollment token already used (at ")
}

func TestEnrollRefusedTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(nil, nil)
	expiring := f.token("gw-1", nil, time.Minute)
	f.advance(2 * time.Minute)
	unknown, _ := NewToken()
	for name, tc := range map[string]struct{ token, want string }{
		"expired": {expiring, "enrollment token expired (at "},
		"unknown": {unknown, "enrollment token unknown"},
		"empty":   {"", "enrollment token missing"},
		"huge":    {strings.Repeat("x", 10000), "enrollment token missing or malformed"},
	} {
		_, err := c.Enroll(context.Background(), &offboxv1.EnrollRequest{Token: tc.token, CsrDer: csrFor(t, newKey(t, tlsconf.Ed25519), "")})
		if wantStatus(t, err, codes.Unauthenticated, tc.want); t.Failed() {
			t.Logf("case %s", name)
		}
	}
}

// badCSRs are CSRs CheckCSR refuses, with what its error says.
func badCSRs(t testing.TB) map[string]struct {
	der  []byte
	want string
} {
	good := csrFor(t, newKey(t, tlsconf.Ed25519), "x")
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1 // in the signature
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		der  []byte
		want string
	}{
		"wrong signature": {flipped, "proof of possession"},
		"rsa":             {csrFor(t, rsaKey, "x"), "RSA key"},
		"p384":            {csrFor(t, p384, "x"), "P-384"},
		"garbage":         {[]byte("not a csr at all"), "csr:"},
		"empty":           {nil, "csr: empty"},
		"too big":         {append(bytes.Clone(good), make([]byte, MaxCSRBytes)...), "at most 4096"},
	}
}

func TestEnrollBadCSRKeepsToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client(nil, nil)
	tok := f.token("gw-1", nil, time.Hour)
	for name, tc := range badCSRs(t) {
		_, err := c.Enroll(context.Background(), &offboxv1.EnrollRequest{Token: tok, CsrDer: tc.der})
		if wantStatus(t, err, codes.InvalidArgument, tc.want); t.Failed() {
			t.Logf("case %s", name)
		}
	}
	// None of them consumed the token.
	key := newKey(t, tlsconf.ECDSAP256)
	resp, err := c.Enroll(context.Background(), &offboxv1.EnrollRequest{Token: tok, CsrDer: csrFor(t, key, "")})
	if err != nil {
		t.Fatalf("enroll after refused CSRs: %v", err)
	}
	f.checkDeviceCert(resp.CertificateDer, "gw-1", nil, key)
}

func TestRenew(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	labels := map[string]string{"site": "ams2"}
	key := newKey(t, tlsconf.Ed25519)
	resp, err := f.client(nil, nil).Enroll(context.Background(),
		&offboxv1.EnrollRequest{Token: f.token("ap-7", labels, time.Hour), CsrDer: csrFor(t, key, "")})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(resp.CertificateDer)

	f.advance(10 * time.Minute)
	next := newKey(t, tlsconf.ECDSAP256)
	r, err := f.client(cert, key).Renew(context.Background(), &offboxv1.RenewRequest{CsrDer: csrFor(t, next, "someone-else")})
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	f.checkDeviceCert(r.CertificateDer, "ap-7", labels, next)

	_, err = f.client(nil, nil).Renew(context.Background(), &offboxv1.RenewRequest{CsrDer: csrFor(t, next, "")})
	wantStatus(t, err, codes.Unauthenticated, "verified client certificate")

	_, err = f.client(cert, key).Renew(context.Background(), &offboxv1.RenewRequest{CsrDer: []byte("junk")})
	wantStatus(t, err, codes.InvalidArgument, "csr:")

	// Revoked a second after it was issued: the old certificate is refused.
	if err := f.st.Revoke(context.Background(), store.Revocation{Device: "ap-7", Time: cert.NotBefore.Add(time.Second), Reason: "stolen"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client(cert, key).Renew(context.Background(), &offboxv1.RenewRequest{CsrDer: csrFor(t, next, "")})
	wantStatus(t, err, codes.PermissionDenied, "ap-7: certificate revoked")
}

func TestRenewFromAnotherCARefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other, err := tlsconf.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key := newKey(t, tlsconf.Ed25519)
	cert, err := other.IssueDevice("ap-7", nil, key.Public(), time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.client(cert, key).Renew(ctx, &offboxv1.RenewRequest{CsrDer: csrFor(t, key, "")}); err == nil {
		t.Fatal("renewal with a certificate of another CA succeeded")
	}
}

func TestCheckCSRAccepts(t *testing.T) {
	t.Parallel()
	for _, kt := range []tlsconf.KeyType{tlsconf.Ed25519, tlsconf.ECDSAP256} {
		key := newKey(t, kt)
		csr, err := CheckCSR(csrFor(t, key, "x"))
		if err != nil {
			t.Fatalf("%s: %v", kt, err)
		}
		if !samePublic(key.Public(), csr.PublicKey) {
			t.Errorf("%s: CSR public key differs", kt)
		}
	}
}

// FuzzCSR: whatever the bytes, CheckCSR does not panic, and what it
// accepts is small, self-signed, and of an accepted key type.
func FuzzCSR(f *testing.F) {
	f.Add(csrFor(f, newKey(f, tlsconf.Ed25519), "x"))
	f.Add(csrFor(f, newKey(f, tlsconf.ECDSAP256), "x"))
	for _, tc := range badCSRs(f) {
		f.Add(tc.der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, err := CheckCSR(der)
		if err != nil {
			return
		}
		if len(der) > MaxCSRBytes {
			t.Fatalf("accepted %d bytes", len(der))
		}
		if err := csr.CheckSignature(); err != nil {
			t.Fatalf("accepted a CSR whose signature does not verify: %v", err)
		}
		switch k := csr.PublicKey.(type) {
		case ed25519.PublicKey:
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				t.Fatalf("accepted curve %s", k.Curve.Params().Name)
			}
		default:
			t.Fatalf("accepted key %T", k)
		}
		if _, err := seal.KeyID(csr.PublicKey); err != nil {
			t.Fatalf("accepted key has no key id: %v", err)
		}
	})
}

// TestRevocationEndsEnrollment: a token made before its device was revoked
// no longer enrolls it, a key the revocation names is refused even with a
// token made afterwards (token create -after-revoke), and a new key with
// such a token enrolls the device again.
func TestRevocationEndsEnrollment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key := newKey(t, tlsconf.Ed25519)
	first, err := f.client(nil, nil).Enroll(context.Background(),
		&offboxv1.EnrollRequest{Token: f.token("ap-7", nil, time.Hour), CsrDer: csrFor(t, key, "")})
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(first.CertificateDer)
	keyID, err := seal.KeyID(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	spare := f.token("ap-7", nil, time.Hour) // made before the revocation
	f.advance(time.Minute)
	if err := f.st.Revoke(context.Background(), store.Revocation{Device: "ap-7", Time: f.now(), KeyIDs: [][]byte{keyID}, Reason: "stolen"}); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute)
	fresh := newKey(t, tlsconf.Ed25519)
	_, err = f.client(nil, nil).Enroll(context.Background(), &offboxv1.EnrollRequest{Token: spare, CsrDer: csrFor(t, fresh, "")})
	wantStatus(t, err, codes.PermissionDenied, "revoked")

	after := f.token("ap-7", nil, time.Hour) // token create -after-revoke
	_, err = f.client(nil, nil).Enroll(context.Background(), &offboxv1.EnrollRequest{Token: after, CsrDer: csrFor(t, key, "")})
	wantStatus(t, err, codes.PermissionDenied, "was revoked with device ap-7")
	r, err := f.client(nil, nil).Enroll(context.Background(), &offboxv1.EnrollRequest{Token: after, CsrDer: csrFor(t, fresh, "")})
	if err != nil {
		t.Fatalf("enroll with a new key after the revocation: %v", err)
	}
	f.checkDeviceCert(r.CertificateDer, "ap-7", nil, fresh)
}
