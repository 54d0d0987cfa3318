package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Alert states: an alert opens when stored, and only an operator's
// transition (or the alert firing again after it was resolved) moves it.
const (
	StateOpen         = "open"
	StateAcknowledged = "acknowledged"
	StateResolved     = "resolved"
)

// Transition actions.
const (
	ActionAck     = "ack"
	ActionResolve = "resolve"
	ActionReopen  = "reopen"
	ActionAssign  = "assign"
	ActionNote    = "note"
)

// SystemWho is who a transition the collector makes itself (an alert
// that fires again after it was resolved reopens) is by.
const SystemWho = "offbox-ingest"

// Transition is one change to an alert's triage, stored as a record of
// its own: the history is the truth, the alert's State and Assignee are
// derived from it.
type Transition struct {
	ID       int64 // assigned by the store
	AlertID  int64
	Action   string    // Action*
	Who      string    // the operator: OS user on the CLI, the authenticated name for the API and dashboard
	Via      string    // "cli", "api", "dashboard" or "detect"
	At       time.Time // collector clock; zero on a call: the store's now
	Comment  string
	Assignee string // assign: the new assignee ("" unassigns); otherwise the assignee then
}

// TriageStore is what triage and escalation need of the store.
type TriageStore interface {
	// TransitionAlerts applies t (its AlertID ignored) to each alert of
	// ids in one transaction and returns the ids it changed: a
	// transition that would not change an alert (Applies) is not
	// stored. An unknown id is skipped.
	TransitionAlerts(ctx context.Context, ids []int64, t Transition) (changed []int64, err error)
	// AlertHistory is every transition of alert id, oldest first.
	AlertHistory(ctx context.Context, id int64) ([]Transition, error)
	// Escalate queues an escalation delivery (Delivery.Escalation) to
	// r.Sink, due now, for every alert still open (neither acknowledged
	// nor resolved) of at least r.MinSeverity that opened (Created) at or
	// before now - r.After. Each (alert, sink) is escalated at most once,
	// whoever calls: the store keeps which were, and a cursor per rule
	// (Rule.Key) so a round reads only alerts it has not passed. A rule
	// the store has not seen starts after the alerts already overdue
	// when it first runs: adding a rule does not page for old alerts.
	// It returns how many it queued.
	Escalate(ctx context.Context, r EscalationRule, now time.Time) (int, error)
}

// EscalationRule is one alerting.escalate entry.
type EscalationRule struct {
	After       time.Duration
	MinSeverity string
	Sink        string
}

// Key names the rule's cursor in the store.
func (r EscalationRule) Key() string {
	return fmt.Sprintf("%s/%s/%s", r.Sink, r.After, r.MinSeverity)
}

// CheckTransition reports what is wrong with t as an operator's request.
func CheckTransition(t *Transition) error {
	switch t.Action {
	case ActionAck, ActionResolve, ActionReopen:
	case ActionAssign:
		if len(t.Assignee) > 200 {
			return errors.New("assignee longer than 200 bytes")
		}
		if !utf8.ValidString(t.Assignee) || strings.ContainsFunc(t.Assignee, unicode.IsControl) {
			return fmt.Errorf("assignee %q: control characters or invalid UTF-8 in a name", t.Assignee)
		}
	case ActionNote:
		if t.Comment == "" {
			return errors.New("a note needs a comment")
		}
	default:
		return fmt.Errorf("unknown action %q (want ack, resolve, reopen, assign or note)", t.Action)
	}
	if len(t.Comment) > MaxComment {
		return fmt.Errorf("comment of %d bytes is longer than %d", len(t.Comment), MaxComment)
	}
	if t.Who == "" {
		return errors.New("a transition needs who makes it")
	}
	return nil
}

// MaxComment bounds a transition's comment, in bytes.
const MaxComment = 4096

// Applies reports whether action would change an alert in state with
// assignee, and the state and assignee it leaves: ack moves an open
// alert to acknowledged, resolve an open or acknowledged one to
// resolved, reopen an acknowledged or resolved one to open; assign
// changes the assignee to a different one; a note always applies.
func Applies(action, state, assignee, to string) (ok bool, newState, newAssignee string) {
	newState, newAssignee = state, assignee
	switch action {
	case ActionAck:
		ok, newState = state == StateOpen, StateAcknowledged
	case ActionResolve:
		ok, newState = state != StateResolved, StateResolved
	case ActionReopen:
		ok, newState = state != StateOpen, StateOpen
	case ActionAssign:
		ok, newAssignee = to != assignee, to
	case ActionNote:
		ok = true
	}
	if !ok {
		return false, state, assignee
	}
	return true, newState, newAssignee
}
