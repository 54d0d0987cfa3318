package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The write-ahead log's bound. SQLite checkpoints the WAL into the database
// once it holds wal_autocheckpoint pages (default 1000), and cuts the file
// back to journal_size_limit when the log starts over. With 64 KiB pages the
// default is 64 MiB: a collector's WAL sat at about 65 MB beside a database
// of a few MiB.
//
// A checkpoint done by a commit is done on the commit path: with
// synchronous=FULL it syncs the database file, and every batch queued behind
// it waits (checkpointing every 4 MiB that way took the fan-in benchmark's
// ack p99 from 134 to 544 ms). So a checkpointer of its own, on a connection
// of its own, checkpoints PASSIVE (never waiting for the writer or a reader)
// once the log holds walCheckpointBytes, at most walPoll apart; the writer
// then starts the log over and cuts the file back to walMaxBytes. The
// autocheckpoint stays at SQLite's 1000 pages as the backstop for a burst
// faster than the checkpointer. At a steady pace the -wal file is cut back
// to walMaxBytes and holds at most walCheckpointBytes more between two polls;
// it grows past that only during a burst (about 64 MiB, the backstop), or
// while a query holds one read snapshot open across commits (a checkpoint
// cannot pass what a reader still sees), and is cut back after either.
const (
	walCheckpointBytes = 4 << 20
	walMaxBytes        = 8 << 20
	walPoll            = 100 * time.Millisecond
	pageBytes          = 65536 // page_size of a new database (Open)
)

// walPragmas are the DSN parameters that bound the WAL, for every
// connection that writes.
var walPragmas = []string{
	fmt.Sprintf("_pragma=journal_size_limit(%d)", walMaxBytes),
}

// checkpointer checkpoints the WAL in the background (see above).
type checkpointer struct {
	db     *sql.DB // one connection of its own, never the writer's
	wal    string  // the -wal file
	cancel context.CancelFunc
	done   sync.WaitGroup
	polls  atomic.Uint64 // polls finished, checkpoint included (for tests)
}

// startCheckpointer opens its connection to path and starts it.
func startCheckpointer(path string, opt Options) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn(path, opt, append([]string{"_synchronous=" + opt.Sync}, walPragmas...)...))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, wal: path + "-wal", cancel: cancel}
	c.done.Add(1)
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer c.done.Done()
	t := time.NewTicker(walPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.poll(ctx)
		c.polls.Add(1)
	}
}

func (c *checkpointer) poll(ctx context.Context) {
	fi, err := os.Stat(c.wal)
	if err != nil || fi.Size() < walCheckpointBytes {
		return
	}
	// A busy or failed checkpoint is tried again at the next poll; the
	// autocheckpoint bounds the log meanwhile.
	c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() error {
	c.cancel()
	c.done.Wait()
	return c.db.Close()
}
