package enroll

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/offbox/offbox/transport/tlsconf"
)

// LoadCA reads the device CA that signs enrolled devices: keyFile (PEM,
// PKCS #8 or EC) must be the key of a CA certificate in caFile, the file
// the ingest listener verifies devices against, so every certificate it
// issues is one the collector admits.
func LoadCA(caFile, keyFile string) (*tlsconf.CA, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("enroll.ca_key: %w", err)
	}
	key, err := tlsconf.ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("enroll.ca_key %s: %w", keyFile, err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tls.ca: %w", err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok {
		return nil, fmt.Errorf("enroll.ca_key %s: key type %T not supported", keyFile, key.Public())
	}
	for rest := caPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls.ca %s: %w", caFile, err)
		}
		if !pub.Equal(c.PublicKey) {
			continue
		}
		if !c.IsCA || (c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0) {
			return nil, fmt.Errorf("enroll.ca_key %s: its certificate in %s is not a CA that may sign certificates", keyFile, caFile)
		}
		return &tlsconf.CA{Cert: c, Key: key}, nil
	}
	return nil, fmt.Errorf("enroll.ca_key %s is not the key of any certificate in tls.ca %s: the collector would not admit what it signs", keyFile, caFile)
}
