package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// partitioned are the tables split by received_ns, partitioned alike so
// that a batch and its segments always sit in partitions of one span.
var partitioned = []string{"batches", "segments"}

// partitionLock serialises partition creation between collectors, so two
// starting together never race on the same CREATE TABLE.
var partitionLock = lockKey("offbox/partitions")

// partitionStart is the start of the partition holding t: t rounded down
// to a multiple of span since the Unix epoch (UTC).
func partitionStart(t time.Time, span time.Duration) time.Time {
	ns, sp := t.UnixNano(), int64(span)
	start := ns - ns%sp
	if ns < 0 && ns%sp != 0 {
		start -= sp
	}
	return time.Unix(0, start).UTC()
}

func partitionName(table string, start time.Time) string {
	return table + "_p" + strconv.FormatInt(start.Unix(), 10)
}

// ensurePartitions creates the partitions covering now-span to now+2 spans
// that are missing. A batch received outside them goes to the default
// partition, so a commit never fails for want of one; creation is only
// attempted when one is missing, since it locks the parent table.
func (s *Store) ensurePartitions(ctx context.Context, now time.Time) error {
	span := s.opt.PartitionSpan
	type part struct {
		table, name string
		from, to    int64
	}
	var want []part
	var names []string
	for t := partitionStart(now.Add(-span), span); !t.After(now.Add(2 * span)); t = t.Add(span) {
		for _, table := range partitioned {
			p := part{table, partitionName(table, t), t.UnixNano(), t.Add(span).UnixNano()}
			want, names = append(want, p), append(names, p.name)
		}
	}
	var missing int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[]) n WHERE to_regclass(quote_ident(n)) IS NULL`,
		names).Scan(&missing); err != nil {
		return fmt.Errorf("partitions: %w", err)
	}
	if missing == 0 {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("partitions: %w", err)
	}
	defer tx.Rollback(context.Background())
	// Creating a partition locks its parent; never hold up commits long.
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
		return fmt.Errorf("partitions: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLock); err != nil {
		return fmt.Errorf("partitions: %w", err)
	}
	for _, p := range want {
		if _, err := tx.Exec(ctx, `SAVEPOINT part`); err != nil {
			return fmt.Errorf("partitions: %w", err)
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM (%d) TO (%d)`,
			pgx.Identifier{p.name}.Sanitize(), pgx.Identifier{p.table}.Sanitize(), p.from, p.to))
		if err == nil {
			_, err = tx.Exec(ctx, `RELEASE SAVEPOINT part`)
			if err != nil {
				return fmt.Errorf("partitions: %w", err)
			}
			continue
		}
		// Rows already in the default partition for that range, or a
		// partition of another span overlapping it (PartitionSpan
		// changed): the rows stay where they are, the range in the old
		// partition or the default one.
		s.opt.Logger.Warn("store: cannot create partition", "partition", p.name, "err", err)
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT part`); err != nil {
			return fmt.Errorf("partitions: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P07" { // duplicate_table: another collector made it
			return nil
		}
		return fmt.Errorf("partitions: %w", err)
	}
	return nil
}

// maintain keeps partitions ahead of the clock until ctx ends.
func (s *Store) maintain(ctx context.Context) {
	defer s.stopped.Done()
	every := min(s.opt.PartitionSpan/4, time.Hour)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.ensurePartitions(ctx, s.opt.Now()); err != nil && ctx.Err() == nil {
			s.opt.Logger.Warn("store: partition maintenance", "err", err)
		}
	}
}

// partition is one partition of a partitioned table; def is the default
// one, whose bounds are unset.
type partition struct {
	name     string
	def      bool
	from, to int64
}

var boundRE = regexp.MustCompile(`FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)`)

// partitions lists table's partitions with their bounds.
func partitions(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, table string) ([]partition, error) {
	rows, err := q.Query(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY c.relname`, table)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", table, err)
	}
	defer rows.Close()
	var out []partition
	for rows.Next() {
		var p partition
		var bound string
		if err := rows.Scan(&p.name, &bound); err != nil {
			return nil, err
		}
		if bound == "DEFAULT" {
			p.def = true
		} else if m := boundRE.FindStringSubmatch(bound); m != nil {
			p.from, _ = strconv.ParseInt(m[1], 10, 64)
			p.to, _ = strconv.ParseInt(m[2], 10, 64)
		} else {
			return nil, fmt.Errorf("partition %s: unexpected bound %q", p.name, bound)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
