package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
)

const enrollUsage = `usage: offbox enroll -server HOST:PORT -ca F -token T -dir D [-key-type ed25519|ecdsa] [-server-name N] [-if-needed]
`

// enrollMargin: with -if-needed, a certificate that expires sooner than
// this is enrolled again.
const enrollMargin = 24 * time.Hour

// enrollTimeout bounds the whole exchange with the collector.
const enrollTimeout = 30 * time.Second

// enrollCmd gets this device its certificate: it generates the key here (it
// never leaves the device: only a CSR is sent), exchanges the one-time
// token and the CSR with the collector over TLS that authenticates the
// collector against -ca, checks what comes back, and writes DIR/device.pem
// (0644) and DIR/device-key.pem (0600).
func enrollCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("enroll", flag.ContinueOnError)
	server := fs.String("server", "", "collector `HOST:PORT`")
	caFile := fs.String("ca", "", "CA `file` (PEM) that signed the collector's certificate; the device certificate must chain to it too")
	token := fs.String("token", "", "one-time enrollment `token` (offbox-ingest token create)")
	tokenFile := fs.String("token-file", "", "read the token from `file` instead (keeps it out of the process list)")
	dir := fs.String("dir", "", "`directory` to write device.pem and device-key.pem into (created 0700 if missing)")
	keyType := fs.String("key-type", "ed25519", "key `type`: ed25519 or ecdsa (P-256)")
	serverName := fs.String("server-name", "", "`name` the collector's certificate must carry (default: the host of -server)")
	ifNeeded := fs.Bool("if-needed", false, "do nothing if DIR holds a valid certificate and key (more than 24h left)")
	fs.Usage = func() { fmt.Fprint(stderr, enrollUsage); fs.PrintDefaults() }
	if code, ok := parseFlags(fs, "enroll", args, stderr); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "offbox enroll: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if *server == "" || *caFile == "" || *dir == "" {
		return usageErr("-server, -ca and -dir are required")
	}
	host, _, err := net.SplitHostPort(*server)
	if err != nil {
		return usageErr("-server %q: want HOST:PORT", *server)
	}
	if *serverName == "" {
		*serverName = host
	}
	var kt tlsconf.KeyType
	switch *keyType {
	case "ed25519":
		kt = tlsconf.Ed25519
	case "ecdsa", "ecdsa-p256":
		kt = tlsconf.ECDSAP256
	default:
		return usageErr("-key-type %q: want ed25519 or ecdsa", *keyType)
	}
	if *token != "" && *tokenFile != "" {
		return usageErr("-token and -token-file exclude each other")
	}
	if *token == "" && *tokenFile == "" && !*ifNeeded {
		return usageErr("-token (or -token-file) is required")
	}
	failf := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "offbox enroll: "+format+"\n", a...)
		return 1
	}
	pool, err := loadPool(*caFile)
	if err != nil {
		return failf("%v", err)
	}
	certFile, keyFile := filepath.Join(*dir, "device.pem"), filepath.Join(*dir, "device-key.pem")
	if *ifNeeded {
		cert, err := validCredential(certFile, keyFile, pool, time.Now())
		if err == nil {
			fmt.Fprintf(stdout, "offbox enroll: %s already holds the certificate of %s, valid until %s; nothing to do\n",
				*dir, cert.Subject.CommonName, cert.NotAfter.Format(time.RFC3339))
			return 0
		}
		fmt.Fprintf(stderr, "offbox enroll: enrolling: %v\n", err)
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return failf("-token-file: %v", err)
		}
		*token = strings.TrimSpace(string(b))
	}
	if *token == "" {
		return failf("no valid credential in %s, and no -token to enroll with", *dir)
	}

	key, err := tlsconf.GenerateKey(kt)
	if err != nil {
		return failf("generating the key: %v", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "offbox enroll"}}, key)
	if err != nil {
		return failf("making the CSR: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	resp, err := requestCertificate(ctx, *server, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: *serverName},
		&offboxv1.EnrollRequest{Token: *token, CsrDer: csr})
	if err != nil {
		return failf("%s: %v", *server, err)
	}
	cert, err := checkIssued(resp.GetCertificateDer(), resp.GetDeviceId(), key, pool, time.Now())
	if err != nil {
		return failf("the collector's answer is unusable: %v", err)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return failf("%v", err)
	}
	if err := tlsconf.InstallKeyPair(certFile, keyFile, cert, key); err != nil {
		return failf("writing the certificate and key: %v", err)
	}
	fmt.Fprintf(stdout, "enrolled as %s; certificate valid until %s; wrote %s and %s\n",
		cert.Subject.CommonName, cert.NotAfter.Format(time.RFC3339), certFile, keyFile)
	return 0
}

func loadPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("-ca %s: no PEM certificate found", caFile)
	}
	return pool, nil
}

// requestCertificate calls Enrollment.Enroll over TLS that authenticates
// the collector only, and turns a refusal into a sentence.
func requestCertificate(ctx context.Context, server string, tc *tls.Config, req *offboxv1.EnrollRequest) (*offboxv1.EnrollResponse, error) {
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
	case codes.Unauthenticated, codes.InvalidArgument, codes.PermissionDenied:
		return nil, fmt.Errorf("refused: %s", s.Message())
	case codes.Unimplemented:
		return nil, errors.New("the collector does not serve enrollment (enroll.ca_key is not set in its configuration)")
	case codes.Unavailable, codes.DeadlineExceeded:
		return nil, fmt.Errorf("cannot reach the collector: %s", s.Message())
	}
	return nil, fmt.Errorf("%s: %s", s.Code(), s.Message())
}

// checkIssued: the certificate is for our key, a client certificate that
// chains to the CA, valid now, and names the device the collector said.
func checkIssued(der []byte, device string, key crypto.Signer, pool *x509.CertPool, now time.Time) (*x509.Certificate, error) {
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

// validCredential returns the certificate in certFile if it and keyFile
// are a matching pair, chain to the CA as a client certificate and have
// more than enrollMargin left; otherwise it says what is wrong.
func validCredential(certFile, keyFile string, pool *x509.CertPool, now time.Time) (*x509.Certificate, error) {
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
	if left := cert.NotAfter.Sub(now); left < enrollMargin {
		return nil, fmt.Errorf("%s expires at %s, in less than %s", certFile, cert.NotAfter.Format(time.RFC3339), enrollMargin)
	}
	return cert, nil
}
