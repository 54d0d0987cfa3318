package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// CreateToken implements store.TrustStore.
func (s *Store) CreateToken(ctx context.Context, t store.EnrollToken) error {
	if len(t.Hash) == 0 || t.Device == "" {
		return errors.New("store: enrollment token without hash or device")
	}
	labels, err := sqlrow.EncodeLabels(t.Labels)
	if err != nil {
		return err
	}
	return s.exec(ctx, "enrollment token", `INSERT INTO enroll_tokens (hash, device, labels, created_ns, expires_ns) VALUES ($1, $2, $3, $4, $5)`,
		t.Hash, t.Device, labels, s.timeOr(t.Created).UnixNano(), sqlrow.UnixNs(t.Expires))
}

// UseToken implements store.TrustStore. The row is locked (FOR UPDATE)
// from the check to the marking, so two enrollments racing with one token,
// on this collector or another, cannot both win.
func (s *Store) UseToken(ctx context.Context, hash []byte, now time.Time) (store.EnrollToken, error) {
	w, err := s.writer()
	if err != nil {
		return store.EnrollToken{}, err
	}
	var t store.EnrollToken
	err = w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) (err error) {
		t, err = sqlrow.UseToken(ctx, pgDB{tx}, `SELECT device, labels, created_ns, expires_ns, used_ns, revoked_ns FROM enroll_tokens WHERE hash = $1 FOR UPDATE`,
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
	if r.Device == "" {
		return errors.New("store: revocation without a device")
	}
	keys, err := sqlrow.EncodeKeyIDs(r.KeyIDs)
	if err != nil {
		return err
	}
	w, err := s.writer()
	if err != nil {
		return err
	}
	return w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) error {
		return sqlrow.RevokeDevice(ctx, pgDB{tx}, `INSERT INTO revocations (device, time_ns, key_ids, reason, by) VALUES ($1, $2, $3, $4, $5)`,
			`UPDATE enroll_tokens SET revoked_ns = $1 WHERE device = $2 AND used_ns = 0 AND revoked_ns = 0`, &r, keys, s.timeOr(r.Time).UnixNano())
	})
}

// Revocations implements store.TrustStore.
func (s *Store) Revocations(ctx context.Context) ([]store.Revocation, error) {
	return sqlrow.All(ctx, s.db(), "revocations", sqlrow.ScanRevocation,
		`SELECT device, time_ns, key_ids, reason, by FROM revocations ORDER BY id`)
}

// CreateOperatorToken implements store.TrustStore.
func (s *Store) CreateOperatorToken(ctx context.Context, t store.OperatorToken) error {
	if len(t.Hash) == 0 || t.Name == "" {
		return errors.New("store: operator token without hash or name")
	}
	return s.exec(ctx, "operator token", `INSERT INTO operator_tokens (hash, name, created_ns, expires_ns) VALUES ($1, $2, $3, $4)`,
		t.Hash, t.Name, s.timeOr(t.Created).UnixNano(), sqlrow.UnixNs(t.Expires))
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
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	var n int64
	err = w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) (err error) {
		n, err = pgDB{tx}.Exec(ctx, `UPDATE operator_tokens SET revoked_ns = $1 WHERE name = $2 AND revoked_ns = 0`, s.timeOr(at).UnixNano(), name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: revoke operator tokens of %s: %w", name, err)
	}
	return int(n), nil
}

// exec runs one statement as a write of its own.
func (s *Store) exec(ctx context.Context, what, query string, args ...any) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	return w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := pgExec(ctx, tx, query, args...); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		return nil
	})
}
