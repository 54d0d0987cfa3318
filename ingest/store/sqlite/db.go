package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// sqlDB is a *sql.DB or *sql.Tx as the sqlrow.DB (and sqlrow.Tx) the
// shared reads and writes take.
type sqlDB struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (d sqlDB) Query(ctx context.Context, query string, args ...any) (sqlrow.Rows, error) {
	rows, err := d.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (d sqlDB) QueryRow(ctx context.Context, query string, args ...any) sqlrow.Scanner {
	return sqlRow{d.q.QueryRowContext(ctx, query, args...)}
}

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := d.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqlRow reports no row as sqlrow.ErrNoRows.
type sqlRow struct{ *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return sqlrow.ErrNoRows
	}
	return err
}

// db is the read handle as a sqlrow.DB.
func (s *Store) db() sqlrow.DB { return sqlDB{s.read} }
