package postgres

import "github.com/offbox/offbox/ingest/store/internal/sqlrow"

// triageSQL is sqlrow.TriageSQL in PostgreSQL. An alert's row and a
// rule's cursor are locked (FOR UPDATE) from the read to the commit, so
// two collectors' transitions of one alert, or two escalation rounds,
// follow one another.
var triageSQL = sqlrow.TriageSQL{
	AlertState: `SELECT state, assignee FROM alerts WHERE id = $1 FOR UPDATE`,
	SetState:   `UPDATE alerts SET state = $1, assignee = $2 WHERE id = $3`,
	InsertTransition: `INSERT INTO alert_transitions (alert_id, action, who, via, at_ns, comment, assignee)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
	History: `SELECT id, alert_id, action, who, via, at_ns, comment, assignee FROM alert_transitions
		WHERE alert_id = $1 ORDER BY id`,
	CancelEscalations: `UPDATE alert_escalations SET state = 'cancelled' WHERE alert_id = $1 AND state = 'pending'`,

	EscCursor:     `SELECT alert_id FROM escalate_cursor WHERE rule = $1 FOR UPDATE`,
	EscStart:      `SELECT COALESCE(MAX(id), 0)::bigint FROM alerts WHERE created_ns <= $1`,
	EscCandidates: `SELECT id, state, severity, created_ns FROM alerts WHERE id > $1 ORDER BY id LIMIT $2`,
	EscInsert: `INSERT INTO alert_escalations (alert_id, sink, state, attempts, next_ns, last_error, delivered_ns, escalated_ns)
		VALUES ($1, $2, 'pending', 0, $3, '', 0, $4) ON CONFLICT (alert_id, sink) DO NOTHING`,
	EscMove: `INSERT INTO escalate_cursor (rule, alert_id) VALUES ($1, $2)
		ON CONFLICT (rule) DO UPDATE SET alert_id = excluded.alert_id`,

	FinishEscalation: `UPDATE alert_escalations SET state = $1, attempts = $2, next_ns = $3, last_error = $4, delivered_ns = $5
			WHERE alert_id = $6 AND sink = $7`,
	FinishEscalationQueued: ` AND state = 'pending' AND next_ns = $8`,
	EscalationExists:       `SELECT count(*) FROM alert_escalations WHERE alert_id = $1 AND sink = $2`,
}

// reopenSQL is sqlrow.SaveSQL's Reopen and ReopenState.
const (
	reopenSQL = `INSERT INTO alert_transitions (alert_id, action, who, via, at_ns, comment, assignee)
		SELECT id, 'reopen', 'offbox-ingest', 'detect', $1, 'fired again after it was resolved', assignee
		FROM alerts WHERE id = $2 AND state = 'resolved'`
	reopenStateSQL = `UPDATE alerts SET state = 'open' WHERE id = $1 AND state = 'resolved'`
)
