package sqlrow

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoRows is what a DB's QueryRow scan returns when the query found no
// row: each engine maps its driver's own no-rows error to it.
var ErrNoRows = errors.New("store: no rows")

// Rows is a result set of either engine (pgx's adapted so that Close
// reports the set's error, as database/sql's does).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// DB runs an engine's read statements, written in its own SQL (its
// placeholders, its functions): a pool, a read handle or a transaction.
type DB interface {
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow's Scan returns ErrNoRows when there is no row.
	QueryRow(ctx context.Context, query string, args ...any) Scanner
}

// All returns every row query selects, scanned by scan; what names the
// rows in errors.
func All[T any](ctx context.Context, db DB, what string, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return Collect(rows, what, scan)
}

// Collect scans every row of rows with scan and closes rows.
func Collect[T any](rows Rows, what string, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// closeRows closes rows and returns the set's error, else Close's (pgx's
// adapted Close returns the set's error too: it is reported once).
func closeRows(rows Rows) error {
	cerr := rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return cerr
}

// Map returns the rows of query, two columns each, as a map from the
// first to the second.
func Map[K comparable, V any](ctx context.Context, db DB, what, query string, args ...any) (map[K]V, error) {
	type kv struct {
		k K
		v V
	}
	pairs, err := All(ctx, db, what, func(r Scanner) (p kv, err error) {
		err = r.Scan(&p.k, &p.v)
		return p, err
	}, query, args...)
	if err != nil {
		return nil, err
	}
	out := make(map[K]V, len(pairs))
	for _, p := range pairs {
		out[p.k] = p.v
	}
	return out, nil
}

// Row is a driver's row whose own no-rows error (NoRows: sql.ErrNoRows,
// pgx.ErrNoRows) scans as ErrNoRows, as DB's QueryRow must.
type Row struct {
	Scanner
	NoRows error
}

func (r Row) Scan(dest ...any) error {
	err := r.Scanner.Scan(dest...)
	if errors.Is(err, r.NoRows) {
		return ErrNoRows
	}
	return err
}
