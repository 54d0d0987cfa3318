package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL text cannot hold NUL, which Go strings, protobuf strings and
// SQLite all can: a device could put one in a source or boot id, an
// operator in a request (the access log), a log line in an alert's key
// or summary, and the write holding it would fail for ever, stalling the
// device's chain, detection or the audit trail. So every statement goes
// through pgExec, pgQuery or pgQueryRow, which escape each string
// argument, reversibly, and unescape each string scanned: NUL becomes
// esc '0' and esc itself esc esc, where esc is U+E000 (private use, not
// met in practice, so stored text reads as written). The mapping is
// injective, so equality in WHERE clauses is unchanged. (pgx's text
// codec cannot do it: strings bypass the type map.)
const esc = "\uE000"

var (
	escaper   = strings.NewReplacer(esc, esc+esc, "\x00", esc+"0")
	unescaper = strings.NewReplacer(esc+esc, esc, esc+"0", "\x00")
)

func escapeText(s string) string {
	if strings.IndexByte(s, 0) < 0 && !strings.Contains(s, esc) {
		return s
	}
	return escaper.Replace(s)
}

func unescapeText(s string) string {
	if !strings.Contains(s, esc) {
		return s
	}
	return unescaper.Replace(s)
}

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
