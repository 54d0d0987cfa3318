package enroll

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

func newCA(t *testing.T) (*tlsconf.CA, *x509.CertPool) {
	t.Helper()
	ca, err := tlsconf.NewCA("test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return ca, pool
}

// TestCheckIssued checks that only a client certificate for the key made
// here, from the device CA, naming the device the collector said, is
// accepted: anything else would be installed as the device's identity.
func TestCheckIssued(t *testing.T) {
	t.Parallel()
	ca, pool := newCA(t)
	other, _ := newCA(t)
	key, err := tlsconf.GenerateKey(tlsconf.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := tlsconf.GenerateKey(tlsconf.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(ca *tlsconf.CA, cn string, pub any, client bool) []byte {
		c, err := ca.Issue(cn, pub, nil, client, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return c.Raw
	}
	tests := []struct {
		name, device string
		der          []byte
		want         string // "" for accepted
	}{
		{"good", "sw1", issue(ca, "sw1", key.Public(), true), ""},
		{"another key", "sw1", issue(ca, "sw1", stranger.Public(), true), "not for the key generated here"},
		{"server certificate", "sw1", issue(ca, "sw1", key.Public(), false), "certificate: x509"},
		{"another CA", "sw1", issue(other, "sw1", key.Public(), true), "certificate: x509"},
		{"another device", "sw2", issue(ca, "sw1", key.Public(), true), `certificate names "sw1", the collector said "sw2"`},
		{"not a device id", "bad id", issue(ca, "bad id", key.Public(), true), "bad id"},
		{"garbage", "sw1", []byte("not DER"), "certificate: x509"},
	}
	for _, tc := range tests {
		cert, err := CheckIssued(tc.der, tc.device, key, pool, time.Now())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.want == "" && cert.Subject.CommonName != tc.device:
			t.Errorf("%s: certificate of %q, want %q", tc.name, cert.Subject.CommonName, tc.device)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestValidCredential checks what -if-needed relies on: a matching pair
// from the CA with more than the margin left is kept; anything else is
// enrolled again, with the reason.
func TestValidCredential(t *testing.T) {
	t.Parallel()
	ca, pool := newCA(t)
	_, otherPool := newCA(t)
	dir := t.TempDir()
	write := func(name string, validity time.Duration) (certFile, keyFile string) {
		key, err := tlsconf.GenerateKey(tlsconf.Ed25519)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := ca.Issue("sw1", key.Public(), nil, true, validity)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		if err := tlsconf.InstallKeyPair(certFile, keyFile, cert, key); err != nil {
			t.Fatal(err)
		}
		return certFile, keyFile
	}
	longCert, longKey := write("long", 48*time.Hour)
	shortCert, shortKey := write("short", 2*time.Hour)
	_, otherKey := write("other", 48*time.Hour)
	tests := []struct {
		name, cert, key string
		pool            *x509.CertPool
		want            string // "" for valid
	}{
		{"valid", longCert, longKey, pool, ""},
		{"expires within the margin", shortCert, shortKey, pool, "in less than 24h0m0s"},
		{"key of another pair", longCert, otherKey, pool, "no usable credential"},
		{"missing", filepath.Join(dir, "none.pem"), longKey, pool, "no usable credential"},
		{"another CA", longCert, longKey, otherPool, "x509"},
	}
	for _, tc := range tests {
		_, err := ValidCredential(tc.cert, tc.key, tc.pool, time.Now(), 24*time.Hour)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// refuser is an Enrollment service that answers every request with err.
type refuser struct {
	offboxv1grpc.UnimplementedEnrollmentServer
	err error
}

func (r refuser) Enroll(context.Context, *offboxv1.EnrollRequest) (*offboxv1.EnrollResponse, error) {
	return nil, r.err
}

// TestRequestRefusals checks that each refusal becomes the sentence the
// user reads.
func TestRequestRefusals(t *testing.T) {
	t.Parallel()
	pki := t.TempDir()
	if err := tlsconf.DevCerts(pki, []string{"unused"}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "ingest.pem"), filepath.Join(pki, "ingest-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tests := []struct {
		name string
		err  error // nil: Unimplemented (no service registered)
		want string
	}{
		{"bad token", status.Error(codes.Unauthenticated, "enrollment token unknown"), "refused: enrollment token unknown"},
		{"bad CSR", status.Error(codes.InvalidArgument, "csr: bad"), "refused: csr: bad"},
		{"not served", nil, "the collector does not serve enrollment"},
		{"busy", status.Error(codes.Unavailable, "later"), "cannot reach the collector: later"},
		{"too many refusals", status.Error(codes.ResourceExhausted, "too many refused enrollment attempts"), "refused: too many refused enrollment attempts"},
		{"other", status.Error(codes.Internal, "boom"), "Internal: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}})))
			if tc.err != nil {
				offboxv1grpc.RegisterEnrollmentServer(gs, refuser{err: tc.err})
			}
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go gs.Serve(lis)
			defer gs.Stop()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			_, err = Request(ctx, lis.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "localhost"},
				&offboxv1.EnrollRequest{Token: "t"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Request: %v, want %q", err, tc.want)
			}
		})
	}
}
