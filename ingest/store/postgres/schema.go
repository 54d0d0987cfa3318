package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
)

// migrations[i] takes the schema from version i to i+1. Append, never edit:
// a database records the version it is at and runs only what follows.
// Times are Unix nanoseconds (bigint) and blobs bytea, as in store/sqlite,
// so both give the same values back; uint64 values past int64 are stored
// wrapped (int64(v)) and read back with uint64(v).
var migrations = []string{
	// 1: the whole schema of store/sqlite's version 3, partitioned, plus
	// the commit order and the retention log.
	`
CREATE TABLE devices (
	id            bigserial PRIMARY KEY,
	name          text   NOT NULL UNIQUE,
	first_seen_ns bigint NOT NULL,
	last_seen_ns  bigint NOT NULL,
	head_seq      bigint NOT NULL DEFAULT 0,
	head_hash     bytea
);

-- Certificates by key id, so stored signatures can be re-checked later.
CREATE TABLE keys (
	device_id     bigint NOT NULL REFERENCES devices(id),
	key_id        bytea  NOT NULL,
	cert_der      bytea  NOT NULL,
	first_seen_ns bigint NOT NULL,
	PRIMARY KEY (device_id, key_id)
);

-- One row per stored batch, in partitions of received time that
-- retention drops whole. A partitioned table cannot be unique on
-- (device_id, seq) without the partition key: batch_log is.
CREATE TABLE batches (
	device_id       bigint NOT NULL,
	seq             bigint NOT NULL,
	digest          bytea  NOT NULL,
	prev_hash       bytea,
	key_id          bytea  NOT NULL,
	signature       bytea  NOT NULL,
	received_ns     bigint NOT NULL,
	sealed_ns       bigint NOT NULL,
	boot_id         text   NOT NULL,
	session_id      bytea,
	record_count    bigint NOT NULL,
	dropped_records bigint NOT NULL,
	dropped_bytes   bigint NOT NULL,
	bytes           bytea  NOT NULL
) PARTITION BY RANGE (received_ns);
CREATE INDEX batches_device_seq ON batches (device_id, seq);
-- lz4 where the server has it: pglz, the default, takes most of a commit's
-- time on a megabyte of log lines. Partitions made later inherit it.
DO $$ BEGIN
	ALTER TABLE batches ALTER COLUMN bytes SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;
END $$;
CREATE TABLE batches_default PARTITION OF batches DEFAULT;

-- The record index (see store/sqlite), partitioned like batches so a
-- batch and its segments are dropped together.
CREATE TABLE segments (
	device_id   bigint NOT NULL,
	batch_seq   bigint NOT NULL,
	first_index bigint NOT NULL,
	count       bigint NOT NULL,
	source      text   NOT NULL,
	kind        bigint NOT NULL,
	min_time_ns bigint NOT NULL,
	max_time_ns bigint NOT NULL,
	received_ns bigint NOT NULL,
	file_dev    bigint,
	file_inode  bigint,
	file_start  bigint,
	file_end    bigint
) PARTITION BY RANGE (received_ns);
CREATE INDEX segments_batch ON segments (device_id, batch_seq, first_index);
CREATE INDEX segments_device_time ON segments (device_id, min_time_ns);
CREATE INDEX segments_device_source_time ON segments (device_id, source, min_time_ns);
CREATE INDEX segments_kind_time ON segments (kind, min_time_ns);
CREATE TABLE segments_default PARTITION OF segments DEFAULT;

-- One row per stored batch, numbered in commit order: the one place
-- (device_id, seq) is unique, and the Row detection follows.
CREATE TABLE batch_log (
	row         bigint PRIMARY KEY,
	device_id   bigint NOT NULL REFERENCES devices(id),
	seq         bigint NOT NULL,
	received_ns bigint NOT NULL,
	UNIQUE (device_id, seq)
);

-- The last batch row given out. Its row lock, taken at the end of each
-- write that numbers anything and held to commit, is what makes rows,
-- integrity event ids and access ids visible in the order they count.
CREATE TABLE commit_order (
	batch_row bigint NOT NULL
);
INSERT INTO commit_order (batch_row) VALUES (0);

CREATE TABLE checkpoints (
	device_id  bigint NOT NULL REFERENCES devices(id),
	source     text   NOT NULL,
	file_dev   bigint NOT NULL,
	file_inode bigint NOT NULL,
	fp_len     bigint NOT NULL,
	fp         bytea,
	"offset"   bigint NOT NULL,
	PRIMARY KEY (device_id, source)
);

CREATE TABLE integrity_events (
	id        bigserial PRIMARY KEY,
	device_id bigint NOT NULL REFERENCES devices(id),
	time_ns   bigint NOT NULL,
	kind      text   NOT NULL,
	seq       bigint NOT NULL,
	detail    text   NOT NULL,
	boot_id   text   NOT NULL DEFAULT ''
);
CREATE INDEX integrity_events_device_time ON integrity_events (device_id, time_ns);
CREATE INDEX integrity_events_kind_time ON integrity_events (kind, time_ns);

CREATE TABLE sessions (
	id              bigserial PRIMARY KEY,
	device_id       bigint NOT NULL REFERENCES devices(id),
	session_id      bytea,
	boot_id         text   NOT NULL,
	agent_version   text   NOT NULL,
	remote_addr     text   NOT NULL,
	connected_ns    bigint NOT NULL,
	disconnected_ns bigint,
	batches         bigint NOT NULL DEFAULT 0,
	bytes           bigint NOT NULL DEFAULT 0
);
CREATE INDEX sessions_device ON sessions (device_id, connected_ns);

-- Where detection stopped. The row exists from the start (zeros read as
-- "nothing processed") so SaveAlerts can lock it as its fence.
CREATE TABLE detect_cursor (
	id        int    PRIMARY KEY CHECK (id = 1),
	batch_row bigint NOT NULL,
	event_id  bigint NOT NULL,
	access_id bigint NOT NULL,
	saves     bigint NOT NULL DEFAULT 0 -- store.Cursor.Saves
);
INSERT INTO detect_cursor (id, batch_row, event_id, access_id) VALUES (1, 0, 0, 0);

CREATE TABLE detect_state (
	device text  PRIMARY KEY,
	state  bytea NOT NULL
);

-- As in store/sqlite: device is a name ('' for the collector); fields,
-- labels and evidence are JSON text.
CREATE TABLE alerts (
	id         bigserial PRIMARY KEY,
	group_id   text   NOT NULL UNIQUE,
	kind       text   NOT NULL,
	severity   text   NOT NULL,
	device     text   NOT NULL,
	key        text   NOT NULL,
	summary    text   NOT NULL,
	fields     text   NOT NULL,
	labels     text   NOT NULL,
	evidence   text   NOT NULL,
	first_ns   bigint NOT NULL,
	last_ns    bigint NOT NULL,
	count      bigint NOT NULL,
	created_ns bigint NOT NULL,
	updated_ns bigint NOT NULL
);
CREATE INDEX alerts_device_last ON alerts (device, last_ns);
CREATE INDEX alerts_kind_last ON alerts (kind, last_ns);
CREATE INDEX alerts_last ON alerts (last_ns);

CREATE TABLE alert_deliveries (
	alert_id     bigint NOT NULL REFERENCES alerts(id),
	sink         text   NOT NULL,
	state        text   NOT NULL,
	attempts     bigint NOT NULL,
	next_ns      bigint NOT NULL,
	last_error   text   NOT NULL,
	delivered_ns bigint NOT NULL,
	PRIMARY KEY (alert_id, sink)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (sink, next_ns, alert_id) WHERE state = 'pending';

CREATE TABLE accesses (
	id      bigserial PRIMARY KEY,
	time_ns bigint NOT NULL,
	who     text   NOT NULL,
	via     text   NOT NULL,
	remote  text   NOT NULL,
	what    text   NOT NULL
);
CREATE INDEX accesses_time ON accesses (time_ns);

CREATE TABLE enroll_tokens (
	hash       bytea  PRIMARY KEY,
	device     text   NOT NULL,
	labels     text   NOT NULL,
	created_ns bigint NOT NULL,
	expires_ns bigint NOT NULL,
	used_ns    bigint NOT NULL DEFAULT 0
);

CREATE TABLE revocations (
	id      bigserial PRIMARY KEY,
	device  text   NOT NULL,
	time_ns bigint NOT NULL,
	key_ids text   NOT NULL,
	reason  text   NOT NULL,
	by      text   NOT NULL
);

CREATE TABLE operator_tokens (
	hash       bytea  PRIMARY KEY,
	name       text   NOT NULL,
	created_ns bigint NOT NULL,
	expires_ns bigint NOT NULL
);

-- What retention removed, per device and run (store.Pruned).
CREATE TABLE pruned (
	device_id   bigint NOT NULL REFERENCES devices(id),
	first_seq   bigint NOT NULL,
	last_seq    bigint NOT NULL,
	batches     bigint NOT NULL,
	records     bigint NOT NULL,
	last_digest bytea  NOT NULL,
	oldest_ns   bigint NOT NULL,
	newest_ns   bigint NOT NULL,
	cutoff_ns   bigint NOT NULL,
	at_ns       bigint NOT NULL
);
CREATE INDEX pruned_device ON pruned (device_id, at_ns);
`,
	// 2: a removal keeps the device's file checkpoints as they stood after
	// its last batch (store.Pruned.Checkpoints), so verification replays
	// the kept batches' index from there; a segment keeps its file's
	// fingerprint, which they take. NULL in rows made before.
	`
ALTER TABLE pruned ADD COLUMN checkpoints bytea;
ALTER TABLE segments ADD COLUMN file_fp_len bigint, ADD COLUMN file_fp bytea;
`,
	// 3: an alert's receive times (collector clock), which alert lists
	// sort and filter by instead of the device's clock. Rows made before
	// take the collector's clock of their first and last upsert.
	`
ALTER TABLE alerts ADD COLUMN first_recv_ns bigint NOT NULL DEFAULT 0,
	ADD COLUMN last_recv_ns bigint NOT NULL DEFAULT 0;
UPDATE alerts SET first_recv_ns = created_ns, last_recv_ns = updated_ns;
CREATE INDEX alerts_last_recv ON alerts (last_recv_ns);
CREATE INDEX alerts_device_last_recv ON alerts (device, last_recv_ns);
CREATE INDEX alerts_kind_last_recv ON alerts (kind, last_recv_ns);
`,
	// 4: revocation ends every way back in: a device's revocation revokes
	// its unused enrollment tokens, and an operator token can be revoked.
	`
ALTER TABLE enroll_tokens ADD COLUMN revoked_ns bigint NOT NULL DEFAULT 0;
ALTER TABLE operator_tokens ADD COLUMN revoked_ns bigint NOT NULL DEFAULT 0;
`,
	// Forward sinks (ingest/forward): where each has delivered to, so the
	// store is their backlog and a restart resumes there.
	`
CREATE TABLE forward_cursors (
	sink         text   PRIMARY KEY,
	batch_row    bigint NOT NULL,
	record_index bigint NOT NULL,
	alert_id     bigint NOT NULL,
	updated_ns   bigint NOT NULL
);
`,
	// triage: as in store/sqlite.
	`
ALTER TABLE alerts ADD COLUMN state text NOT NULL DEFAULT 'open',
	ADD COLUMN assignee text NOT NULL DEFAULT '';
CREATE INDEX alerts_state_last_recv ON alerts (state, last_recv_ns);
CREATE TABLE alert_transitions (
	id       bigserial PRIMARY KEY,
	alert_id bigint NOT NULL REFERENCES alerts(id),
	action   text   NOT NULL,
	who      text   NOT NULL,
	via      text   NOT NULL,
	at_ns    bigint NOT NULL,
	comment  text   NOT NULL,
	assignee text   NOT NULL
);
CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id, id);
CREATE TABLE alert_escalations (
	alert_id     bigint NOT NULL REFERENCES alerts(id),
	sink         text   NOT NULL,
	state        text   NOT NULL,
	attempts     bigint NOT NULL,
	next_ns      bigint NOT NULL,
	last_error   text   NOT NULL,
	delivered_ns bigint NOT NULL,
	escalated_ns bigint NOT NULL,
	PRIMARY KEY (alert_id, sink)
);
CREATE INDEX alert_escalations_due ON alert_escalations (sink, next_ns, alert_id) WHERE state = 'pending';
CREATE TABLE escalate_cursor (
	rule     text   PRIMARY KEY,
	alert_id bigint NOT NULL
);
`,
	// appliances: which relay may speak for which appliance (issue 20).
	`
CREATE TABLE appliances (
	name     text   NOT NULL PRIMARY KEY,
	relay    text   NOT NULL,
	labels   text   NOT NULL,
	added_ns bigint NOT NULL,
	by       text   NOT NULL
);
CREATE INDEX appliances_relay ON appliances(relay);
`,
	// search: each batch's token filter (ingest/search), written behind
	// ingestion by the indexer up to its cursor. No index is added to
	// segments: the commit path stays as it was (a search sorts).
	`
CREATE TABLE search_filters (
	device_id   bigint NOT NULL,
	batch_seq   bigint NOT NULL,
	received_ns bigint NOT NULL,
	bits        bytea  NOT NULL,
	-- In received order, as searches read them (newest or oldest first).
	PRIMARY KEY (received_ns, device_id, batch_seq)
);
CREATE TABLE search_cursor (
	id        integer PRIMARY KEY CHECK (id = 1),
	batch_row bigint  NOT NULL
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

// migrateLock is the advisory lock key migrations hold, so collectors
// starting together migrate once, one after the other.
var migrateLock = lockKey("offbox/migrate")

// migrate brings the database to the last version in one transaction, and
// refuses a database made by newer code.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("schema lock: %w", err)
	}
	if err := sqlrow.Migrate(ctx, pgDB{tx}, &schemaSQL, migrations); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// checkVersion is migrate for a read-only open: it only checks.
func checkVersion(ctx context.Context, pool *pgxpool.Pool) error {
	var v int
	if err := pool.QueryRow(ctx, schemaSQL.Version).Scan(&v); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
			return errors.New("not an offbox-ingest database (no schema_version table)")
		}
		return fmt.Errorf("not an offbox-ingest database: %w", err)
	}
	return sqlrow.SameVersion(v, migrations)
}

// schemaSQL is sqlrow.Migrate's statements on the version table.
var schemaSQL = sqlrow.SchemaSQL{
	Create:  `CREATE TABLE IF NOT EXISTS schema_version (version int NOT NULL)`,
	Version: `SELECT version FROM schema_version`,
	Start:   `INSERT INTO schema_version (version) VALUES (0)`,
	Set:     `UPDATE schema_version SET version = $1`,
}
