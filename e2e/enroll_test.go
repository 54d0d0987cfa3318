package e2e

// Enrollment (issue 5): a one-time token made on the collector, a key made
// on the device, and a device that ships records with the certificate it
// got.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
)

func tokenCreate(t *testing.T, db string, args ...string) string {
	t.Helper()
	so, se, code := run(t, bin.ingest, append([]string{"token", "create", "-db", db}, args...)...)
	if code != 0 || !strings.HasPrefix(so, "obe_") {
		t.Fatalf("token create: exit %d, stdout %q, stderr %q", code, so, se)
	}
	return strings.TrimSpace(so)
}

func TestEnrollShipsAndTokenIsOneTime(t *testing.T) {
	skipShort(t)
	p := newPKI(t, "unused")
	work := t.TempDir()
	conf := filepath.Join(work, "offbox-ingest.yaml")
	if err := os.WriteFile(conf, []byte("enroll:\n  ca_key: "+filepath.Join(string(p), "ca-key.pem")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(work, "offbox.db")
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", conf)

	tok := tokenCreate(t, db, "-device", "enrolled-1", "-label", "site=lab")
	dev := filepath.Join(work, "device") // does not exist yet
	enrollArgs := []string{"enroll", "-server", in.addr, "-ca", p.ca(), "-token", tok, "-dir", dev}
	so, se, code := run(t, bin.agent, enrollArgs...)
	if code != 0 || !strings.Contains(so, "enrolled as enrolled-1") {
		t.Fatalf("enroll: exit %d, stdout %q, stderr %q", code, so, se)
	}
	certPEM, err := os.ReadFile(filepath.Join(dev, "device.pem"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "enrolled-1" || !slices.Equal(cert.Subject.OrganizationalUnit, []string{"site=lab"}) {
		t.Errorf("certificate subject %s, want CN=enrolled-1, OU=site=lab", cert.Subject)
	}
	if fi, err := os.Stat(filepath.Join(dev, "device-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("device-key.pem: %v %v, want mode 0600", fi.Mode(), err)
	}

	// The enrolled device ships.
	logf := filepath.Join(work, "app.log")
	if err := os.WriteFile(logf, []byte("enrolled and shipping\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ag := start(t, bin.agent, "run", "-server", in.addr, "-ca", p.ca(), "-cert", filepath.Join(dev, "device.pem"),
		"-key", filepath.Join(dev, "device-key.pem"), "-tail", logf, "-start-at", "beginning")
	waitFor(t, 20*time.Second, "the enrolled device's line to be stored", func() bool {
		return count(t, db, "-device", "enrolled-1", "-source", "file:"+logf) >= 1
	})
	if recs := records(t, db, "-device", "enrolled-1", "-source", "file:"+logf); len(recs) != 1 || recs[0].Body != "enrolled and shipping" {
		t.Errorf("records = %+v, want the one line", recs)
	}
	ag.stop()

	// The token works once.
	_, se, code = run(t, bin.agent, "enroll", "-server", in.addr, "-ca", p.ca(), "-token", tok, "-dir", filepath.Join(work, "again"))
	if code != 1 || !strings.Contains(se, "enrollment token already used (at ") {
		t.Errorf("enroll with a used token: exit %d, stderr %q; want 1 and \"enrollment token already used (at \"", code, se)
	}

	// An expired token is refused.
	short := tokenCreate(t, db, "-device", "late-1", "-ttl", "1s")
	time.Sleep(1500 * time.Millisecond)
	_, se, code = run(t, bin.agent, "enroll", "-server", in.addr, "-ca", p.ca(), "-token", short, "-dir", filepath.Join(work, "late"))
	if code != 1 || !strings.Contains(se, "enrollment token expired (at ") {
		t.Errorf("enroll with an expired token: exit %d, stderr %q; want 1 and \"enrollment token expired (at \"", code, se)
	}

	// The listener now admits connections without a client certificate,
	// but neither a session nor a renewal is served on one.
	noCertRefused(t, in.addr, p.ca())

	// With a valid credential in place, -if-needed does nothing and does
	// not need the collector.
	in.stop()
	so, se, code = run(t, bin.agent, append(enrollArgs, "-if-needed")...)
	if code != 0 || !strings.Contains(so, "nothing to do") {
		t.Errorf("enroll -if-needed: exit %d, stdout %q, stderr %q; want 0 and nothing to do", code, so, se)
	}
	if after, _ := os.ReadFile(filepath.Join(dev, "device.pem")); string(after) != string(certPEM) {
		t.Error("enroll -if-needed replaced the certificate")
	}
}

func noCertRefused(t *testing.T, addr, caFile string) {
	t.Helper()
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "127.0.0.1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = offboxv1grpc.NewEnrollmentClient(conn).Renew(ctx, &offboxv1.RenewRequest{CsrDer: []byte("x")})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("Renew without a client certificate: %v, want Unauthenticated", err)
	}
	st, err := offboxv1grpc.NewIngestClient(conn).Stream(ctx)
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("Stream without a client certificate: %v, want Unauthenticated", err)
	}
}
