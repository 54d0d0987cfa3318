// Package postgres is the store several collectors share: one PostgreSQL
// database (pgx, native protocol, no database/sql). Like store/sqlite, one
// writer goroutine per Store commits concurrent writes in groups; unlike
// it, several Stores on other hosts write at once, so batch rows, integrity
// event ids and access ids are numbered in commit order (see commit.go),
// batches and their index live in time partitions that retention drops
// whole, and advisory locks on a dedicated connection coordinate streams
// and leadership between collectors.
//
// It never stores a record twice for the same (device, seq), never moves a
// head except from the head the caller judged against, never acknowledges
// a write before its transaction has committed, and never puts a password
// in an error.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// Options tune the store. The zero value is the default.
type Options struct {
	Now           func() time.Time // collector clock for times the caller does not give; nil: time.Now
	MaxGroup      int              // most writes in one transaction; 0: 128
	MaxGroupBytes int              // most batch bytes in one transaction; 0: 64 MiB
	PartitionSpan time.Duration    // span of one time partition of batches and segments; 0: 24h
	LockCheck     time.Duration    // how often the lock connection is checked; 0: 2s
	LeaderPoll    time.Duration    // how often a follower tries to become leader; 0: 1s
	Logger        *slog.Logger     // nil: discard
}

func (o Options) withDefaults() (Options, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	o.MaxGroup, o.MaxGroupBytes = sqlrow.GroupDefaults(o.MaxGroup, o.MaxGroupBytes)
	if o.PartitionSpan == 0 {
		o.PartitionSpan = 24 * time.Hour
	}
	if o.LockCheck == 0 {
		o.LockCheck = 2 * time.Second
	}
	if o.LeaderPoll == 0 {
		o.LeaderPoll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxGroup < 0 || o.MaxGroupBytes < 0 || o.PartitionSpan < time.Second || o.LockCheck < 0 || o.LeaderPoll < 0 {
		return o, fmt.Errorf("postgres options: negative limit or partition span under 1s (%v)", o.PartitionSpan)
	}
	return o, nil
}

// Store is the PostgreSQL implementation of store.Store and
// store.Coordinator.
type Store struct {
	sqlrow.Core[pgx.Tx] // the methods both engines share

	opt  Options
	url  string // with the password, for the lock connection; never printed
	name string // the URL without its password, for messages
	pool *pgxpool.Pool
	w    *writer // nil when opened read-only
	lk   *locker

	stop    context.CancelFunc // ends the partition maintenance
	stopped sync.WaitGroup
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.Coordinator = (*Store)(nil)
)

// Open connects to the database at url (postgres://user:pass@host:port/db),
// creates or migrates the schema and the time partitions around now, and
// starts the writer.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	s, err := connect(ctx, url, opt)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open %s: %w", s.name, err)
	}
	// Without its partitions the store still works (batches go to the
	// default partition), and maintenance tries again.
	if err := s.ensurePartitions(ctx, s.opt.Now()); err != nil {
		s.opt.Logger.Warn("store: partitions", "err", err)
	}
	s.w = startWriter(s.pool, s.opt)
	s.lk = newLocker(s)
	mctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.stopped.Add(1)
	go s.maintain(mctx)
	return s, nil
}

// OpenReadOnly connects for queries only: it checks the schema version and
// changes nothing; writes fail.
func OpenReadOnly(ctx context.Context, url string, opt Options) (*Store, error) {
	s, err := connect(ctx, url, opt)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("open %s: %w", s.name, err)
	}
	return s, nil
}

func connect(ctx context.Context, rawURL string, opt Options) (*Store, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	name, err := redact(rawURL)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's message quotes the URL; say what is wrong without it.
		return nil, fmt.Errorf("postgres URL %s: cannot parse it: %w", name, unwrapAll(err))
	}
	if q, _ := url.Parse(rawURL); q == nil || !q.Query().Has("pool_max_conns") {
		// An iterator holds a connection while the rows it yields need
		// another (segments, batch bytes): leave room for both.
		cfg.MaxConns = max(cfg.MaxConns, 8)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", name, err)
	}
	// The pool connects lazily: connect now so a bad host, port or
	// password fails Open rather than the first write.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres %s: cannot connect to %s:%d: %w", name, cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	s := &Store{opt: opt, url: rawURL, name: name, pool: pool}
	s.Core = s.core()
	return s, nil
}

// redact is the URL as messages may show it: without the password, and
// refusing what is not a postgres URL.
func redact(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("postgres URL: cannot parse it (want postgres://user:password@host:port/database)")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("postgres URL scheme %q: want postgres://user:password@host:port/database", u.Scheme)
	}
	return u.Redacted(), nil
}

// unwrapAll is the innermost error of err: pgx's outer parse error
// repeats the connection string.
func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// Close waits for queued writes to commit, releases every lock and
// leadership, and closes the connections.
func (s *Store) Close() error {
	if s.stop != nil {
		s.stop()
		s.stopped.Wait()
	}
	if s.w != nil {
		s.w.close()
	}
	var err error
	if s.lk != nil {
		err = s.lk.close()
	}
	s.pool.Close()
	return err
}

// errReadOnly is returned by writes on a store opened with OpenReadOnly.
var errReadOnly = errors.New("store: opened read-only")

// queue is the write queue; a write on a read-only store is a caller bug.
func (s *Store) queue() (*sqlrow.Queue[pgx.Tx], error) {
	if s.w == nil {
		return nil, errReadOnly
	}
	return s.w.q, nil
}

func (s *Store) timeOr(t time.Time) time.Time { return sqlrow.TimeOr(t, s.opt.Now) }
