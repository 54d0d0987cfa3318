package sqlite

import (
	"context"
	"database/sql"

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
	return sqlrow.Row{Scanner: d.q.QueryRowContext(ctx, query, args...), NoRows: sql.ErrNoRows}
}

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := d.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// db is the read handle as a sqlrow.DB.
func (s *Store) db() sqlrow.DB { return sqlDB{s.read} }

// writerTx is a writer transaction as the sqlrow.Tx: sqlDB, plus the
// statements the writer prepared at Open, run bound to the transaction.
type writerTx struct {
	sqlDB
	tx    *sql.Tx
	stmts *statements
}

// QueryPrepared implements sqlrow.PreparedQuerier.
func (w writerTx) QueryPrepared(ctx context.Context, query string, args ...any) (sqlrow.Rows, error) {
	st := w.prepared(query)
	if st == nil {
		return w.Query(ctx, query, args...)
	}
	rows, err := w.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// Exec runs query through its statement prepared at Open, if it is one.
func (w writerTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	st := w.prepared(query)
	if st == nil {
		return w.sqlDB.Exec(ctx, query, args...)
	}
	res, err := w.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// prepared is query's statement prepared at Open, or nil.
func (w writerTx) prepared(query string) *sql.Stmt {
	if w.stmts == nil {
		return nil
	}
	return w.stmts.byText[query]
}
