package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// op is one write of this engine's queue.
type op = sqlrow.Op[*sql.Tx]

// writer owns the write connection. Writes queue on its sqlrow.Queue,
// which hands what is waiting (up to MaxGroup ops or MaxGroupBytes) to
// commitGroup as one transaction, so many devices committing at once
// share one fsync.
type writer struct {
	db *sql.DB
	q  *sqlrow.Queue[*sql.Tx]

	txns atomic.Int64 // transactions committed, to observe grouping
}

func startWriter(db *sql.DB, opt Options) *writer {
	w := &writer{db: db}
	w.q = sqlrow.StartQueue(opt.MaxGroup, opt.MaxGroupBytes, max(opt.GroupLinger, 0), w.commitGroup)
	return w
}

// close stops accepting writes and waits until the queued ones are done.
func (w *writer) close() { w.q.Close() }

// commitGroup runs the ops in one transaction. If an op fails, or the
// transaction itself, nothing of it is stored and every other op is
// retried in a transaction of its own, so one bad write never takes the
// others down with it.
//
// No savepoint per op: under an open savepoint SQLite journals each page
// an op first changes into the in-memory sub-journal, and at the end of
// every statement that wrote one it truncates that journal by walking it
// from the start (memjrnlTruncate). A detection save updates a thousand
// alert rows across many 64 KiB pages, so that walk was quadratic: 75 % of
// the collector's CPU on issue 19's realistic log (BenchmarkRunnerRealistic:
// 2.6 s of a 5,000-line round, 65 % of it in memjrnlTruncate; 0.7 s
// without). Failures are rare (a resend's duplicate, a fenced save that
// lost leadership), so re-running the others alone is the cheap side.
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
		o.Done <- errs[i]
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
		if errs[i] = o.Apply(ctx, tx); errs[i] != nil {
			rbErr := tx.Rollback()
			if len(group) == 1 {
				if rbErr != nil {
					return errs, fmt.Errorf("store: rollback: %w", rbErr)
				}
				return errs, nil
			}
			return errs, errOpFailed // the others are retried alone
		}
	}
	if err := tx.Commit(); err != nil {
		return errs, fmt.Errorf("store: commit: %w", err)
	}
	w.txns.Add(1)
	return errs, nil
}

// errOpFailed: an op of the group failed, so the transaction was rolled
// back; commitGroup retries the others one by one.
var errOpFailed = errors.New("store: an op of the group failed")
