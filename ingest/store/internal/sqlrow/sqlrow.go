// Package sqlrow is the core the SQL stores (store/sqlite and
// store/postgres) share: Core, which each engine embeds, holds the store
// methods whose logic is the same on both, run on the engine's table of
// statements (SQL) and its own driver steps (Engine); around it, how a
// store value becomes column values and back (times as Unix nanoseconds,
// maps and lists as JSON text), the row scans, WHERE clauses rendered in
// either placeholder style, the record walks over segments and their
// decoded batches, the write queue that groups commits, and the schema
// migration runner. It is kept in one place so the two engines cannot
// drift apart on what they store.
//
// It never writes a statement of its own (only the WHERE conditions of
// its filters) and never imports a driver: each engine passes its own
// statements, runs them on its own driver (DB, Tx) and owns its
// transactions, locking, schema and hot commit path.
package sqlrow

import "time"

// Scanner is one result row of either engine: *sql.Row, *sql.Rows,
// pgx.Row or pgx.Rows.
type Scanner interface{ Scan(dest ...any) error }

// NsTime is the time ns Unix nanoseconds after the epoch, in UTC.
func NsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// UnixNs is t in Unix nanoseconds, 0 for the zero time (whose UnixNano
// is undefined); TimeNs is its inverse.
func UnixNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// TimeNs is the time ns Unix nanoseconds after the epoch, the zero time
// for 0 (see UnixNs).
func TimeNs(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return NsTime(ns)
}

// NotNull makes an absent blob an empty one: both drivers bind a nil
// slice as NULL, and the blob columns are NOT NULL.
func NotNull(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// defaultLimit bounds a read whose caller gave no positive limit, so a
// bad argument never turns into a scan of the whole table.
const defaultLimit = 100

// Limit is n, or defaultLimit when n is not positive.
func Limit(n int) int {
	if n <= 0 {
		return defaultLimit
	}
	return n
}
