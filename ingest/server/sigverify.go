package server

import (
	"crypto/ed25519"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/offbox/offbox/transport/seal"
)

// Every batch's signature is checked with its connection's key: for a
// fleet of quiet agents, one Ed25519 verify per one-line batch, 10,667 a
// second at 10,000 agents. crypto/ed25519 decodes the public key on every
// call; curve25519-voi expands it once (a table of multiples of -A, about
// 1.5 KiB, kept per stream) and verifies about twice as fast (62 -> 32 us
// on this machine, BenchmarkVerifyDigest). It verifies with
// VerifyOptionsStdLib: exactly crypto/ed25519's acceptance rules
// (cofactorless; S canonical; R compared as encoded; small-order and
// non-canonical A accepted), which TestVerifyMatchesStdlib and
// FuzzVerifyMatchesStdlib hold it to. ECDSA keys keep seal.VerifyDigest.
// The agent never imports this package, so it does not carry the module.

var voiStdLib = &voied.Options{Verify: voied.VerifyOptionsStdLib}

// verifyDigest checks sig over a batch digest with the identity's key,
// as seal.VerifyDigest does, with an Ed25519 key expanded once.
func (id *identity) verifyDigest(digest [32]byte, sig []byte) error {
	k, ok := id.pub.(ed25519.PublicKey)
	if !ok || len(k) != ed25519.PublicKeySize {
		return seal.VerifyDigest(id.pub, digest, sig)
	}
	if id.expanded == nil {
		x, err := voied.NewExpandedPublicKey(voied.PublicKey(k))
		if err != nil {
			// Not a point: crypto/ed25519 refuses every signature too,
			// and seal.VerifyDigest says so.
			return seal.VerifyDigest(id.pub, digest, sig)
		}
		id.expanded = x
	}
	msg := seal.SignedMessage(digest)
	if !verifyExpanded(id.expanded, msg[:], sig) {
		return seal.ErrBadSignature
	}
	return nil
}

// verifyExpanded is ed25519.Verify with an expanded key.
func verifyExpanded(x *voied.ExpandedPublicKey, msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && voied.VerifyExpandedWithOptions(x, msg, sig, voiStdLib)
}
