package enroll

import (
	"bytes"
	"crypto/x509"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/seal"
)

// Revoked reports whether cert, a certificate of device, is cut off by one
// of revs (store.TrustStore.Revoke): a revocation of that device whose
// KeyIDs hold the certificate's key id, or whose Time, truncated to the
// second, is after the certificate's NotBefore. Certificates are issued
// with NotBefore truncated to the second and never backdated, so one
// issued after a revocation (re-enrollment) is not refused by it.
func Revoked(revs []store.Revocation, device string, cert *x509.Certificate) bool {
	keyID, err := seal.KeyID(cert.PublicKey)
	if err != nil {
		keyID = nil // an unusable key matches no key id; the time still applies
	}
	for _, r := range revs {
		if r.Device != device {
			continue
		}
		if r.Time.Truncate(time.Second).After(cert.NotBefore) {
			return true
		}
		for _, k := range r.KeyIDs {
			if keyID != nil && bytes.Equal(k, keyID) {
				return true
			}
		}
	}
	return false
}
