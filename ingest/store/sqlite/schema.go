package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// migrations[i] takes the schema from version i to i+1. Append, never edit:
// a database records the version it is at and runs only what follows.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE devices (
	id            INTEGER PRIMARY KEY,
	name          TEXT    NOT NULL UNIQUE,
	first_seen_ns INTEGER NOT NULL,
	last_seen_ns  INTEGER NOT NULL,
	head_seq      INTEGER NOT NULL DEFAULT 0,
	head_hash     BLOB
);

-- Certificates by key id, so stored signatures can be re-checked later.
CREATE TABLE keys (
	device_id     INTEGER NOT NULL REFERENCES devices(id),
	key_id        BLOB    NOT NULL,
	cert_der      BLOB    NOT NULL,
	first_seen_ns INTEGER NOT NULL,
	PRIMARY KEY (device_id, key_id)
) WITHOUT ROWID;

-- One row per stored batch. A rowid table because rows are large; the
-- signed bytes come last so reading the other columns never walks the
-- blob's overflow pages.
CREATE TABLE batches (
	id              INTEGER PRIMARY KEY,
	device_id       INTEGER NOT NULL REFERENCES devices(id),
	seq             INTEGER NOT NULL,
	digest          BLOB    NOT NULL,
	prev_hash       BLOB,
	key_id          BLOB    NOT NULL,
	signature       BLOB    NOT NULL,
	received_ns     INTEGER NOT NULL,
	sealed_ns       INTEGER NOT NULL,
	boot_id         TEXT    NOT NULL,
	session_id      BLOB,
	record_count    INTEGER NOT NULL,
	dropped_records INTEGER NOT NULL,
	dropped_bytes   INTEGER NOT NULL,
	bytes           BLOB    NOT NULL,
	UNIQUE (device_id, seq)
);

-- The record index: one row per run of records of a batch sharing source
-- and kind (file runs: one file, contiguous bytes). Records are read from
-- the batch bytes; this says which batches and which indexes to read.
CREATE TABLE segments (
	device_id   INTEGER NOT NULL,
	batch_seq   INTEGER NOT NULL,
	first_index INTEGER NOT NULL,
	count       INTEGER NOT NULL,
	source      TEXT    NOT NULL,
	kind        INTEGER NOT NULL,
	min_time_ns INTEGER NOT NULL,
	max_time_ns INTEGER NOT NULL,
	received_ns INTEGER NOT NULL,
	file_dev    INTEGER,
	file_inode  INTEGER,
	file_start  INTEGER,
	file_end    INTEGER,
	PRIMARY KEY (device_id, batch_seq, first_index),
	FOREIGN KEY (device_id, batch_seq) REFERENCES batches(device_id, seq)
) WITHOUT ROWID;
CREATE INDEX segments_device_time ON segments(device_id, min_time_ns);
CREATE INDEX segments_device_source_time ON segments(device_id, source, min_time_ns);
CREATE INDEX segments_kind_time ON segments(kind, min_time_ns);

CREATE TABLE checkpoints (
	device_id  INTEGER NOT NULL REFERENCES devices(id),
	source     TEXT    NOT NULL,
	file_dev   INTEGER NOT NULL,
	file_inode INTEGER NOT NULL,
	fp_len     INTEGER NOT NULL,
	fp         BLOB,
	offset     INTEGER NOT NULL,
	PRIMARY KEY (device_id, source)
) WITHOUT ROWID;

CREATE TABLE integrity_events (
	id        INTEGER PRIMARY KEY,
	device_id INTEGER NOT NULL REFERENCES devices(id),
	time_ns   INTEGER NOT NULL,
	kind      TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	detail    TEXT    NOT NULL
);
CREATE INDEX integrity_events_device_time ON integrity_events(device_id, time_ns);
CREATE INDEX integrity_events_kind_time ON integrity_events(kind, time_ns);

CREATE TABLE sessions (
	id              INTEGER PRIMARY KEY,
	device_id       INTEGER NOT NULL REFERENCES devices(id),
	session_id      BLOB,
	boot_id         TEXT    NOT NULL,
	agent_version   TEXT    NOT NULL,
	remote_addr     TEXT    NOT NULL,
	connected_ns    INTEGER NOT NULL,
	disconnected_ns INTEGER,
	batches         INTEGER NOT NULL DEFAULT 0,
	bytes           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_device ON sessions(device_id, connected_ns);
`,
	// 2: alerts, their deliveries, the detect cursor and states, the access
	// log, and the boot id of integrity events.
	`
ALTER TABLE integrity_events ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';

-- Where detection stopped; at most one row.
CREATE TABLE detect_cursor (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	batch_row INTEGER NOT NULL,
	event_id  INTEGER NOT NULL,
	access_id INTEGER NOT NULL
);

-- Detection's baseline per device, opaque to the store; device is the
-- name, as in alerts.
CREATE TABLE detect_state (
	device TEXT NOT NULL PRIMARY KEY,
	state  BLOB NOT NULL
) WITHOUT ROWID;

-- One row per alert group. device is the device name ('' for alerts about
-- the collector), not a devices row: an alert may concern no device.
-- fields and labels are JSON objects, evidence a JSON array of refs.
CREATE TABLE alerts (
	id         INTEGER PRIMARY KEY,
	group_id   TEXT    NOT NULL UNIQUE,
	kind       TEXT    NOT NULL,
	severity   TEXT    NOT NULL,
	device     TEXT    NOT NULL,
	key        TEXT    NOT NULL,
	summary    TEXT    NOT NULL,
	fields     TEXT    NOT NULL,
	labels     TEXT    NOT NULL,
	evidence   TEXT    NOT NULL,
	first_ns   INTEGER NOT NULL,
	last_ns    INTEGER NOT NULL,
	count      INTEGER NOT NULL,
	created_ns INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL
);
CREATE INDEX alerts_device_last ON alerts(device, last_ns);
CREATE INDEX alerts_kind_last ON alerts(kind, last_ns);
CREATE INDEX alerts_last ON alerts(last_ns);

-- One row per (alert, sink); delivered_ns is 0 until delivered.
CREATE TABLE alert_deliveries (
	alert_id     INTEGER NOT NULL REFERENCES alerts(id),
	sink         TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	attempts     INTEGER NOT NULL,
	next_ns      INTEGER NOT NULL,
	last_error   TEXT    NOT NULL,
	delivered_ns INTEGER NOT NULL,
	PRIMARY KEY (alert_id, sink)
) WITHOUT ROWID;
-- Only pending rows are ever looked up by due time.
CREATE INDEX alert_deliveries_due ON alert_deliveries(sink, next_ns, alert_id) WHERE state = 'pending';

-- The audit trail of reads of the collector's data.
CREATE TABLE accesses (
	id      INTEGER PRIMARY KEY,
	time_ns INTEGER NOT NULL,
	who     TEXT    NOT NULL,
	via     TEXT    NOT NULL,
	remote  TEXT    NOT NULL,
	what    TEXT    NOT NULL
);
CREATE INDEX accesses_time ON accesses(time_ns);
`,
	// 3: enrollment tokens, revocations and operator tokens (hashes only).
	`
CREATE TABLE enroll_tokens (
	hash       BLOB    PRIMARY KEY,
	device     TEXT    NOT NULL,
	labels     TEXT    NOT NULL,
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL,
	used_ns    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE revocations (
	id      INTEGER PRIMARY KEY,
	device  TEXT    NOT NULL,
	time_ns INTEGER NOT NULL,
	key_ids TEXT    NOT NULL,
	reason  TEXT    NOT NULL,
	by      TEXT    NOT NULL
);

CREATE TABLE operator_tokens (
	hash       BLOB    PRIMARY KEY,
	name       TEXT    NOT NULL,
	created_ns INTEGER NOT NULL,
	expires_ns INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// 4: retention: what Prune removed from each device, and batches by
	// received time so Prune finds the old ones without a scan.
	`
CREATE INDEX batches_received ON batches(received_ns);

-- One row per device per Prune that removed some of its batches: the
-- removed sequences, the digest of the last (the prev_hash of the next
-- batch kept) and the received times, so verification can account for
-- every sequence number after the batches are gone.
CREATE TABLE pruned (
	id                 INTEGER PRIMARY KEY,
	device_id          INTEGER NOT NULL REFERENCES devices(id),
	first_seq          INTEGER NOT NULL,
	last_seq           INTEGER NOT NULL,
	batches            INTEGER NOT NULL,
	records            INTEGER NOT NULL,
	last_digest        BLOB    NOT NULL,
	oldest_received_ns INTEGER NOT NULL,
	newest_received_ns INTEGER NOT NULL,
	cutoff_ns          INTEGER NOT NULL,
	at_ns              INTEGER NOT NULL
);
CREATE INDEX pruned_device_at ON pruned(device_id, at_ns);
`,
	// 5: the detect cursor counts its saves (store.Cursor.Saves), the
	// fence of a detection that lost its leadership.
	`
ALTER TABLE detect_cursor ADD COLUMN saves INTEGER NOT NULL DEFAULT 0;
`,
	// 6: a removal keeps the device's file checkpoints as they stood after
	// its last batch (store.Pruned.Checkpoints), so verification replays
	// the kept batches' index from there; a segment keeps its file's
	// fingerprint, which they take. NULL in rows made before.
	`
ALTER TABLE pruned ADD COLUMN checkpoints BLOB;
ALTER TABLE segments ADD COLUMN file_fp_len INTEGER;
ALTER TABLE segments ADD COLUMN file_fp BLOB;
`,
	// 7: an alert's receive times (collector clock), which alert lists
	// sort and filter by instead of the device's clock. Rows made before
	// take the collector's clock of their first and last upsert.
	`
ALTER TABLE alerts ADD COLUMN first_recv_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN last_recv_ns INTEGER NOT NULL DEFAULT 0;
UPDATE alerts SET first_recv_ns = created_ns, last_recv_ns = updated_ns;
CREATE INDEX alerts_last_recv ON alerts(last_recv_ns);
CREATE INDEX alerts_device_last_recv ON alerts(device, last_recv_ns);
CREATE INDEX alerts_kind_last_recv ON alerts(kind, last_recv_ns);
`,
	// 8: revocation ends every way back in: a device's revocation revokes
	// its unused enrollment tokens, and an operator token can be revoked.
	`
ALTER TABLE enroll_tokens ADD COLUMN revoked_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE operator_tokens ADD COLUMN revoked_ns INTEGER NOT NULL DEFAULT 0;
`,
	// Forward sinks (ingest/forward): where each has delivered to, so the
	// store is their backlog and a restart resumes there.
	`
CREATE TABLE forward_cursors (
	sink         TEXT    PRIMARY KEY,
	batch_row    INTEGER NOT NULL,
	record_index INTEGER NOT NULL,
	alert_id     INTEGER NOT NULL,
	updated_ns   INTEGER NOT NULL
);
`,
	// triage: an alert's transitions (the truth) and its state and
	// assignee derived from them, kept on the row in the transaction that
	// appends one; escalations, once per (alert, sink), with a cursor per
	// rule.
	`
ALTER TABLE alerts ADD COLUMN state TEXT NOT NULL DEFAULT 'open';
ALTER TABLE alerts ADD COLUMN assignee TEXT NOT NULL DEFAULT '';
CREATE INDEX alerts_state_last_recv ON alerts(state, last_recv_ns);
CREATE TABLE alert_transitions (
	id       INTEGER PRIMARY KEY,
	alert_id INTEGER NOT NULL REFERENCES alerts(id),
	action   TEXT    NOT NULL,
	who      TEXT    NOT NULL,
	via      TEXT    NOT NULL,
	at_ns    INTEGER NOT NULL,
	comment  TEXT    NOT NULL,
	assignee TEXT    NOT NULL
);
CREATE INDEX alert_transitions_alert ON alert_transitions(alert_id, id);
-- As alert_deliveries, for escalations: one row per (alert, sink) ever.
CREATE TABLE alert_escalations (
	alert_id     INTEGER NOT NULL REFERENCES alerts(id),
	sink         TEXT    NOT NULL,
	state        TEXT    NOT NULL,
	attempts     INTEGER NOT NULL,
	next_ns      INTEGER NOT NULL,
	last_error   TEXT    NOT NULL,
	delivered_ns INTEGER NOT NULL,
	escalated_ns INTEGER NOT NULL,
	PRIMARY KEY (alert_id, sink)
) WITHOUT ROWID;
CREATE INDEX alert_escalations_due ON alert_escalations(sink, next_ns, alert_id) WHERE state = 'pending';
CREATE TABLE escalate_cursor (
	rule     TEXT    NOT NULL PRIMARY KEY,
	alert_id INTEGER NOT NULL
) WITHOUT ROWID;
`,
	// appliances: which relay may speak for which appliance (issue 20).
	`
CREATE TABLE appliances (
	name     text   NOT NULL PRIMARY KEY,
	relay    text   NOT NULL,
	labels   text   NOT NULL,
	added_ns INTEGER NOT NULL,
	by       text   NOT NULL
);
CREATE INDEX appliances_relay ON appliances(relay);
`,
	// search: each batch's token filter (ingest/search), written behind
	// ingestion by the indexer up to its cursor. No index is added to
	// segments: the commit path stays as it was (a search sorts).
	`
CREATE TABLE search_filters (
	device_id   INTEGER NOT NULL,
	batch_seq   INTEGER NOT NULL,
	received_ns INTEGER NOT NULL,
	bits        BLOB    NOT NULL,
	-- In received order, as searches read them (newest or oldest first).
	PRIMARY KEY (received_ns, device_id, batch_seq)
) WITHOUT ROWID;
CREATE TABLE search_cursor (
	id        INTEGER PRIMARY KEY CHECK (id = 1),
	batch_row INTEGER NOT NULL
);
INSERT INTO search_cursor (id, batch_row) VALUES (1, 0);
`,
	// Alerts are listed and filtered by received time (last_recv_ns, with
	// its indexes): the device-time indexes of the first schema serve no
	// query, and every detection round that touches an alert rewrote
	// their entries.
	`
DROP INDEX alerts_device_last;
DROP INDEX alerts_kind_last;
DROP INDEX alerts_last;
`,
}

// schemaVersion is the version this code creates and reads.
var schemaVersion = len(migrations)

// SchemaVersion is the schema version this code creates and reads (a
// cache of generated stores keys on it: an older one cannot be read).
func SchemaVersion() int { return schemaVersion }

// migrate brings the database to schemaVersion in one transaction, and
// refuses a database made by newer code.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := sqlrow.Migrate(ctx, sqlDB{tx}, &schemaSQL, migrations); err != nil {
		return err
	}
	return tx.Commit()
}

// checkVersion is migrate for a read-only open: it only checks.
func checkVersion(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, schemaSQL.Version).Scan(&v); err != nil {
		return fmt.Errorf("not an offbox-ingest database: %w", err)
	}
	return sqlrow.SameVersion(v, migrations)
}

// schemaSQL is sqlrow.Migrate's statements on the version table.
var schemaSQL = sqlrow.SchemaSQL{
	Create:  `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`,
	Version: `SELECT version FROM schema_version`,
	Start:   `INSERT INTO schema_version (version) VALUES (0)`,
	Set:     `UPDATE schema_version SET version = ?`,
}
