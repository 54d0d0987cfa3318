package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// TriageSQL is an engine's statements for store.TriageStore and for
// escalations' delivery outcomes.
type TriageSQL struct {
	AlertState       string // state, assignee of alert (id), locked to the end of the transaction where the engine can
	SetState         string // sets state, assignee of alert (id)
	InsertTransition string // inserts (alert_id, action, who, via, at_ns, comment, assignee)
	History          string // ScanTransition's columns of alert (id), by id
	// CancelEscalations sets the pending escalations of alert (id) to
	// 'cancelled': acknowledged or resolved, it no longer escalates.
	CancelEscalations string

	EscCursor     string // alert_id of the escalation cursor (rule), locked where the engine can
	EscStart      string // the largest alert id created at or before (ns), 0 if none
	EscCandidates string // id, state, severity, created_ns of alerts with id > (after), by id, LIMIT (limit)
	EscInsert     string // inserts a pending escalation (alert_id, sink, next_ns, escalated_ns) unless there is one
	EscMove       string // upserts the escalation cursor (rule, alert_id)

	// FinishEscalation, FinishEscalationQueued, EscalationExists are
	// FinishDelivery's update, queued and exists on alert_escalations.
	FinishEscalation, FinishEscalationQueued, EscalationExists string
}

// escBatch is how many alerts one escalation round reads at most.
const escBatch = 500

// ScanTransition scans id, alert_id, action, who, via, at_ns, comment,
// assignee.
func ScanTransition(r Scanner) (store.Transition, error) {
	var t store.Transition
	var at int64
	err := r.Scan(&t.ID, &t.AlertID, &t.Action, &t.Who, &t.Via, &at, &t.Comment, &t.Assignee)
	t.At = NsTime(at)
	return t, err
}

// TransitionAlerts implements store.TriageStore.
func (c *Core[T]) TransitionAlerts(ctx context.Context, ids []int64, t store.Transition) (changed []int64, err error) {
	if err := store.CheckTransition(&t); err != nil {
		return nil, fmt.Errorf("store: transition: %w", err)
	}
	at := c.timeOr(t.At).UnixNano()
	ids = slices.Clone(ids)
	slices.Sort(ids) // one lock order for concurrent transitions
	ids = slices.Compact(ids)
	q := c.e.Triage
	err = c.write(ctx, func(ctx context.Context, tx Tx) error {
		changed = changed[:0]
		for _, id := range ids {
			var state, assignee string
			err := tx.QueryRow(ctx, q.AlertState, id).Scan(&state, &assignee)
			if errors.Is(err, ErrNoRows) {
				continue
			}
			if err != nil {
				return fmt.Errorf("alert %d: %w", id, err)
			}
			ok, newState, newAssignee := store.Applies(t.Action, state, assignee, t.Assignee)
			if !ok {
				continue
			}
			if _, err := tx.Exec(ctx, q.InsertTransition, id, t.Action, t.Who, t.Via, at, t.Comment, newAssignee); err != nil {
				return fmt.Errorf("alert %d: transition: %w", id, err)
			}
			if newState != state || newAssignee != assignee {
				if _, err := tx.Exec(ctx, q.SetState, newState, newAssignee, id); err != nil {
					return fmt.Errorf("alert %d: state: %w", id, err)
				}
			}
			if newState != store.StateOpen && state == store.StateOpen {
				if _, err := tx.Exec(ctx, q.CancelEscalations, id); err != nil {
					return fmt.Errorf("alert %d: escalations: %w", id, err)
				}
			}
			changed = append(changed, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", t.Action, err)
	}
	return changed, nil
}

// AlertHistory implements store.TriageStore.
func (c *Core[T]) AlertHistory(ctx context.Context, id int64) ([]store.Transition, error) {
	return All(ctx, c.e.Read, fmt.Sprint("history of alert ", id), ScanTransition, c.e.Triage.History, id)
}

// Escalate implements store.TriageStore. It reads at most escBatch
// alerts per transaction, and goes on while a batch was full of due ones,
// so a backlog is worked through in one call without holding the writer.
func (c *Core[T]) Escalate(ctx context.Context, r store.EscalationRule, now time.Time) (n int, err error) {
	sevs, ok := SeverityAtLeast(r.MinSeverity)
	if !ok || r.After <= 0 || r.Sink == "" {
		return 0, fmt.Errorf("store: escalation rule %s: bad severity, after or sink", r.Key())
	}
	now = c.timeOr(now)
	for {
		added, more, err := c.escalateBatch(ctx, r, sevs, now)
		n += added
		if err != nil {
			return n, fmt.Errorf("store: escalate %s: %w", r.Key(), err)
		}
		if !more {
			return n, nil
		}
	}
}

// escalateBatch is one transaction of Escalate; more: the batch was full
// and all of it due, so more may be.
func (c *Core[T]) escalateBatch(ctx context.Context, r store.EscalationRule, sevs []string, now time.Time) (n int, more bool, err error) {
	due := now.Add(-r.After).UnixNano()
	q := c.e.Triage
	err = c.write(ctx, func(ctx context.Context, tx Tx) error {
		n, more = 0, false
		var cursor int64
		err := tx.QueryRow(ctx, q.EscCursor, r.Key()).Scan(&cursor)
		if errors.Is(err, ErrNoRows) {
			// A new rule: start past what is already overdue.
			err = tx.QueryRow(ctx, q.EscStart, due).Scan(&cursor)
		}
		if err != nil {
			return fmt.Errorf("cursor: %w", err)
		}
		type cand struct {
			id         int64
			state, sev string
			created    int64
		}
		cands, err := All(ctx, tx, "escalation candidates", func(s Scanner) (x cand, err error) {
			err = s.Scan(&x.id, &x.state, &x.sev, &x.created)
			return x, err
		}, q.EscCandidates, cursor, escBatch)
		if err != nil {
			return err
		}
		passed := 0
		for _, a := range cands {
			if a.created > due {
				break // alert ids follow creation: the rest are not due either
			}
			cursor = a.id
			passed++
			if a.state != store.StateOpen || !slices.Contains(sevs, a.sev) {
				continue
			}
			added, err := tx.Exec(ctx, q.EscInsert, a.id, r.Sink, now.UnixNano(), now.UnixNano())
			if err != nil {
				return fmt.Errorf("alert %d: %w", a.id, err)
			}
			n += int(added)
		}
		more = passed == escBatch
		_, err = tx.Exec(ctx, q.EscMove, r.Key(), cursor)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return n, more, nil
}

// reopen reopens alert id in tx if it is resolved (it fired again), as a
// transition by store.SystemWho.
func reopen(ctx context.Context, tx Tx, q *SaveSQL, id, now int64) error {
	if q.Reopen == "" {
		return nil
	}
	n, err := tx.Exec(ctx, q.Reopen, now, id)
	if err != nil || n == 0 {
		return err
	}
	_, err = tx.Exec(ctx, q.ReopenState, id)
	return err
}
