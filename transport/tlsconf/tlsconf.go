// Package tlsconf builds the mutual-TLS configuration both programs use:
// TLS 1.3 only, client certificates required and verified against the
// device CA, and the device identity read from the certificate, never from
// anything the device says. Certificates, keys and the CA reload on change
// without a restart: a handshake looks at the files at most once per
// CheckEvery, a change is detected by content hash, and when new material
// does not load the last good material stays in use (and the error is
// logged). Everything is checked at Load, so a bad file fails at start.
package tlsconf

import (
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/offbox/offbox/transport/seal"
)

// Files names the PEM files of one side: the CA that signs the peer's
// certificate, our certificate (chain) and our private key.
// The yaml tags are its keys in the agent's configuration file (the tls
// section; json the same, for the config hash).
type Files struct {
	CA   string `yaml:"ca" json:"ca"`
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// Options tune reloading.
type Options struct {
	CheckEvery time.Duration // how often a handshake may re-read the files; 0 means 1s
	Logger     *slog.Logger  // nil: slog.Default()
	Now        func() time.Time
}

type material struct {
	hash [32]byte
	cert tls.Certificate
	leaf *x509.Certificate
	pool *x509.CertPool
}

// Source holds the current TLS material and reloads it on change.
type Source struct {
	files Files
	opt   Options

	mu        sync.Mutex
	cur       *material
	lastCheck time.Time
	lastErr   string
}

// Load reads and checks the files: the CA parses, the certificate matches
// the key, the certificate is currently valid.
func Load(f Files, opt Options) (*Source, error) {
	if f.CA == "" || f.Cert == "" || f.Key == "" {
		return nil, errors.New("tls: ca, cert and key files are all required")
	}
	if opt.CheckEvery == 0 {
		opt.CheckEvery = time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Source{files: f, opt: opt}
	m, err := s.read()
	if err != nil {
		return nil, err
	}
	if now := opt.Now(); now.After(m.leaf.NotAfter) || now.Before(m.leaf.NotBefore) {
		return nil, fmt.Errorf("tls: certificate %s is valid from %s to %s, not now", f.Cert,
			m.leaf.NotBefore.Format(time.RFC3339), m.leaf.NotAfter.Format(time.RFC3339))
	}
	s.cur, s.lastCheck = m, opt.Now()
	return s, nil
}

func (s *Source) read() (*material, error) {
	caPEM, err := os.ReadFile(s.files.CA)
	if err != nil {
		return nil, fmt.Errorf("tls: CA: %w", err)
	}
	certPEM, err := os.ReadFile(s.files.Cert)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(s.files.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: key: %w", err)
	}
	h := sha256.New()
	for _, b := range [][]byte{caPEM, {0}, certPEM, {0}, keyPEM} {
		h.Write(b)
	}
	var m material
	h.Sum(m.hash[:0])
	if s.cur != nil && s.cur.hash == m.hash {
		return s.cur, nil
	}
	m.pool = x509.NewCertPool()
	if !m.pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("tls: CA %s: no PEM certificate found", s.files.CA)
	}
	m.cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls: certificate %s with key %s: %w", s.files.Cert, s.files.Key, err)
	}
	m.leaf = m.cert.Leaf
	if m.leaf == nil {
		if m.leaf, err = x509.ParseCertificate(m.cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls: certificate %s: %w", s.files.Cert, err)
		}
	}
	return &m, nil
}

// current returns the material, re-reading the files if CheckEvery passed.
func (s *Source) current() *material {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Now()
	if now.Sub(s.lastCheck) < s.opt.CheckEvery {
		return s.cur
	}
	s.lastCheck = now
	m, err := s.read()
	if err != nil {
		if msg := err.Error(); msg != s.lastErr {
			s.lastErr = msg
			s.opt.Logger.Error("tls reload failed; keeping the last good certificate", "err", err)
		}
		return s.cur
	}
	s.lastErr = ""
	if m != s.cur {
		s.opt.Logger.Info("tls material reloaded", "cert", s.files.Cert, "subject", m.leaf.Subject.String(),
			"not_after", m.leaf.NotAfter.Format(time.RFC3339))
		s.cur = m
	}
	return s.cur
}

// Reload re-reads the files now, whatever CheckEvery says, and reports
// whether new material is in use.
func (s *Source) Reload() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.read()
	if err != nil {
		return false, err
	}
	changed := m != s.cur
	s.cur, s.lastCheck = m, s.opt.Now()
	return changed, nil
}

// Leaf is our current certificate.
func (s *Source) Leaf() *x509.Certificate { return s.current().leaf }

// Signer is the private key of our current certificate.
func (s *Source) Signer() crypto.Signer {
	k, _ := s.current().cert.PrivateKey.(crypto.Signer)
	return k
}

// Pool is the current CA pool.
func (s *Source) Pool() *x509.CertPool { return s.current().pool }

// ServerConfig is a TLS 1.3 server configuration that requires and verifies
// client certificates against the CA, reloading on handshake.
func (s *Source) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.current()
			return &tls.Config{
				MinVersion:   tls.VersionTLS13,
				Certificates: []tls.Certificate{m.cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    m.pool,
				NextProtos:   []string{"h2"},
			}, nil
		},
	}
}

// ClientConfig is a TLS 1.3 client configuration presenting our certificate
// and verifying the server against the (reloadable) CA pool and serverName.
func (s *Source) ClientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c := s.current().cert
			return &c, nil
		},
		// The CA pool can change at run time, so verification is done here
		// against the current pool instead of a fixed RootCAs.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, s.current().pool, serverName, s.opt.Now())
		},
	}
}

func verifyServer(cs tls.ConnectionState, pool *x509.CertPool, serverName string, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	name := serverName
	if name == "" {
		name = cs.ServerName
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, DNSName: name, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("tls: server certificate: %w", err)
	}
	return nil
}

var deviceIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`)

// ValidDeviceID reports whether id is acceptable as a device id: 1 to 128
// characters of letters, digits and . _ : @ -, starting with a letter or digit.
func ValidDeviceID(id string) bool { return deviceIDRE.MatchString(id) }

// Identity is the device a client certificate names: its device id is the
// certificate's Subject Common Name, its key id the SHA-256 of the
// certificate's SubjectPublicKeyInfo.
func Identity(cert *x509.Certificate) (deviceID string, keyID []byte, err error) {
	deviceID = cert.Subject.CommonName
	if !ValidDeviceID(deviceID) {
		return "", nil, fmt.Errorf("certificate subject CN %q is not a valid device id", deviceID)
	}
	keyID, err = seal.KeyID(cert.PublicKey)
	return deviceID, keyID, err
}

// LoadCAPool reads a PEM file of CA certificates into a pool (the CAs a
// collector's outbound sinks trust); a file with none is an error.
func LoadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}
