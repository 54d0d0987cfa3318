// Package secret makes and hashes the bearer secrets the collector hands
// out (enrollment and operator tokens): 32 random bytes behind a prefix
// that says what the token is for, of which only the SHA-256 is stored.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// NewToken returns prefix and 32 random bytes in unpadded base64url.
func NewToken(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash is what a store keeps of a token, and what a lookup compares: the
// SHA-256 of its whole text.
func Hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
