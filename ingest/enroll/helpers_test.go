package enroll

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

// fixture is an Enrollment service on loopback behind real TLS that asks
// for client certificates without requiring them, as the ingest listener
// does when enrollment is on.
type fixture struct {
	t     *testing.T
	ca    *tlsconf.CA
	st    *sqlite.Store
	addr  string
	mu    sync.Mutex
	clock time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ca, err := tlsconf.NewCA("test device CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "db.sqlite"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, ca: ca, st: st, clock: time.Now()}
	svc, err := New(Config{Store: st, CA: ca, Validity: time.Hour, Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := tlsconf.GenerateKey(tlsconf.Ed25519)
	srvCert, err := ca.Issue("localhost", srvKey.Public(), []string{"127.0.0.1"}, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	tc := &tls.Config{MinVersion: tls.VersionTLS13, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey, Leaf: srvCert}}}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(tc)))
	svc.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	f.addr = lis.Addr().String()
	return f
}

func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.clock = f.clock.Add(d)
	f.mu.Unlock()
}

// token stores a new token for device valid for ttl from the fixture's now.
func (f *fixture) token(device string, labels map[string]string, ttl time.Duration) string {
	f.t.Helper()
	tok, err := NewToken()
	if err != nil {
		f.t.Fatal(err)
	}
	now := f.now()
	if err := f.st.CreateToken(context.Background(), store.EnrollToken{Hash: HashToken(tok), Device: device,
		Labels: labels, Created: now, Expires: now.Add(ttl)}); err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// client dials the fixture, presenting cert (with key) when cert is not nil.
func (f *fixture) client(cert *x509.Certificate, key crypto.Signer) offboxv1grpc.EnrollmentClient {
	f.t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	tc := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "127.0.0.1"}
	if cert != nil {
		tc.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}
	}
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { conn.Close() })
	return offboxv1grpc.NewEnrollmentClient(conn)
}

func csrFor(t testing.TB, key crypto.Signer, cn string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newKey(t testing.TB, kt tlsconf.KeyType) crypto.Signer {
	t.Helper()
	k, err := tlsconf.GenerateKey(kt)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
