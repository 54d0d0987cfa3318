// Package sqlite is the embedded store: one SQLite file (modernc.org/sqlite,
// pure Go, no cgo) in WAL mode. One writer goroutine owns the only write
// connection and commits concurrent writes in groups, so fan-in from many
// devices costs one fsync per group, not per batch; readers use their own
// connections and never block the writer.
//
// It never stores a record twice for the same (device, seq), never moves a
// head except from the head the caller judged against, and never
// acknowledges a write before its transaction has committed.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// Options tune the store. The zero value is the durable default.
type Options struct {
	Sync          string           // PRAGMA synchronous: "full" (default; durable at commit) or "normal" (WAL: may lose the last commits on power loss, never corrupts)
	BusyTimeout   time.Duration    // how long a connection waits for a lock; 0: 10s
	Now           func() time.Time // collector clock for times the caller does not give; nil: time.Now
	MaxGroup      int              // most writes in one transaction; 0: 128
	MaxGroupBytes int              // most batch bytes in one transaction; 0: 64 MiB
	// GroupLinger: how long the writer waits for more writes when many
	// small ones are committing at once (sqlrow.StartQueue); 0: 10ms,
	// negative: never.
	GroupLinger time.Duration
}

// DefaultGroupLinger is Options.GroupLinger's default. At 2,000 agents
// (BenchmarkFanIn10k, OFFBOX_FANIN_AGENTS=2000, two alternating runs) it
// took the collector from 0.81-0.82 cores with 2 ms to 0.69-0.74, ack p99
// 96-120 -> 78-98 ms; at 10,000 (saturated, 60 s) 199,730 -> 228,799
// batches acknowledged at the same 1.15 cores.
const DefaultGroupLinger = 10 * time.Millisecond

// Store is the SQLite implementation of store.Store.
type Store struct {
	sqlrow.Core[*sql.Tx] // the methods both engines share

	opt   Options
	read  *sql.DB // reader pool
	write *sql.DB // nil when opened read-only; one connection, used only by the writer goroutine
	w     *writer
	stmts *statements
	ckpt  *checkpointer // nil when opened read-only
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database at path for reading and writing,
// creating or migrating the schema.
func Open(path string, opt Options) (*Store, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkDir(path); err != nil {
		return nil, err
	}
	// The largest page (64 KiB) keeps a 1 MiB batch in 16 overflow pages,
	// each one WAL frame and one write: BenchmarkCommitBatch stores 16-30 %
	// more per second than with 16 KiB pages. It only applies when the file
	// is created; an older database keeps its page size.
	// The writer's page cache is 32 MiB, not SQLite's 2 MiB (31 such
	// pages): detection upserts a thousand alerts a round, each touching
	// the alerts table and its eight indexes at random places, and with
	// 2 MiB nearly every page was read back from the OS: a 5,000-line
	// round of BenchmarkRunnerRealistic took 151-188 ms, 88-92 ms with it.
	write, err := sql.Open("sqlite", dsn(path, opt, append([]string{"_journal_mode=WAL", "_synchronous=" + opt.Sync,
		"_txlock=immediate", "_pragma=page_size(65536)", "_pragma=temp_store(memory)", "_pragma=cache_size(-32768)"}, walPragmas...)...))
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	ctx := context.Background()
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read, err := openReader(path, opt, "_query_only=1")
	if err != nil {
		write.Close()
		return nil, err
	}
	s := &Store{opt: opt, read: read, write: write}
	s.Core = s.core()
	if s.stmts, err = prepare(ctx, write); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if s.ckpt, err = startCheckpointer(path, opt); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s.w = startWriter(write, opt)
	return s, nil
}

// OpenReadOnly opens an existing database for queries only; a collector
// may be writing to it at the same time (WAL lets readers and the writer
// proceed together).
func OpenReadOnly(path string, opt Options) (*Store, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, err // "no such file or directory" names the path
	}
	read, err := openReader(path, opt, "mode=ro")
	if err != nil {
		return nil, err
	}
	if err := checkVersion(context.Background(), read); err != nil {
		read.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{opt: opt, read: read}
	s.Core = s.core()
	return s, nil
}

func openReader(path string, opt Options, params ...string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, opt, params...))
	if err != nil {
		return nil, err
	}
	// Records holds a segment cursor open while it reads batches, so a
	// query needs two connections.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	return db, nil
}

func (o Options) withDefaults() (Options, error) {
	switch strings.ToLower(o.Sync) {
	case "", "full":
		o.Sync = "FULL"
	case "normal":
		o.Sync = "NORMAL"
	default:
		return o, fmt.Errorf("sqlite sync %q: use full or normal", o.Sync)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.MaxGroup, o.MaxGroupBytes = sqlrow.GroupDefaults(o.MaxGroup, o.MaxGroupBytes)
	if o.GroupLinger == 0 {
		o.GroupLinger = DefaultGroupLinger
	}
	return o, nil
}

func dsn(path string, opt Options, params ...string) string {
	// The name is a URI (file:...), so characters URIs give meaning to are escaped.
	name := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	q := append([]string{fmt.Sprintf("_busy_timeout=%d", opt.BusyTimeout.Milliseconds()), "_foreign_keys=1"}, params...)
	return "file:" + name + "?" + strings.Join(q, "&")
}

// checkDir refuses a path whose directory does not exist, with a message
// that says so, rather than SQLite's "unable to open database file".
func checkDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("database directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("database directory %s: not a directory", dir)
	}
	return nil
}

// Close waits for queued writes to commit, then closes the database.
func (s *Store) Close() error {
	if s.w != nil {
		s.w.close()
	}
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	if s.stmts != nil {
		errs = append(errs, s.stmts.close())
	}
	if s.write != nil {
		errs = append(errs, s.write.Close())
	}
	errs = append(errs, s.read.Close())
	return errors.Join(errs...)
}

// errReadOnly is returned by writes on a store opened with OpenReadOnly.
var errReadOnly = errors.New("store: opened read-only")

// queue is the write queue; a write on a read-only store is a caller bug.
func (s *Store) queue() (*sqlrow.Queue[*sql.Tx], error) {
	if s.w == nil {
		return nil, errReadOnly
	}
	return s.w.q, nil
}

func (s *Store) timeOr(t time.Time) time.Time { return sqlrow.TimeOr(t, s.opt.Now) }
