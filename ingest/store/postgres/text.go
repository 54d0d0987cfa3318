package postgres

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// PostgreSQL text cannot hold NUL or bytes that are not UTF-8, which Go
// strings and SQLite can: a device could put NUL in a source or boot id,
// an operator either in a request (the access log), a log line either in
// an alert's key or summary (a user name parsed from it), and the write
// holding it would fail for ever, stalling the device's chain, detection
// or the audit trail. So every statement goes through pgExec, pgQuery or
// pgQueryRow, which escape each string argument, reversibly, and unescape
// each string scanned: NUL becomes esc '0', a byte that is not UTF-8
// esc 'x' and two hex digits, and esc itself esc esc, where esc is U+E000
// (private use, not met in practice, so stored text reads as written).
// The mapping is injective, so equality in WHERE clauses is unchanged.
// (pgx's text codec cannot do it: strings bypass the type map.)
const esc = "\uE000"

const hexDigits = "0123456789abcdef"

func escapeText(s string) string {
	if strings.IndexByte(s, 0) < 0 && !strings.Contains(s, esc) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(esc + "x")
			b.WriteByte(hexDigits[s[i]>>4])
			b.WriteByte(hexDigits[s[i]&0xf])
		case r == 0:
			b.WriteString(esc + "0")
		case r == 0xE000:
			b.WriteString(esc + esc)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func unescapeText(s string) string {
	if !strings.Contains(s, esc) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, esc)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i+len(esc):]
		switch {
		case strings.HasPrefix(s, esc):
			b.WriteString(esc)
			s = s[len(esc):]
		case strings.HasPrefix(s, "0"):
			b.WriteByte(0)
			s = s[1:]
		case len(s) >= 3 && s[0] == 'x' && isHex(s[1]) && isHex(s[2]):
			b.WriteByte(unhex(s[1])<<4 | unhex(s[2]))
			s = s[3:]
		default: // not written by escapeText: kept as stored
			b.WriteString(esc)
		}
	}
}

func isHex(c byte) bool { return strings.IndexByte(hexDigits, c) >= 0 }

func unhex(c byte) byte { return byte(strings.IndexByte(hexDigits, c)) }

// querier is pgx.Tx, *pgxpool.Pool or *pgx.Conn.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func pgExec(ctx context.Context, q querier, sql string, args ...any) (pgconn.CommandTag, error) {
	return q.Exec(ctx, sql, escapeArgs(args)...)
}

func pgQuery(ctx context.Context, q querier, sql string, args ...any) (pgx.Rows, error) {
	rows, err := q.Query(ctx, sql, escapeArgs(args)...)
	if err != nil {
		return nil, err
	}
	return textRows{rows}, nil
}

func pgQueryRow(ctx context.Context, q querier, sql string, args ...any) pgx.Row {
	return textRow{q.QueryRow(ctx, sql, escapeArgs(args)...)}
}

// escapeArgs escapes the strings among args (in a copy).
func escapeArgs(args []any) []any {
	out, copied := args, false
	for i, a := range args {
		var e any
		switch v := a.(type) {
		case string:
			e = escapeText(v)
		case []string:
			es := make([]string, len(v))
			for j := range v {
				es[j] = escapeText(v[j])
			}
			e = es
		default:
			continue
		}
		if !copied {
			out, copied = append([]any(nil), args...), true
		}
		out[i] = e
	}
	return out
}

func unescapeDest(dest []any) {
	for _, d := range dest {
		if p, ok := d.(*string); ok {
			*p = unescapeText(*p)
		}
	}
}

type textRows struct{ pgx.Rows }

func (r textRows) Scan(dest ...any) error {
	err := r.Rows.Scan(dest...)
	if err == nil {
		unescapeDest(dest)
	}
	return err
}

type textRow struct{ pgx.Row }

func (r textRow) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if err == nil {
		unescapeDest(dest)
	}
	return err
}

// pgDB is a querier as the sqlrow.DB (and, for a transaction, the
// sqlrow.Tx) the shared reads and writes take; it goes
// through pgQuery and pgQueryRow, so text is escaped as above.
type pgDB struct{ q querier }

func (d pgDB) Query(ctx context.Context, sql string, args ...any) (sqlrow.Rows, error) {
	rows, err := pgQuery(ctx, d.q, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{rows}, nil
}

func (d pgDB) QueryRow(ctx context.Context, sql string, args ...any) sqlrow.Scanner {
	return sqlrow.Row{Scanner: pgQueryRow(ctx, d.q, sql, args...), NoRows: pgx.ErrNoRows}
}

func (d pgDB) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := pgExec(ctx, d.q, sql, args...)
	return tag.RowsAffected(), err
}

// pgRows closes as database/sql's rows do, reporting the set's error.
type pgRows struct{ pgx.Rows }

func (r pgRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

// db is the pool as a sqlrow.DB.
func (s *Store) db() sqlrow.DB { return pgDB{s.pool} }
