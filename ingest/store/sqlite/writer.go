package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/offbox/offbox/ingest/store"
)

// op is one write: apply runs inside a transaction (and a savepoint of its
// own), done receives its result after the transaction commits.
type op struct {
	size  int // batch bytes, to bound a group
	apply func(ctx context.Context, tx *sql.Tx) error
	done  chan error
}

// writer owns the write connection. Writes queue on ops; the loop takes
// what is waiting (up to MaxGroup ops or MaxGroupBytes) into one
// transaction, so many devices committing at once share one fsync.
type writer struct {
	db  *sql.DB
	opt Options

	mu     sync.RWMutex // guards closed against sends on a closed ops
	closed bool
	ops    chan *op
	exited chan struct{}

	txns atomic.Int64 // transactions committed, to observe grouping
}

func startWriter(db *sql.DB, opt Options) *writer {
	w := &writer{db: db, opt: opt, ops: make(chan *op, 1024), exited: make(chan struct{})}
	go w.loop()
	return w
}

// do queues a write and waits for its commit. ctx bounds only the wait
// for room in the queue: once queued, the write's result is awaited
// whatever ctx does, so the caller always learns whether it was stored.
func (w *writer) do(ctx context.Context, size int, apply func(context.Context, *sql.Tx) error) error {
	o := &op{size: size, apply: apply, done: make(chan error, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case w.ops <- o:
	case <-ctx.Done():
		w.mu.RUnlock()
		return ctx.Err()
	}
	w.mu.RUnlock()
	return <-o.done
}

// close stops accepting writes and waits until the queued ones are done.
func (w *writer) close() {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.exited
}

func (w *writer) loop() {
	defer close(w.exited)
	for first := range w.ops {
		group := w.gather(first)
		w.commitGroup(group)
	}
}

// gather takes first and whatever else is already waiting, within bounds.
// It never waits for more: under load the queue fills while the previous
// group commits, and when idle a lone write goes at once.
func (w *writer) gather(first *op) []*op {
	group, size := []*op{first}, first.size
	for len(group) < w.opt.MaxGroup && size < w.opt.MaxGroupBytes {
		select {
		case o, ok := <-w.ops:
			if !ok {
				return group
			}
			group = append(group, o)
			size += o.size
		default:
			return group
		}
	}
	return group
}

// commitGroup runs the ops in one transaction, each in a savepoint so that
// one failing op is rolled back alone. If the transaction itself fails,
// every op that had succeeded in it is retried in a transaction of its own,
// so one bad write never takes the others down with it.
func (w *writer) commitGroup(group []*op) {
	errs, err := w.runTx(group)
	if err != nil && len(group) > 1 {
		for i, o := range group {
			if errs[i] == nil {
				e, txErr := w.runTx([]*op{o})
				errs[i] = errors.Join(e[0], txErr)
			}
		}
	} else if err != nil {
		errs[0] = errors.Join(errs[0], err)
	}
	for i, o := range group {
		o.done <- errs[i]
	}
}

// runTx returns each op's own error and the transaction's error (begin or
// commit); when the latter is set nothing was stored.
func (w *writer) runTx(group []*op) ([]error, error) {
	errs := make([]error, len(group))
	ctx := context.Background() // a write, once started, finishes
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return errs, fmt.Errorf("store: begin: %w", err)
	}
	for i, o := range group {
		errs[i] = applyInSavepoint(ctx, tx, o)
	}
	if err := tx.Commit(); err != nil {
		return errs, fmt.Errorf("store: commit: %w", err)
	}
	w.txns.Add(1)
	return errs, nil
}

func applyInSavepoint(ctx context.Context, tx *sql.Tx, o *op) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
		return err
	}
	if err := o.apply(ctx, tx); err != nil {
		if _, rbErr := tx.ExecContext(ctx, `ROLLBACK TO op`); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		_, relErr := tx.ExecContext(ctx, `RELEASE op`)
		return errors.Join(err, relErr)
	}
	_, err := tx.ExecContext(ctx, `RELEASE op`)
	return err
}
