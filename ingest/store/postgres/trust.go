package postgres

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
)

// CreateToken implements store.TrustStore.
func (s *Store) CreateToken(ctx context.Context, t store.EnrollToken) error {
	if len(t.Hash) == 0 || t.Device == "" {
		return errors.New("store: enrollment token without hash or device")
	}
	labels, err := json.Marshal(stringMap(t.Labels))
	if err != nil {
		return err
	}
	return s.exec(ctx, "enrollment token", `INSERT INTO enroll_tokens (hash, device, labels, created_ns, expires_ns) VALUES ($1, $2, $3, $4, $5)`,
		t.Hash, t.Device, string(labels), s.timeOr(t.Created).UnixNano(), unixNs(t.Expires))
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
	err = w.do(ctx, 0, func(ctx context.Context, tx pgx.Tx) error {
		var labels string
		var created, expires, used int64
		err := pgQueryRow(ctx, tx, `SELECT device, labels, created_ns, expires_ns, used_ns FROM enroll_tokens WHERE hash = $1 FOR UPDATE`, hash).
			Scan(&t.Device, &labels, &created, &expires, &used)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return store.ErrTokenUnknown
		case err != nil:
			return fmt.Errorf("store: enrollment token: %w", err)
		case used != 0:
			return fmt.Errorf("%w (at %s)", store.ErrTokenUsed, timeNs(used).Format(time.RFC3339))
		case now.UnixNano() >= expires:
			return fmt.Errorf("%w (at %s)", store.ErrTokenExpired, timeNs(expires).Format(time.RFC3339))
		}
		if err := json.Unmarshal([]byte(labels), &t.Labels); err != nil {
			return fmt.Errorf("store: enrollment token labels: %w", err)
		}
		t.Hash, t.Created, t.Expires, t.Used = hash, timeNs(created), timeNs(expires), now.UTC()
		_, err = pgExec(ctx, tx, `UPDATE enroll_tokens SET used_ns = $1 WHERE hash = $2 AND used_ns = 0`, now.UnixNano(), hash)
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
	ids := make([]string, len(r.KeyIDs))
	for i, k := range r.KeyIDs {
		ids[i] = hex.EncodeToString(k)
	}
	keys, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	return s.exec(ctx, "revocation", `INSERT INTO revocations (device, time_ns, key_ids, reason, by) VALUES ($1, $2, $3, $4, $5)`,
		r.Device, s.timeOr(r.Time).UnixNano(), string(keys), r.Reason, r.By)
}

// Revocations implements store.TrustStore.
func (s *Store) Revocations(ctx context.Context) ([]store.Revocation, error) {
	rows, err := pgQuery(ctx, s.pool, `SELECT device, time_ns, key_ids, reason, by FROM revocations ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: revocations: %w", err)
	}
	defer rows.Close()
	var out []store.Revocation
	for rows.Next() {
		var r store.Revocation
		var ns int64
		var keys string
		if err := rows.Scan(&r.Device, &ns, &keys, &r.Reason, &r.By); err != nil {
			return nil, fmt.Errorf("store: revocation: %w", err)
		}
		var ids []string
		if err := json.Unmarshal([]byte(keys), &ids); err != nil {
			return nil, fmt.Errorf("store: revocation of %s: key ids: %w", r.Device, err)
		}
		for _, id := range ids {
			b, err := hex.DecodeString(id)
			if err != nil {
				return nil, fmt.Errorf("store: revocation of %s: key id %q: %w", r.Device, id, err)
			}
			r.KeyIDs = append(r.KeyIDs, b)
		}
		r.Time = timeNs(ns)
		out = append(out, r)
	}
	return out, rows.Err()
}

// CreateOperatorToken implements store.TrustStore.
func (s *Store) CreateOperatorToken(ctx context.Context, t store.OperatorToken) error {
	if len(t.Hash) == 0 || t.Name == "" {
		return errors.New("store: operator token without hash or name")
	}
	return s.exec(ctx, "operator token", `INSERT INTO operator_tokens (hash, name, created_ns, expires_ns) VALUES ($1, $2, $3, $4)`,
		t.Hash, t.Name, s.timeOr(t.Created).UnixNano(), unixNs(t.Expires))
}

// OperatorToken implements store.TrustStore.
func (s *Store) OperatorToken(ctx context.Context, hash []byte) (store.OperatorToken, bool, error) {
	var t store.OperatorToken
	var created, expires int64
	err := pgQueryRow(ctx, s.pool, `SELECT name, created_ns, expires_ns FROM operator_tokens WHERE hash = $1`, notNull(hash)).
		Scan(&t.Name, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	if err != nil {
		return t, false, fmt.Errorf("store: operator token: %w", err)
	}
	t.Hash, t.Created, t.Expires = hash, timeNs(created), timeNs(expires)
	return t, true, nil
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
