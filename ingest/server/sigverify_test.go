package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/offbox/offbox/transport/seal"
)

// le32 is n as 32 little-endian bytes (n < 2^256).
func le32(n *big.Int) []byte {
	b := n.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return b
}

type sigCase struct {
	name          string
	pub, msg, sig []byte
}

// sigCases are signatures at the edges of Ed25519's acceptance rules,
// where implementations disagree (non-canonical encodings, small-order
// points, S out of range, wrong lengths), and a valid one. The test and
// the fuzz seeds share them.
func sigCases(t testing.TB) []sigCase {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte(seal.SigningPrefix + "0123456789abcdef0123456789abcdef")
	good := ed25519.Sign(priv, msg)
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	with := func(sig []byte, at int, part []byte) []byte {
		s := bytes.Clone(sig)
		copy(s[at:], part)
		return s
	}
	sPlusL := le32(new(big.Int).Add(new(big.Int).SetBytes(reverse(good[32:])), l))
	identity := le32(big.NewInt(1))                        // the neutral point, canonical
	identityNC := le32(new(big.Int).Add(p, big.NewInt(1))) // the neutral point, y = 1 + p: non-canonical
	zero := make([]byte, 32)
	// A y with no x on the curve: a public key that is not a point.
	var notPoint []byte
	for y := int64(2); notPoint == nil; y++ {
		if _, err := voied.NewExpandedPublicKey(le32(big.NewInt(y))); err != nil {
			notPoint = le32(big.NewInt(y))
		}
	}
	cat := func(a, b []byte) []byte { return append(bytes.Clone(a), b...) }
	return []sigCase{
		{"valid", pub, msg, good},
		{"other message", pub, []byte("other"), good},
		{"R flipped", pub, msg, with(good, 0, []byte{good[0] ^ 1})},
		{"S flipped", pub, msg, with(good, 32, []byte{good[32] ^ 1})},
		{"S + L (non-canonical S)", pub, msg, with(good, 32, sPlusL)},
		{"S high bit set", pub, msg, with(good, 63, []byte{good[63] | 0x80})},
		{"short", pub, msg, good[:63]},
		{"long", pub, msg, append(bytes.Clone(good), 0)},
		{"empty", pub, msg, nil},
		{"small-order A, R = identity, S = 0", identity, msg, cat(identity, zero)},
		{"non-canonical A (identity, y = 1 + p)", identityNC, msg, cat(identity, zero)},
		{"non-canonical R (identity, y = 1 + p)", identity, msg, cat(identityNC, zero)},
		{"S = L, small-order A", identity, msg, cat(identity, le32(l))},
		{"all zero key", zero, msg, cat(zero, zero)},
		{"key not a point", notPoint, msg, good},
	}
}

func reverse(b []byte) []byte {
	r := bytes.Clone(b)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return r
}

// verifyLikeCollector verifies as the collector does: the key expanded
// once, or crypto/ed25519 (through seal) when it is not a point.
func verifyLikeCollector(pub, msg, sig []byte) bool {
	x, err := voied.NewExpandedPublicKey(pub)
	if err != nil {
		return ed25519.Verify(pub, msg, sig)
	}
	return verifyExpanded(x, msg, sig)
}

// TestVerifyMatchesStdlib: the collector accepts exactly the signatures
// crypto/ed25519 accepts, including at the edges of the rules.
func TestVerifyMatchesStdlib(t *testing.T) {
	accepted := 0
	for _, tc := range sigCases(t) {
		want := ed25519.Verify(tc.pub, tc.msg, tc.sig)
		if got := verifyLikeCollector(tc.pub, tc.msg, tc.sig); got != want {
			t.Errorf("%s: collector accepts %v, crypto/ed25519 %v", tc.name, got, want)
		}
		if want {
			accepted++
		}
	}
	// The table must reach both sides: the valid signature and the
	// small-order and non-canonical keys crypto/ed25519 accepts.
	if accepted < 3 {
		t.Errorf("only %d cases accepted by crypto/ed25519; the table lost its edge cases", accepted)
	}
}

// FuzzVerifyMatchesStdlib: for any key, message and signature the
// collector's verdict is crypto/ed25519's. A pub that is not 32 bytes
// seeds a real key instead, whose signature of msg is XORed with flip, so
// the fuzzer also explores signatures one step from valid.
func FuzzVerifyMatchesStdlib(f *testing.F) {
	for _, tc := range sigCases(f) {
		f.Add(tc.pub, tc.msg, tc.sig, []byte(nil))
	}
	f.Add([]byte("seed"), []byte("message"), []byte(nil), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, pub, msg, sig, flip []byte) {
		if len(pub) != ed25519.PublicKeySize {
			seed := sha256.Sum256(pub)
			priv := ed25519.NewKeyFromSeed(seed[:])
			pub = priv.Public().(ed25519.PublicKey)
			sig = ed25519.Sign(priv, msg)
			for i, b := range flip {
				sig[i%len(sig)] ^= b
			}
		}
		want := ed25519.Verify(pub, msg, sig)
		if got := verifyLikeCollector(pub, msg, sig); got != want {
			t.Fatalf("pub %x msg %x sig %x: collector accepts %v, crypto/ed25519 %v", pub, msg, sig, got, want)
		}
	})
}

// TestVerifyDigestKeys: a batch signature verifies with its identity's
// key on every batch of a stream (the expanded key kept), and not with
// another's; ECDSA keys take seal's path.
func TestVerifyDigestKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id, wrong, ecID := &identity{pub: pub}, &identity{pub: other}, &identity{pub: ec.Public()}
	for i := range 3 {
		d := sha256.Sum256([]byte{byte(i)})
		sig, err := seal.SignDigest(priv, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := id.verifyDigest(d, sig); err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
		if err := wrong.verifyDigest(d, sig); !errors.Is(err, seal.ErrBadSignature) {
			t.Errorf("batch %d with another key: got %v, want ErrBadSignature", i, err)
		}
		ecSig, err := seal.SignDigest(ec, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := ecID.verifyDigest(d, ecSig); err != nil {
			t.Errorf("ECDSA batch %d: %v", i, err)
		}
		if err := ecID.verifyDigest(d, sig); !errors.Is(err, seal.ErrBadSignature) {
			t.Errorf("ECDSA key, Ed25519 signature: got %v, want ErrBadSignature", err)
		}
	}
	if id.expanded == nil {
		t.Error("the Ed25519 key was not kept expanded")
	}
}

// BenchmarkVerifyDigest: one batch signature, crypto/ed25519 (through
// seal.VerifyDigest) against the collector's expanded key.
func BenchmarkVerifyDigest(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	d := sha256.Sum256([]byte("batch"))
	sig, _ := seal.SignDigest(priv, d)
	b.Run("stdlib", func(b *testing.B) {
		for b.Loop() {
			if err := seal.VerifyDigest(pub, d, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("expanded", func(b *testing.B) {
		id := &identity{pub: pub}
		for b.Loop() {
			if err := id.verifyDigest(d, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
