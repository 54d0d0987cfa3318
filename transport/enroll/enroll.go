// Package enroll is the device side of enrollment (the Enrollment service of
// transport/proto/offbox/v1; ingest/enroll is the collector's side): it
// makes the CSR for a key generated on the device, exchanges it with a
// one-time token for a certificate over TLS that authenticates the
// collector, and checks what comes back. The private key never leaves the
// device: only the CSR is sent. It writes no file and must never import
// ingest/*, since the agent binary links it.
package enroll

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

// CSR is the certificate request for key. Its subject is a placeholder: the
// collector names the device after the token, never after the request.
func CSR(key crypto.Signer) ([]byte, error) {
	return x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "offbox enroll"}}, key)
}

// Request calls Enrollment.Enroll on server over tc (TLS that authenticates
// the collector only) and turns a refusal into a sentence.
func Request(ctx context.Context, server string, tc *tls.Config, req *offboxv1.EnrollRequest) (*offboxv1.EnrollResponse, error) {
	conn, err := grpc.NewClient(server, grpc.WithTransportCredentials(credentials.NewTLS(tc)), grpc.WithDisableServiceConfig())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := offboxv1grpc.NewEnrollmentClient(conn).Enroll(ctx, req)
	if err == nil {
		return resp, nil
	}
	s := status.Convert(err)
	switch s.Code() {
	case codes.Unauthenticated, codes.InvalidArgument, codes.PermissionDenied, codes.ResourceExhausted:
		return nil, fmt.Errorf("refused: %s", s.Message())
	case codes.Unimplemented:
		return nil, errors.New("the collector does not serve enrollment (enroll.ca_key is not set in its configuration)")
	case codes.Unavailable, codes.DeadlineExceeded:
		return nil, fmt.Errorf("cannot reach the collector: %s", s.Message())
	}
	return nil, fmt.Errorf("%s: %s", s.Code(), s.Message())
}

// CheckIssued parses the certificate the collector sent and checks it: it
// is for key (generated here), a client certificate that chains to the CA
// in pool, valid at now, and names the device the collector said.
func CheckIssued(der []byte, device string, key crypto.Signer, pool *x509.CertPool, now time.Time) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("the certificate is not for the key generated here")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	if _, _, err := tlsconf.Identity(cert); err != nil {
		return nil, err
	}
	if cert.Subject.CommonName != device {
		return nil, fmt.Errorf("certificate names %q, the collector said %q", cert.Subject.CommonName, device)
	}
	return cert, nil
}

// ValidCredential returns the certificate in certFile if it and keyFile
// are a matching pair, chain to the CA in pool as a client certificate and
// have more than margin left at now; otherwise it says what is wrong.
func ValidCredential(certFile, keyFile string, pool *x509.CertPool, now time.Time, margin time.Duration) (*x509.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("no usable credential: %w", err)
	}
	cert := pair.Leaf
	if cert == nil {
		if cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", certFile, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if left := cert.NotAfter.Sub(now); left < margin {
		return nil, fmt.Errorf("%s expires at %s, in less than %s", certFile, cert.NotAfter.Format(time.RFC3339), margin)
	}
	return cert, nil
}
