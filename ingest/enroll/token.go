package enroll

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/offbox/offbox/internal/secret"
)

// TokenPrefix starts every enrollment token, so one is recognised in a
// paste or a leaked log.
const TokenPrefix = "obe_"

// maxTokenBytes bounds what Enroll hashes: a token is 47 bytes.
const maxTokenBytes = 256

// NewToken makes an enrollment token: TokenPrefix and 32 random bytes in
// unpadded base64url. Only its HashToken is stored.
func NewToken() (string, error) { return secret.NewToken(TokenPrefix) }

// HashToken is what the store keeps of a token: the SHA-256 of its text.
func HashToken(token string) []byte { return secret.Hash(token) }

// maxLabelBytes is the longest "name=value": X.520 bounds an OU to 64.
const maxLabelBytes = 64

// CheckLabel reports whether name=value can be a certificate label (an OU
// that ingest/alerts.CertLabels reads back): the name is letters, digits
// and . _ -; the value printable; together at most 64 bytes.
func CheckLabel(name, value string) error {
	if name == "" {
		return errors.New("label: empty name")
	}
	for _, r := range name {
		if !(r < utf8.RuneSelf && (r == '.' || r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return fmt.Errorf("label %q: name may hold only letters, digits and . _ -", name)
		}
	}
	if !utf8.ValidString(value) || strings.IndexFunc(value, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("label %s: value %q is not printable text", name, value)
	}
	if n := len(name) + 1 + len(value); n > maxLabelBytes {
		return fmt.Errorf("label %s: %d bytes as name=value, at most %d", name, n, maxLabelBytes)
	}
	return nil
}
