package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/offbox/offbox/transport/enroll"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/tlsconf"
)

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
	if code, ok := parseFlags(fs, "enroll", args, stderr); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "offbox enroll: "+format+"\n", a...)
		fs.Usage()
		return 2
	}
	if missing := missingFlags(map[string]string{"-server": *server, "-ca": *caFile, "-dir": *dir}); missing != "" {
		return usageErr("%s", missing)
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
		cert, err := enroll.ValidCredential(certFile, keyFile, pool, time.Now(), enrollMargin)
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
	csr, err := enroll.CSR(key)
	if err != nil {
		return failf("making the CSR: %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, enrollTimeout)
	defer cancel()
	resp, err := enroll.Request(ctx, *server, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: *serverName},
		&offboxv1.EnrollRequest{Token: *token, CsrDer: csr})
	if err != nil {
		return failf("%s: %v", *server, err)
	}
	cert, err := enroll.CheckIssued(resp.GetCertificateDer(), resp.GetDeviceId(), key, pool, time.Now())
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

// missingFlags names the required flags that were not given ("-ca is
// required", "-ca and -dir are required"), in sorted order; "" when none is
// missing. A usage error speaks only of what is wrong.
func missingFlags(required map[string]string) string {
	var names []string
	for name, v := range required {
		if v == "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0] + " is required"
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " are required"
}
