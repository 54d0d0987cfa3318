package sqlite

import "github.com/offbox/offbox/ingest/store/internal/sqlrow"

// triageSQL is sqlrow.TriageSQL in SQLite. One writer: a row read in the
// write transaction cannot change before it commits.
var triageSQL = sqlrow.TriageSQL{
	AlertState: `SELECT state, assignee FROM alerts WHERE id = ?`,
	SetState:   `UPDATE alerts SET state = ?, assignee = ? WHERE id = ?`,
	InsertTransition: `INSERT INTO alert_transitions (alert_id, action, who, via, at_ns, comment, assignee)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
	History: `SELECT id, alert_id, action, who, via, at_ns, comment, assignee FROM alert_transitions
		WHERE alert_id = ? ORDER BY id`,
	CancelEscalations: `UPDATE alert_escalations SET state = 'cancelled' WHERE alert_id = ? AND state = 'pending'`,

	EscCursor:     `SELECT alert_id FROM escalate_cursor WHERE rule = ?`,
	EscStart:      `SELECT COALESCE(MAX(id), 0) FROM alerts WHERE created_ns <= ?`,
	EscCandidates: `SELECT id, state, severity, created_ns FROM alerts WHERE id > ? ORDER BY id LIMIT ?`,
	EscInsert: `INSERT INTO alert_escalations (alert_id, sink, state, attempts, next_ns, last_error, delivered_ns, escalated_ns)
		VALUES (?, ?, 'pending', 0, ?, '', 0, ?) ON CONFLICT (alert_id, sink) DO NOTHING`,
	EscMove: `INSERT INTO escalate_cursor (rule, alert_id) VALUES (?, ?)
		ON CONFLICT (rule) DO UPDATE SET alert_id = excluded.alert_id`,

	FinishEscalation: `UPDATE alert_escalations SET state = ?, attempts = ?, next_ns = ?, last_error = ?, delivered_ns = ?
			WHERE alert_id = ? AND sink = ?`,
	FinishEscalationQueued: ` AND state = 'pending' AND next_ns = ?`,
	EscalationExists:       `SELECT count(*) FROM alert_escalations WHERE alert_id = ? AND sink = ?`,
}

// reopenSQL is sqlrow.SaveSQL's Reopen and ReopenState.
const (
	reopenSQL = `INSERT INTO alert_transitions (alert_id, action, who, via, at_ns, comment, assignee)
		SELECT id, 'reopen', 'offbox-ingest', 'detect', ?, 'fired again after it was resolved', assignee
		FROM alerts WHERE id = ? AND state = 'resolved'`
	reopenStateSQL = `UPDATE alerts SET state = 'open' WHERE id = ? AND state = 'resolved'`
)
