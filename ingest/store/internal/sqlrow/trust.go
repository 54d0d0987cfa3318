package sqlrow

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// TokenRow is an enrollment token's columns as UseToken reads them.
type TokenRow struct {
	Labels                 string // JSON, as EncodeLabels writes it
	Created, Expires, Used int64  // Unix ns; Used 0: unused
	Revoked                int64  // Unix ns; 0: not revoked
}

// Use checks that the token may be used at now and, if so, fills t (hash
// and the row's values, Used now) for the engine to mark it used. It
// returns store.ErrTokenUsed, store.ErrTokenRevoked or
// store.ErrTokenExpired, saying when.
func (r *TokenRow) Use(t *store.EnrollToken, hash []byte, now time.Time) error {
	switch {
	case r.Used != 0:
		return fmt.Errorf("%w (at %s)", store.ErrTokenUsed, TimeNs(r.Used).Format(time.RFC3339))
	case r.Revoked != 0:
		return fmt.Errorf("%w (at %s)", store.ErrTokenRevoked, TimeNs(r.Revoked).Format(time.RFC3339))
	case now.UnixNano() >= r.Expires:
		return fmt.Errorf("%w (at %s)", store.ErrTokenExpired, TimeNs(r.Expires).Format(time.RFC3339))
	}
	if err := json.Unmarshal([]byte(r.Labels), &t.Labels); err != nil {
		return fmt.Errorf("store: enrollment token labels: %w", err)
	}
	t.Hash, t.Created, t.Expires, t.Used = hash, TimeNs(r.Created), TimeNs(r.Expires), now.UTC()
	return nil
}

// EncodeKeyIDs is a revocation's key_ids column: a JSON list of the key
// ids in hex.
func EncodeKeyIDs(ids [][]byte) (string, error) {
	hexIDs := make([]string, len(ids))
	for i, k := range ids {
		hexIDs[i] = hex.EncodeToString(k)
	}
	b, err := json.Marshal(hexIDs)
	return string(b), err
}

// DecodeKeyIDs is the inverse of EncodeKeyIDs; device names the
// revocation in errors.
func DecodeKeyIDs(device, col string) ([][]byte, error) {
	var hexIDs []string
	if err := json.Unmarshal([]byte(col), &hexIDs); err != nil {
		return nil, fmt.Errorf("store: revocation of %s: key ids: %w", device, err)
	}
	var ids [][]byte
	for _, id := range hexIDs {
		b, err := hex.DecodeString(id)
		if err != nil {
			return nil, fmt.Errorf("store: revocation of %s: key id %q: %w", device, id, err)
		}
		ids = append(ids, b)
	}
	return ids, nil
}

// ScanOperatorToken scans hash, name, created_ns, expires_ns, revoked_ns.
func ScanOperatorToken(r Scanner) (store.OperatorToken, error) {
	var t store.OperatorToken
	var created, expires, revoked int64
	if err := r.Scan(&t.Hash, &t.Name, &created, &expires, &revoked); err != nil {
		return t, err
	}
	t.Created, t.Expires, t.Revoked = TimeNs(created), TimeNs(expires), TimeNs(revoked)
	return t, nil
}
