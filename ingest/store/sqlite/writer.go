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
	w.q = sqlrow.StartQueue(opt.MaxGroup, opt.MaxGroupBytes, w.commitGroup)
	return w
}

// close stops accepting writes and waits until the queued ones are done.
func (w *writer) close() { w.q.Close() }

// commitGroup runs the ops in one transaction, each in a savepoint so that
// one failing op is rolled back alone. If the transaction itself fails,
// every op that had succeeded in it is retried in a transaction of its own,
// so one bad write never takes the others down with it.
//
// A group of more than one op first runs without savepoints: every op is
// then journalled once per transaction instead of once per savepoint
// (with 64 KiB pages, each savepoint copied every page it touched into
// the statement journal: 15 % of the collector's CPU with 1,000 agents
// sending a one-line batch a second, BenchmarkFanIn10k). Only if an op
// fails is that transaction rolled back and the group run as below, so
// the outcome is the same; an op's Apply may therefore run twice.
func (w *writer) commitGroup(group []*op) {
	if len(group) > 1 {
		if errs, err := w.runTx(group, false); err == nil {
			for i, o := range group {
				o.Done <- errs[i]
			}
			return
		}
	}
	errs, err := w.runTx(group, true)
	if err != nil && len(group) > 1 {
		for i, o := range group {
			if errs[i] == nil {
				e, txErr := w.runTx([]*op{o}, true)
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
// commit); when the latter is set nothing was stored. Without savepoints,
// the first op to fail rolls the whole transaction back (errGroupFailed).
func (w *writer) runTx(group []*op, savepoints bool) ([]error, error) {
	errs := make([]error, len(group))
	ctx := context.Background() // a write, once started, finishes
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return errs, fmt.Errorf("store: begin: %w", err)
	}
	for i, o := range group {
		if savepoints {
			errs[i] = applyInSavepoint(ctx, tx, o)
		} else if err := o.Apply(ctx, tx); err != nil {
			return errs, errors.Join(errGroupFailed, tx.Rollback())
		}
	}
	if err := tx.Commit(); err != nil {
		return errs, fmt.Errorf("store: commit: %w", err)
	}
	w.txns.Add(1)
	return errs, nil
}

// errGroupFailed is runTx's error when an op failed in a group run
// without savepoints: nothing was stored.
var errGroupFailed = errors.New("store: an op of the group failed; rolled back")

func applyInSavepoint(ctx context.Context, tx *sql.Tx, o *op) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
		return err
	}
	if err := o.Apply(ctx, tx); err != nil {
		if _, rbErr := tx.ExecContext(ctx, `ROLLBACK TO op`); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		_, relErr := tx.ExecContext(ctx, `RELEASE op`)
		return errors.Join(err, relErr)
	}
	_, err := tx.ExecContext(ctx, `RELEASE op`)
	return err
}
