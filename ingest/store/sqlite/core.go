package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// core is the sqlrow.Core of s: this engine's statements and steps.
func (s *Store) core() sqlrow.Core[*sql.Tx] {
	return sqlrow.NewCore(sqlrow.Engine[*sql.Tx]{
		SQL:           &coreSQL,
		Read:          s.db(),
		Queue:         s.queue,
		Tx:            func(tx *sql.Tx) sqlrow.Tx { return writerTx{sqlDB: sqlDB{tx}, tx: tx, stmts: s.stmts} },
		Now:           s.opt.Now,
		ReadBatch:     s.readBatch,
		DeviceID:      s.deviceID,
		Commit:        s.commitBatch,
		InsertEvent:   s.insertEvent,
		InsertKey:     s.insertKey,
		InsertSession: s.insertSession,
		EndSession:    s.endSession,
		AlertConds:    alertConds,
		Triage:        &triageSQL,
		Prune:         runPrune,
	})
}

// coreSQL is sqlrow.Core's statements in SQLite. One writer commits in
// the order it numbers rows, so batches and ids are in commit order.
var coreSQL = sqlrow.SQL{
	Placeholders: sqlrow.Question,

	Head: `SELECT head_seq, head_hash FROM devices WHERE name = ?`,
	Checkpoints: `SELECT c.source, c.file_dev, c.file_inode, c.fp_len, c.fp, c.offset
		FROM checkpoints c JOIN devices d ON d.id = c.device_id WHERE d.name = ? ORDER BY c.source`,
	BatchDigest: `SELECT b.digest FROM batches b JOIN devices d ON d.id = b.device_id
		WHERE d.name = ? AND b.seq = ?`,
	Devices: `SELECT name, first_seen_ns, last_seen_ns, head_seq, head_hash FROM devices ORDER BY id`,
	Keys: `SELECT k.key_id, k.cert_der, k.first_seen_ns
		FROM keys k JOIN devices d ON d.id = k.device_id WHERE d.name = ? ORDER BY k.first_seen_ns`,
	LocateBatch: `SELECT b.device_id, b.received_ns FROM batches b JOIN devices d ON d.id = b.device_id
		WHERE d.name = ? AND b.seq = ?`,

	Events: func(where, limit string) string {
		return `SELECT e.id, d.name, e.time_ns, e.kind, e.seq, e.detail, e.boot_id
		FROM integrity_events e JOIN devices d ON d.id = e.device_id` + where + ` ORDER BY e.id` + limit
	},
	Records: func(where string) string {
		return `SELECT s.device_id, d.name, s.batch_seq, s.first_index, s.count, s.received_ns
		FROM segments s JOIN devices d ON d.id = s.device_id` + where + ` ORDER BY s.device_id, s.batch_seq, s.first_index`
	},
	CountSum: func(where string) string { return `SELECT COALESCE(SUM(s.count), 0) FROM segments s` + where },
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
	InsertAccess: `INSERT INTO accesses (time_ns, who, via, remote, what) VALUES (?, ?, ?, ?, ?)`,
	AccessesAfter: `SELECT id, time_ns, who, via, remote, what FROM accesses
		WHERE id > ? ORDER BY id LIMIT ?`,
	// state is a literal so the partial index alert_deliveries_due applies.
	// Escalations (alert_escalations) are deliveries too, marked 1.
	DueDeliveries: `SELECT x.sink, x.state, x.attempts, x.next_ns, x.last_error, x.delivered_ns, 0, ` +
		alertSelect + ` FROM alert_deliveries x JOIN alerts a ON a.id = x.alert_id
		WHERE x.sink = ?1 AND x.state = 'pending' AND x.next_ns <= ?2
		UNION ALL SELECT x.sink, x.state, x.attempts, x.next_ns, x.last_error, x.delivered_ns, 1, ` +
		alertSelect + ` FROM alert_escalations x JOIN alerts a ON a.id = x.alert_id
		WHERE x.sink = ?1 AND x.state = 'pending' AND x.next_ns <= ?2 ORDER BY 4, 8 LIMIT ?3`,
	PendingDeliveries: `SELECT sink, count(*) FROM (SELECT sink FROM alert_deliveries WHERE state = 'pending'
		UNION ALL SELECT sink FROM alert_escalations WHERE state = 'pending') GROUP BY sink`,
	FinishDelivery: `UPDATE alert_deliveries SET state = ?, attempts = ?, next_ns = ?, last_error = ?, delivered_ns = ?
			WHERE alert_id = ? AND sink = ?`,
	FinishQueued:   ` AND state = 'pending' AND next_ns = ?`,
	DeliveryExists: `SELECT count(*) FROM alert_deliveries WHERE alert_id = ? AND sink = ?`,

	CreateToken: `INSERT INTO enroll_tokens (hash, device, labels, created_ns, expires_ns) VALUES (?, ?, ?, ?, ?)`,
	// The check and the marking run inside the writer's transaction, so
	// two enrollments racing with one token cannot both win.
	FindToken:    `SELECT device, labels, created_ns, expires_ns, used_ns, revoked_ns FROM enroll_tokens WHERE hash = ?`,
	MarkToken:    `UPDATE enroll_tokens SET used_ns = ? WHERE hash = ? AND used_ns = 0`,
	Revoke:       `INSERT INTO revocations (device, time_ns, key_ids, reason, by) VALUES (?, ?, ?, ?, ?)`,
	RevokeTokens: `UPDATE enroll_tokens SET revoked_ns = ? WHERE device = ? AND used_ns = 0 AND revoked_ns = 0`,
	Revocations:  `SELECT device, time_ns, key_ids, reason, by FROM revocations ORDER BY id`,

	CreateOperatorToken:  `INSERT INTO operator_tokens (hash, name, created_ns, expires_ns) VALUES (?, ?, ?, ?)`,
	OperatorToken:        `SELECT name, created_ns, expires_ns FROM operator_tokens WHERE hash = ? AND revoked_ns = 0`,
	OperatorTokens:       `SELECT hash, name, created_ns, expires_ns, revoked_ns FROM operator_tokens ORDER BY created_ns, name`,
	RevokeOperatorTokens: `UPDATE operator_tokens SET revoked_ns = ? WHERE name = ? AND revoked_ns = 0`,
	Appliance: sqlrow.ApplianceSQL{
		Add:    `INSERT INTO appliances (name, relay, labels, added_ns, by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		Remove: `DELETE FROM appliances WHERE name = ?`,
		One:    `SELECT relay, labels, added_ns, by FROM appliances WHERE name = ?`,
		All:    `SELECT name, relay, labels, added_ns, by FROM appliances ORDER BY name`,
	},
}

// alertConds is sqlrow.Engine.AlertConds.
func alertConds(f *sqlrow.Filter, q *store.AlertQuery) error {
	if q.Severity != "" {
		sev, ok := sqlrow.SeverityAtLeast(q.Severity)
		if !ok {
			return fmt.Errorf("store: unknown severity %q", q.Severity)
		}
		f.Conds = append(f.Conds, "a.severity IN (?"+strings.Repeat(", ?", len(sev)-1)+")")
		for _, v := range sev {
			f.Args = append(f.Args, v)
		}
	}
	for k, v := range q.Labels {
		f.Conds = append(f.Conds, "json_extract(a.labels, ?) IS ?")
		f.Args = append(f.Args, labelPath(k), v)
	}
	return nil
}

// labelPath is the JSON path of the member k of an object, quoted so a key
// holding '.', '[' or '$' names that member and not a deeper one.
func labelPath(k string) string {
	return `$."` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
}

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, dev int64, k *store.Key, seen int64) error {
	_, err := tx.StmtContext(ctx, s.stmts.insertKey).ExecContext(ctx, dev, k.KeyID, k.CertDER, seen)
	return err
}

func (s *Store) insertSession(ctx context.Context, tx *sql.Tx, dev int64, ss *store.Session, at int64) (int64, error) {
	res, err := tx.StmtContext(ctx, s.stmts.insertSession).ExecContext(ctx, dev, ss.SessionID, ss.BootID,
		ss.AgentVersion, ss.RemoteAddr, at)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *Store) endSession(ctx context.Context, tx *sql.Tx, id, end, batches, bytes int64) error {
	_, err := tx.StmtContext(ctx, s.stmts.endSession).ExecContext(ctx, end, batches, bytes, id)
	return err
}
