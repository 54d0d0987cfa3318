package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// op is one write of this engine's queue.
type op = sqlrow.Op[pgx.Tx]

// writer commits the writes of one Store. Writes queue on its
// sqlrow.Queue, which hands what is waiting (up to MaxGroup ops or
// MaxGroupBytes) to commitGroup as one transaction, so many devices
// committing at once share one commit.
type writer struct {
	pool *pgxpool.Pool
	q    *sqlrow.Queue[pgx.Tx]

	txns atomic.Int64 // transactions committed, to observe grouping
}

func startWriter(pool *pgxpool.Pool, opt Options) *writer {
	w := &writer{pool: pool}
	w.q = sqlrow.StartQueue(opt.MaxGroup, opt.MaxGroupBytes, 0, w.commitGroup)
	return w
}

// close stops accepting writes and waits until the queued ones are done.
func (w *writer) close() { w.q.Close() }

// retries bounds how often a lone write is tried again after a deadlock
// or serialization failure.
const retries = 5

// commitGroup runs the ops in one transaction, each in a savepoint so that
// one failing op is rolled back alone. If the transaction itself fails, or
// an op lost a deadlock (another collector's group waited on a device row
// this group holds while holding the commit order this group wants; one
// of the two is cancelled), the group is rolled back and every op not
// already failed on its own is retried in a transaction of its own, so one
// bad write or one unlucky interleaving never takes the others down. The
// exception is a COMMIT whose outcome is unknown (store.ErrCommitUnknown):
// the group may be stored, so each op gets that error and none is retried.
func (w *writer) commitGroup(group []*op) {
	errs, err := w.runTx(group)
	if errors.Is(err, store.ErrCommitUnknown) {
		// Perhaps stored: trying again could store a write twice. An op
		// that failed on its own was rolled back to its savepoint.
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	} else if err != nil && len(group) > 1 {
		for i, o := range group {
			if errs[i] == nil || retryable(errs[i]) {
				errs[i] = w.runAlone(o)
			}
		}
	} else if retryable(errs[0]) || retryable(err) {
		errs[0] = w.runAlone(group[0])
	} else if err != nil {
		errs[0] = errors.Join(errs[0], err)
	}
	for i, o := range group {
		o.Done <- errs[i]
	}
}

// errRetryGroup marks a group rolled back so its ops run alone.
var errRetryGroup = errors.New("store: group rolled back after a deadlock")

// runAlone runs o in a transaction of its own, again after a deadlock or
// serialization failure, which a later attempt does not meet.
func (w *writer) runAlone(o *op) error {
	var err error
	for attempt := range retries {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt*attempt) * 10 * time.Millisecond)
		}
		errs, txErr := w.runTx([]*op{o})
		err = errors.Join(errs[0], txErr)
		if !retryable(err) {
			return err
		}
	}
	return err
}

// runTx returns each op's own error and the transaction's error (begin or
// commit); when the latter is set nothing was stored, unless it is
// store.ErrCommitUnknown. A group in which an op lost a deadlock is rolled
// back (errRetryGroup): its other ops may have waited on what the
// cancelled one held.
func (w *writer) runTx(group []*op) ([]error, error) {
	errs := make([]error, len(group))
	ctx := context.Background() // a write, once started, finishes
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return errs, fmt.Errorf("store: begin: %w", err)
	}
	for i, o := range group {
		errs[i] = applyInSavepoint(ctx, tx, o)
		if len(group) > 1 && retryable(errs[i]) {
			tx.Rollback(ctx)
			return errs, errRetryGroup
		}
	}
	if err := tx.Commit(ctx); err != nil {
		tx.Rollback(ctx)
		if commitUnknown(err) {
			return errs, fmt.Errorf("%w: %w", store.ErrCommitUnknown, err)
		}
		return errs, fmt.Errorf("store: commit: %w", err)
	}
	w.txns.Add(1)
	return errs, nil
}

func applyInSavepoint(ctx context.Context, tx pgx.Tx, o *op) error {
	if _, err := tx.Exec(ctx, `SAVEPOINT op`); err != nil {
		return err
	}
	if err := o.Apply(ctx, tx); err != nil {
		if _, rbErr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT op`); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		_, relErr := tx.Exec(ctx, `RELEASE SAVEPOINT op`)
		return errors.Join(err, relErr)
	}
	_, err := tx.Exec(ctx, `RELEASE SAVEPOINT op`)
	return err
}

// commitUnknown reports a COMMIT the server may have carried out: no
// answer came back, neither an error nor the rollback of an aborted
// transaction. (pgconn's SafeToRetry cannot tell: a connection lost while
// COMMIT's answer was awaited comes back as "conn closed", which it calls
// safe.) A COMMIT that was never sent counts too: the caller learns the
// outcome from the store either way.
func commitUnknown(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe) && !errors.Is(err, pgx.ErrTxCommitRollback)
}

// retryable reports a deadlock or serialization failure: the write was
// fine, its timing was not.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}
