package enroll

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
)

// MaxCSRBytes bounds a CSR: an Ed25519 or P-256 request with a subject is
// a few hundred bytes.
const MaxCSRBytes = 4096

// CheckCSR parses a PKCS #10 request and checks that it can be signed: at
// most MaxCSRBytes, its signature verifies with its own key (proof that
// the sender holds the private key), and the key is Ed25519 or ECDSA
// P-256. Nothing else in it is used: the collector decides the subject,
// extensions and validity.
func CheckCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 {
		return nil, errors.New("csr: empty")
	}
	if len(der) > MaxCSRBytes {
		return nil, fmt.Errorf("csr: %d bytes, at most %d", len(der), MaxCSRBytes)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("csr: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("csr: ECDSA key on %s: only P-256 is accepted", k.Curve.Params().Name)
		}
	default:
		return nil, fmt.Errorf("csr: %s key: only Ed25519 and ECDSA P-256 are accepted", csr.PublicKeyAlgorithm)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("csr: signature does not verify with its key (no proof of possession): %w", err)
	}
	return csr, nil
}
