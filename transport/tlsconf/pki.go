package tlsconf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// KeyType selects the algorithm of a generated key.
type KeyType string

const (
	Ed25519   KeyType = "ed25519"
	ECDSAP256 KeyType = "ecdsa-p256"
)

// GenerateKey makes a private key of type kt ("" means Ed25519).
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case "", Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("key type %q: use ed25519 or ecdsa-p256", kt)
	}
}

// CA is a certificate authority held in memory.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}

// NewCA makes a self-signed CA valid for validity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := GenerateKey(Ed25519)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"offbox"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA certificate and its key from PEM files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// ParseKeyPEM reads a PKCS#8 (or EC) private key.
func ParseKeyPEM(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM private key")
	}
	var k any
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T cannot sign", k)
	}
	return s, nil
}

// Issue signs a leaf certificate for pub. A client certificate's CN is the
// device id; a server certificate carries hosts as DNS names or IP SANs.
func (ca *CA) Issue(cn string, pub crypto.PublicKey, hosts []string, client bool, validity time.Duration) (*x509.Certificate, error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// OperatorOU is the Subject OU that marks an operator's client
// certificate for the query API and dashboard. Device certificates never
// carry it: enrollment writes only "name=value" label OUs, and the API
// refuses a certificate without it, so a device certificate is never an
// operator's even if its CA were trusted for operators.
const OperatorOU = "offbox-operator"

// IssueOperator signs an operator's client certificate for pub: CN is
// the operator's name, marked with OperatorOU.
func (ca *CA) IssueOperator(cn string, pub crypto.PublicKey, validity time.Duration) (*x509.Certificate, error) {
	now := time.Now()
	return ca.issueClient(pkix.Name{CommonName: cn, OrganizationalUnit: []string{OperatorOU}}, pub, now.Add(-time.Hour), now.Add(validity))
}

// issueClient signs a client certificate for pub under subject, valid from
// notBefore to notAfter.
func (ca *CA) issueClient(subject pkix.Name, pub crypto.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      subject,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// IsOperator reports whether c is marked as an operator's (OperatorOU).
func IsOperator(c *x509.Certificate) bool {
	return slices.Contains(c.Subject.OrganizationalUnit, OperatorOU)
}

// DevOperatorCerts writes into dir an operator CA of its own
// (operator-ca.pem, operator-ca-key.pem; never the device CA) and, for
// each name, an operator client certificate NAME.pem and NAME-key.pem.
func DevOperatorCerts(dir string, operators []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, o := range operators {
		if !ValidDeviceID(o) {
			return fmt.Errorf("operator %q: not a valid name (letters, digits, . _ : @ -)", o)
		}
		if o == "ca" || o == "ingest" || o == "operator-ca" {
			return fmt.Errorf("operator %q: name taken by the CA or server files", o)
		}
	}
	ca, err := NewCA("offbox dev operator CA", 2*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := WriteKeyPair(dir, "operator-ca", ca.Cert, ca.Key); err != nil {
		return err
	}
	for _, o := range operators {
		key, err := GenerateKey(Ed25519)
		if err != nil {
			return err
		}
		cert, err := ca.IssueOperator(o, key.Public(), 365*24*time.Hour)
		if err != nil {
			return err
		}
		if err := WriteKeyPair(dir, o, cert, key); err != nil {
			return err
		}
	}
	return nil
}

// IssueDevice signs a device (client) certificate for pub: CN is the
// device id, each label becomes a Subject OU "name=value" (DER sorts them),
// NotBefore is notBefore truncated to the second (not backdated: a
// revocation refuses certificates issued before it, to the second) and
// NotAfter is NotBefore+validity.
func (ca *CA) IssueDevice(cn string, labels map[string]string, pub crypto.PublicKey, notBefore time.Time, validity time.Duration) (*x509.Certificate, error) {
	if !ValidDeviceID(cn) {
		return nil, fmt.Errorf("device id %q: not a valid device id", cn)
	}
	nb := notBefore.Truncate(time.Second)
	return ca.issueClient(pkix.Name{CommonName: cn, OrganizationalUnit: labelOUs(labels)}, pub, nb, nb.Add(validity))
}

func labelOUs(labels map[string]string) []string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var ous []string
	for _, k := range names {
		ous = append(ous, k+"="+labels[k])
	}
	return ous
}

// CertPEM encodes a certificate.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// KeyPEM encodes a private key as PKCS#8.
func KeyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WriteKeyPair writes name.pem (0644) and name-key.pem (0600) into dir.
func WriteKeyPair(dir, name string, cert *x509.Certificate, key crypto.Signer) error {
	kp, err := KeyPEM(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-key.pem"), kp, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".pem"), CertPEM(cert), 0o644)
}

// DevCerts writes a throwaway PKI into dir: ca.pem (and ca-key.pem), a
// server certificate for 127.0.0.1, ::1 and localhost (ingest.pem,
// ingest-key.pem) and a client certificate per device (NAME.pem,
// NAME-key.pem). For tests and demos, not production.
func DevCerts(dir string, devices []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range devices {
		if !ValidDeviceID(d) {
			return fmt.Errorf("device %q: not a valid device id (letters, digits, . _ : @ -)", d)
		}
		if d == "ca" || d == "ingest" {
			return fmt.Errorf("device %q: name taken by the CA or server files", d)
		}
	}
	ca, err := NewCA("offbox dev CA", 2*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := WriteKeyPair(dir, "ca", ca.Cert, ca.Key); err != nil {
		return err
	}
	issue := func(name, cn string, hosts []string, client bool) error {
		key, err := GenerateKey(Ed25519)
		if err != nil {
			return err
		}
		cert, err := ca.Issue(cn, key.Public(), hosts, client, 365*24*time.Hour)
		if err != nil {
			return err
		}
		return WriteKeyPair(dir, name, cert, key)
	}
	if err := issue("ingest", "localhost", []string{"127.0.0.1", "::1", "localhost"}, false); err != nil {
		return err
	}
	for _, d := range devices {
		if err := issue(d, d, nil, true); err != nil {
			return err
		}
	}
	return nil
}
