package store

import (
	"context"
	"errors"
	"time"
)

// Errors of UseToken; each names what is wrong with the token.
var (
	ErrTokenUnknown = errors.New("enrollment token unknown")
	ErrTokenUsed    = errors.New("enrollment token already used")
	ErrTokenExpired = errors.New("enrollment token expired")
	// ErrTokenRevoked: the token's device was revoked (Revoke) before the
	// token was used.
	ErrTokenRevoked = errors.New("enrollment token revoked with its device")
)

// TrustStore keeps what decides who may connect and read: one-time
// enrollment tokens, revocations, and operator API tokens. Tokens are
// stored as hashes only.
type TrustStore interface {
	// CreateToken stores an enrollment token (by its Hash).
	CreateToken(ctx context.Context, t EnrollToken) error
	// UseToken consumes the token whose hash is hash at now, atomically: it
	// returns the token if it existed, was unused, unexpired and not
	// revoked, and marks it used; otherwise ErrTokenUnknown, ErrTokenUsed,
	// ErrTokenExpired or ErrTokenRevoked.
	UseToken(ctx context.Context, hash []byte, now time.Time) (EnrollToken, error)
	// Revoke stores a revocation of r.Device: its certificates whose key id
	// is in r.KeyIDs or that were issued (NotBefore) before r.Time, truncated
	// to the second, are refused from then on. In the same transaction it
	// revokes the device's unused enrollment tokens, so no token made
	// before the revocation enrolls the device again.
	Revoke(ctx context.Context, r Revocation) error
	// Revocations returns every revocation, oldest first.
	Revocations(ctx context.Context) ([]Revocation, error)
	// CreateOperatorToken stores an operator API token (by its Hash).
	CreateOperatorToken(ctx context.Context, t OperatorToken) error
	// OperatorToken returns the operator token whose hash is hash; ok is
	// false when there is none or it is revoked, so a revoked token is
	// refused at its next use.
	OperatorToken(ctx context.Context, hash []byte) (t OperatorToken, ok bool, err error)
	// OperatorTokens returns every operator token, revoked ones included,
	// oldest first.
	OperatorTokens(ctx context.Context) ([]OperatorToken, error)
	// RevokeOperatorTokens revokes, at at, every operator token of the
	// operator name not yet revoked, and returns how many it revoked.
	RevokeOperatorTokens(ctx context.Context, name string, at time.Time) (int, error)
}

// EnrollToken is a one-time enrollment token for one device.
type EnrollToken struct {
	Hash    []byte // SHA-256 of the token text; the text itself is never stored
	Device  string
	Labels  map[string]string // put into the certificate (Subject OU name=value)
	Created time.Time
	Expires time.Time
	Used    time.Time // zero until used
	Revoked time.Time // zero unless its device was revoked while it was unused
}

// Revocation cuts a device off: see TrustStore.Revoke.
type Revocation struct {
	Device string
	Time   time.Time
	KeyIDs [][]byte // the device's keys known at revocation
	Reason string
	By     string // who revoked (OS user)
}

// OperatorToken lets one operator read the query API.
type OperatorToken struct {
	Hash    []byte // SHA-256 of the token text
	Name    string // the operator, as audited
	Created time.Time
	Expires time.Time // zero: never
	Revoked time.Time // zero unless revoked (RevokeOperatorTokens)
}
