package agent

import (
	"crypto"
	"crypto/x509"
	"errors"
	"sync"

	"github.com/offbox/offbox/transport/tlsconf"
)

// Identity is who the agent signs as: the device id (its certificate's
// Common Name), the key id (SHA-256 of the certificate's public key) and the
// key itself.
type Identity struct {
	DeviceID string
	KeyID    []byte
	Signer   crypto.Signer
	Relay    string // set on an appliance's chain (relay.go): the relay's own device id; DeviceID is the appliance
}

// TLSIdentity returns the identity of src's current client certificate, read
// again at every call so that a reloaded certificate signs the next batch.
func TLSIdentity(src *tlsconf.Source) func() (Identity, error) {
	t := &tlsIdentity{src: src}
	return t.get
}

type tlsIdentity struct {
	src *tlsconf.Source

	mu   sync.Mutex
	leaf *x509.Certificate // the certificate id was derived from
	id   Identity
}

func (t *tlsIdentity) get() (Identity, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// The certificate and the key are read separately; a reload between
	// the two reads would pair them wrongly, so they are checked and read
	// once more if they do not match.
	for range 2 {
		leaf, signer := t.src.Leaf(), t.src.Signer()
		if leaf == t.leaf && leaf != nil {
			return t.id, nil
		}
		if signer == nil {
			return Identity{}, errors.New("tls key cannot sign")
		}
		pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(leaf.PublicKey) {
			continue
		}
		deviceID, keyID, err := tlsconf.Identity(leaf)
		if err != nil {
			return Identity{}, err
		}
		t.leaf, t.id = leaf, Identity{DeviceID: deviceID, KeyID: keyID, Signer: signer}
		return t.id, nil
	}
	return Identity{}, errors.New("tls certificate and key do not match")
}
