package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// core is the sqlrow.Core of s: this engine's statements and steps.
func (s *Store) core() sqlrow.Core[pgx.Tx] {
	return sqlrow.NewCore(sqlrow.Engine[pgx.Tx]{
		SQL:       &coreSQL,
		Read:      s.db(),
		Queue:     s.queue,
		Tx:        func(tx pgx.Tx) sqlrow.Tx { return pgDB{tx} },
		Now:       s.opt.Now,
		ReadBatch: s.readBatch,
		DeviceID:  deviceID,
		// Access ids are drawn under the commit order lock, so
		// AccessesAfter never skips one committed later.
		LockOrder:     lockOrder,
		Commit:        s.commitBatch,
		InsertEvent:   s.insertEvent,
		InsertKey:     insertKey,
		InsertSession: insertSession,
		EndSession:    endSession,
		AlertConds:    alertConds,
		Triage:        &triageSQL,
		Prune:         s.runPrune,
	})
}

// coreSQL is sqlrow.Core's statements in PostgreSQL. batch_log says which
// partition holds a batch, so a read by (device, seq) searches only that
// one; its rows are numbered in commit order (commit.go), so a cursor
// past a row never skips one committed later.
var coreSQL = sqlrow.SQL{
	Placeholders: sqlrow.Dollar,

	Head: `SELECT head_seq, head_hash FROM devices WHERE name = $1`,
	Checkpoints: `SELECT c.source, c.file_dev, c.file_inode, c.fp_len, c.fp, c."offset"
		FROM checkpoints c JOIN devices d ON d.id = c.device_id WHERE d.name = $1 ORDER BY c.source COLLATE "C"`,
	BatchDigest: `SELECT b.digest FROM batch_log l JOIN devices d ON d.id = l.device_id
		JOIN batches b ON b.device_id = l.device_id AND b.seq = l.seq AND b.received_ns = l.received_ns
		WHERE d.name = $1 AND l.seq = $2`,
	Devices: `SELECT name, first_seen_ns, last_seen_ns, head_seq, head_hash FROM devices ORDER BY id`,
	Keys: `SELECT k.key_id, k.cert_der, k.first_seen_ns
		FROM keys k JOIN devices d ON d.id = k.device_id WHERE d.name = $1 ORDER BY k.first_seen_ns`,
	LocateBatch: `SELECT l.device_id, l.received_ns FROM batch_log l JOIN devices d ON d.id = l.device_id
		WHERE d.name = $1 AND l.seq = $2`,

	Events: func(where, limit string) string {
		return `SELECT e.id, d.name, e.time_ns, e.kind, e.seq, e.detail, e.boot_id
		FROM integrity_events e JOIN devices d ON d.id = e.device_id` + where + ` ORDER BY e.id` + limit
	},
	Records: func(where string) string {
		return `SELECT s.device_id, d.name, s.batch_seq, s.first_index, s.count, s.received_ns
		FROM segments s JOIN devices d ON d.id = s.device_id` + where + ` ORDER BY s.device_id, s.batch_seq, s.first_index`
	},
	CountSum: func(where string) string { return `SELECT COALESCE(SUM(s.count), 0)::bigint FROM segments s` + where },
	CountSegments: func(where string) string {
		return `SELECT s.device_id, s.batch_seq, s.received_ns, s.first_index, s.count, s.min_time_ns, s.max_time_ns
		FROM segments s` + where + ` ORDER BY s.device_id, s.batch_seq, s.first_index`
	},
	Alerts: func(where, limit string) string {
		return `SELECT ` + alertSelect + ` FROM alerts a` + where + ` ORDER BY a.last_recv_ns DESC, a.id DESC` + limit
	},

	DetectCursor: `SELECT batch_row, event_id, access_id, saves FROM detect_cursor WHERE id = 1`,
	DetectStates: `SELECT device, state FROM detect_state`,
	Save:         saveSQL,
	InsertAccess: `INSERT INTO accesses (time_ns, who, via, remote, what) VALUES ($1, $2, $3, $4, $5)`,
	AccessesAfter: `SELECT id, time_ns, who, via, remote, what FROM accesses
		WHERE id > $1 ORDER BY id LIMIT $2`,
	// state is a literal so the partial index alert_deliveries_due applies.
	// Escalations (alert_escalations) are deliveries too, marked 1.
	DueDeliveries: `SELECT x.sink, x.state, x.attempts, x.next_ns, x.last_error, x.delivered_ns, 0, ` +
		alertSelect + ` FROM alert_deliveries x JOIN alerts a ON a.id = x.alert_id
		WHERE x.sink = $1 AND x.state = 'pending' AND x.next_ns <= $2
		UNION ALL SELECT x.sink, x.state, x.attempts, x.next_ns, x.last_error, x.delivered_ns, 1, ` +
		alertSelect + ` FROM alert_escalations x JOIN alerts a ON a.id = x.alert_id
		WHERE x.sink = $1 AND x.state = 'pending' AND x.next_ns <= $2 ORDER BY 4, 8 LIMIT $3`,
	PendingDeliveries: `SELECT sink, count(*) FROM (SELECT sink FROM alert_deliveries WHERE state = 'pending'
		UNION ALL SELECT sink FROM alert_escalations WHERE state = 'pending') p GROUP BY sink`,
	FinishDelivery: `UPDATE alert_deliveries SET state = $1, attempts = $2, next_ns = $3, last_error = $4, delivered_ns = $5
			WHERE alert_id = $6 AND sink = $7`,
	FinishQueued:   ` AND state = 'pending' AND next_ns = $8`,
	DeliveryExists: `SELECT count(*) FROM alert_deliveries WHERE alert_id = $1 AND sink = $2`,

	CreateToken: `INSERT INTO enroll_tokens (hash, device, labels, created_ns, expires_ns) VALUES ($1, $2, $3, $4, $5)`,
	// The row is locked (FOR UPDATE) from the check to the marking, so two
	// enrollments racing with one token, on this collector or another,
	// cannot both win.
	FindToken:    `SELECT device, labels, created_ns, expires_ns, used_ns, revoked_ns FROM enroll_tokens WHERE hash = $1 FOR UPDATE`,
	MarkToken:    `UPDATE enroll_tokens SET used_ns = $1 WHERE hash = $2 AND used_ns = 0`,
	Revoke:       `INSERT INTO revocations (device, time_ns, key_ids, reason, by) VALUES ($1, $2, $3, $4, $5)`,
	RevokeTokens: `UPDATE enroll_tokens SET revoked_ns = $1 WHERE device = $2 AND used_ns = 0 AND revoked_ns = 0`,
	Revocations:  `SELECT device, time_ns, key_ids, reason, by FROM revocations ORDER BY id`,

	CreateOperatorToken:  `INSERT INTO operator_tokens (hash, name, created_ns, expires_ns) VALUES ($1, $2, $3, $4)`,
	OperatorToken:        `SELECT name, created_ns, expires_ns FROM operator_tokens WHERE hash = $1 AND revoked_ns = 0`,
	OperatorTokens:       `SELECT hash, name, created_ns, expires_ns, revoked_ns FROM operator_tokens ORDER BY created_ns, name`,
	RevokeOperatorTokens: `UPDATE operator_tokens SET revoked_ns = $1 WHERE name = $2 AND revoked_ns = 0`,
	Appliance: sqlrow.ApplianceSQL{
		Add:    `INSERT INTO appliances (name, relay, labels, added_ns, by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
		Remove: `DELETE FROM appliances WHERE name = $1`,
		One:    `SELECT relay, labels, added_ns, by FROM appliances WHERE name = $1`,
		All:    `SELECT name, relay, labels, added_ns, by FROM appliances ORDER BY name`,
	},
}

func insertKey(ctx context.Context, tx pgx.Tx, dev int64, k *store.Key, seen int64) error {
	_, err := pgExec(ctx, tx, `INSERT INTO keys (device_id, key_id, cert_der, first_seen_ns) VALUES ($1, $2, $3, $4)
		ON CONFLICT (device_id, key_id) DO NOTHING`, dev, sqlrow.NotNull(k.KeyID), sqlrow.NotNull(k.CertDER), seen)
	return err
}

func insertSession(ctx context.Context, tx pgx.Tx, dev int64, ss *store.Session, at int64) (id int64, err error) {
	err = pgQueryRow(ctx, tx, `INSERT INTO sessions (device_id, session_id, boot_id, agent_version, remote_addr, connected_ns)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, dev, ss.SessionID, ss.BootID, ss.AgentVersion, ss.RemoteAddr, at).Scan(&id)
	return id, err
}

func endSession(ctx context.Context, tx pgx.Tx, id, end, batches, bytes int64) error {
	_, err := pgExec(ctx, tx, `UPDATE sessions SET disconnected_ns = $1, batches = $2, bytes = $3 WHERE id = $4`, end, batches, bytes, id)
	return err
}
