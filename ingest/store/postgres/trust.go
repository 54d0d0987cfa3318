package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// CreateToken implements store.TrustStore.
func (s *Store) CreateToken(ctx context.Context, t store.EnrollToken) error {
	return sqlrow.CreateToken(ctx, s.writeTx, `INSERT INTO enroll_tokens (hash, device, labels, created_ns, expires_ns) VALUES ($1, $2, $3, $4, $5)`,
		&t, s.timeOr(t.Created))
}

// UseToken implements store.TrustStore. The row is locked (FOR UPDATE)
// from the check to the marking, so two enrollments racing with one token,
// on this collector or another, cannot both win.
func (s *Store) UseToken(ctx context.Context, hash []byte, now time.Time) (t store.EnrollToken, err error) {
	err = s.writeTx(ctx, func(ctx context.Context, tx sqlrow.Tx) (err error) {
		t, err = sqlrow.UseToken(ctx, tx, `SELECT device, labels, created_ns, expires_ns, used_ns, revoked_ns FROM enroll_tokens WHERE hash = $1 FOR UPDATE`,
			`UPDATE enroll_tokens SET used_ns = $1 WHERE hash = $2 AND used_ns = 0`, hash, now)
		return err
	})
	if err != nil {
		return store.EnrollToken{}, err
	}
	return t, nil
}

// Revoke implements store.TrustStore.
func (s *Store) Revoke(ctx context.Context, r store.Revocation) error {
	return sqlrow.Revoke(ctx, s.writeTx, `INSERT INTO revocations (device, time_ns, key_ids, reason, by) VALUES ($1, $2, $3, $4, $5)`,
		`UPDATE enroll_tokens SET revoked_ns = $1 WHERE device = $2 AND used_ns = 0 AND revoked_ns = 0`, &r, s.timeOr(r.Time))
}

// Revocations implements store.TrustStore.
func (s *Store) Revocations(ctx context.Context) ([]store.Revocation, error) {
	return sqlrow.All(ctx, s.db(), "revocations", sqlrow.ScanRevocation,
		`SELECT device, time_ns, key_ids, reason, by FROM revocations ORDER BY id`)
}

// CreateOperatorToken implements store.TrustStore.
func (s *Store) CreateOperatorToken(ctx context.Context, t store.OperatorToken) error {
	return sqlrow.CreateOperatorToken(ctx, s.writeTx, `INSERT INTO operator_tokens (hash, name, created_ns, expires_ns) VALUES ($1, $2, $3, $4)`,
		&t, s.timeOr(t.Created))
}

// OperatorToken implements store.TrustStore.
func (s *Store) OperatorToken(ctx context.Context, hash []byte) (store.OperatorToken, bool, error) {
	return sqlrow.OperatorToken(ctx, s.db(), `SELECT name, created_ns, expires_ns FROM operator_tokens WHERE hash = $1 AND revoked_ns = 0`, hash)
}

// OperatorTokens implements store.TrustStore.
func (s *Store) OperatorTokens(ctx context.Context) ([]store.OperatorToken, error) {
	return sqlrow.All(ctx, s.db(), "operator tokens", sqlrow.ScanOperatorToken,
		`SELECT hash, name, created_ns, expires_ns, revoked_ns FROM operator_tokens ORDER BY created_ns, name`)
}

// RevokeOperatorTokens implements store.TrustStore.
func (s *Store) RevokeOperatorTokens(ctx context.Context, name string, at time.Time) (int, error) {
	return sqlrow.RevokeOperatorTokens(ctx, s.writeTx, `UPDATE operator_tokens SET revoked_ns = $1 WHERE name = $2 AND revoked_ns = 0`,
		name, s.timeOr(at))
}

// writeTx runs fn as one write of its own (sqlrow.Write).
func (s *Store) writeTx(ctx context.Context, fn func(context.Context, sqlrow.Tx) error) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	return w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) error { return fn(ctx, pgDB{tx}) })
}
