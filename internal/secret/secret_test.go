package secret

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"
)

func TestNewTokenAndHash(t *testing.T) {
	t.Parallel()
	a, err := NewToken("obx_")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewToken("obx_")
	if !strings.HasPrefix(a, "obx_") || len(a) != 4+43 || a == b {
		t.Errorf("tokens %q and %q: want obx_ and 43 base64url characters, different each time", a, b)
	}
	want := sha256.Sum256([]byte(a))
	if !bytes.Equal(Hash(a), want[:]) || bytes.Equal(Hash(a), Hash(b)) {
		t.Error("Hash is not the SHA-256 of the token text")
	}
}
