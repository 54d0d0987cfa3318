package sqlite

import (
	"bytes"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/internal/sqlrow"
	"github.com/offbox/offbox/ingest/store/storetest"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func alert(group string, last time.Time) store.Alert {
	return store.Alert{GroupID: group, Kind: "auth_failure", Severity: store.SeverityWarning, Device: "router-1",
		Key: "root", Summary: "failed logins for root", First: last.Add(-time.Minute), Last: last, Count: 1}
}

func save(t *testing.T, s *Store, now time.Time, cur *store.Cursor, ups ...store.AlertUpsert) {
	t.Helper()
	if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: ups, Cursor: cur, Now: now}); err != nil {
		t.Fatalf("SaveAlerts: %v", err)
	}
}

func alerts(t *testing.T, s *Store, q store.AlertQuery) []store.Alert {
	t.Helper()
	as, err := s.Alerts(ctx, q)
	if err != nil {
		t.Fatalf("Alerts(%+v): %v", q, err)
	}
	return as
}

func groups(as []store.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.GroupID)
	}
	return out
}

// TestSaveAlertsOneTransaction: an alert that fails leaves the cursor,
// the states and the alerts saved before it in the same call as they
// were. (The cursor and states themselves are in the suite.)
func TestSaveAlertsOneTransaction(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	save(t, s, t0, &store.Cursor{BatchRow: 10, EventID: 20, AccessID: 30}, store.AlertUpsert{Alert: alert("g1", t0)})
	if err := s.SaveAlerts(ctx, store.AlertSave{Now: t0, States: map[string][]byte{"r1": []byte("a2")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON alerts WHEN NEW.group_id = 'boom'
		BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	before, _ := s.DetectCursor(ctx)
	err := s.SaveAlerts(ctx, store.AlertSave{Cursor: &store.Cursor{BatchRow: 1000}, Now: t0,
		States: map[string][]byte{"r1": []byte("lost")}, Alerts: []store.AlertUpsert{
			{Alert: alert("g5", t0), Sinks: []string{"mail"}},
			{Alert: alert("boom", t0)},
		}})
	if err == nil {
		t.Fatal("save with a refused alert succeeded")
	}
	if c, _ := s.DetectCursor(ctx); c != before {
		t.Errorf("failed save moved the cursor to %+v", c)
	}
	if st, _ := s.DetectStates(ctx); string(st["r1"]) != "a2" {
		t.Errorf("failed save replaced r1's state with %q", st["r1"])
	}
	if got := alerts(t, s, store.AlertQuery{}); slices.Contains(groups(got), "g5") {
		t.Errorf("failed save stored g5: %v", groups(got))
	}
	if p, _ := s.PendingDeliveries(ctx); p["mail"] != 0 {
		t.Errorf("failed save queued a delivery: %v", p)
	}
}

// TestAlertCorruptJSON: a stored alert whose JSON does not decode is an
// error that names the alert.
func TestAlertCorruptJSON(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	save(t, s, t0, nil, store.AlertUpsert{Alert: alert("g1", t0)})
	id := alerts(t, s, store.AlertQuery{})[0].ID
	if _, err := s.write.Exec(`UPDATE alerts SET labels = '{"site":' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	_, err := s.Alerts(ctx, store.AlertQuery{})
	if want := "alert " + strconv.FormatInt(id, 10) + " labels"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Alerts of a corrupt row: err = %v, want it to name %q", err, want)
	}
}

// TestAlertStoreReadOnly: a read-only store answers queries and refuses
// every write.
func TestAlertStoreReadOnly(t *testing.T) {
	t.Parallel()
	s, path := tempStore(t)
	save(t, s, t0, &store.Cursor{BatchRow: 1}, store.AlertUpsert{Alert: alert("g1", t0), Sinks: []string{"mail"}})
	ro, err := OpenReadOnly(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	prune := func() error {
		_, err := ro.Prune(ctx, t0, t0)
		return err
	}
	if ps, err := ro.Pruned(ctx, ""); err != nil || len(ps) != 0 {
		t.Errorf("read-only Pruned = %+v, %v", ps, err)
	}
	if got := alerts(t, ro, store.AlertQuery{}); len(got) != 1 {
		t.Errorf("read-only Alerts = %v", groups(got))
	}
	writes := map[string]error{
		"SaveAlerts":     ro.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: alert("g2", t0)}}}),
		"RecordAccess":   ro.RecordAccess(ctx, store.Access{Who: "x"}),
		"FinishDelivery": ro.FinishDelivery(ctx, store.Delivery{AlertID: 1, Sink: "mail", State: store.DeliveryDelivered}),
		"Prune":          prune(),
	}
	for name, err := range writes {
		if !errors.Is(err, errReadOnly) {
			t.Errorf("read-only %s: err = %v, want errReadOnly", name, err)
		}
	}
}

// TestMigrateFromV1: a database made by the first schema opens, keeps its
// batches and events, and reads the events with no boot id.
func TestMigrateFromV1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", dsn(path, Options{BusyTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	dev := batchtest.NewDevice("d")
	sealed := dev.Next(batchtest.Heartbeat(1))
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version (version) VALUES (1)`,
		migrations[0],
		`INSERT INTO devices (id, name, first_seen_ns, last_seen_ns, head_seq, head_hash) VALUES (1, 'd', 1, 1, 1, x'00')`,
		`INSERT INTO integrity_events (device_id, time_ns, kind, seq, detail) VALUES (1, 5, 'gap', 1, 'old')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if _, err := db.Exec(`INSERT INTO batches (device_id, seq, digest, prev_hash, key_id, signature, received_ns,
		sealed_ns, boot_id, session_id, record_count, dropped_records, dropped_bytes, bytes)
		VALUES (1, 1, ?, NULL, ?, ?, 7, 8, 'b', NULL, 1, 0, 0, ?)`, sealed.Digest[:], dev.KeyID, sealed.Sig, sealed.Bytes); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := open(t, path)
	defer s.Close()
	evs, err := s.IntegrityEvents(ctx, store.EventQuery{})
	if err != nil || len(evs) != 1 || evs[0].Detail != "old" || evs[0].BootID != "" || evs[0].Device != "d" {
		t.Errorf("migrated events = %+v, %v; want the old gap with BootID \"\"", evs, err)
	}
	if bs, err := s.BatchesAfter(ctx, 0, 10); err != nil || len(bs) != 1 || bs[0].Seq != 1 {
		t.Errorf("migrated batches = %v, %v", bs, err)
	}
	if _, ok, err := s.Record(ctx, "d", 1, 0); !ok || err != nil {
		t.Errorf("migrated Record = %v, %v", ok, err)
	}
	if c, err := s.DetectCursor(ctx); err != nil || c != (store.Cursor{}) {
		t.Errorf("migrated cursor = %+v, %v", c, err)
	}
	// The retention table came with the migration: pruning works.
	storetest.CaughtUp(t, s)
	ps, err := s.Prune(ctx, time.Unix(0, 8), time.Unix(0, 9))
	if err != nil || len(ps) != 1 || ps[0].Device != "d" || ps[0].LastSeq != 1 || !bytes.Equal(ps[0].LastDigest, sealed.Digest[:]) {
		t.Errorf("Prune of the migrated batch = %+v, %v", ps, err)
	}
	if bs, err := s.BatchesAfter(ctx, 0, 10); err != nil || len(bs) != 0 {
		t.Errorf("migrated batches after pruning = %v, %v", bs, err)
	}
	var v int
	if err := s.read.QueryRow(`SELECT version FROM schema_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Errorf("schema version %d, %v; want %d", v, err, schemaVersion)
	}
}

// TestMigrateAlertsReceived: alerts stored before receive times were
// kept take the collector's clock of their first and last upsert, so
// lists keep ordering them by the collector's clock, not the device's.
func TestMigrateAlertsReceived(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v6.db")
	db, err := sql.Open("sqlite", dsn(path, Options{BusyTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	qs := []string{`CREATE TABLE schema_version (version INTEGER NOT NULL)`, `INSERT INTO schema_version (version) VALUES (6)`}
	qs = append(qs, migrations[:6]...)
	qs = append(qs,
		// Device time 2076, stored (collector clock) at 100 and 200.
		`INSERT INTO alerts (group_id, kind, severity, device, key, summary, fields, labels, evidence, first_ns, last_ns,
			count, created_ns, updated_ns) VALUES ('liar', 'auth_failure', 'info', 'd', 'k', 's', '{}', '{}', '[]',
			3350000000000000000, 3350000000000000001, 600, 100, 200)`,
		`INSERT INTO alerts (group_id, kind, severity, device, key, summary, fields, labels, evidence, first_ns, last_ns,
			count, created_ns, updated_ns) VALUES ('honest', 'auth_failure', 'info', 'e', 'k', 's', '{}', '{}', '[]',
			300, 300, 1, 300, 300)`)
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()

	s := open(t, path)
	defer s.Close()
	as, err := s.Alerts(ctx, store.AlertQuery{})
	if err != nil || len(as) != 2 {
		t.Fatalf("migrated alerts = %+v, %v", as, err)
	}
	if as[0].GroupID != "honest" || as[1].GroupID != "liar" {
		t.Errorf("order %s, %s; want honest (stored last) first", as[0].GroupID, as[1].GroupID)
	}
	if l := as[1]; l.FirstReceived.UnixNano() != 100 || l.LastReceived.UnixNano() != 200 {
		t.Errorf("liar received %v..%v, want its created and updated times", l.FirstReceived.UnixNano(), l.LastReceived.UnixNano())
	}
}

// Every statement a detection save's chunks can take, and the search
// indexer's per-batch ones, are prepared at Open, so no write parses them
// anew (a thousand-row statement, or one per batch).
func TestStatementsPrepared(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "store.db"), Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []string{searchSQL.SaveFilter, searchSQL.SetCursor}
	for _, n := range sqlrow.AlertSizes {
		want = append(want, saveSQL.UpdateRows(n), saveSQL.InsertRows(n))
	}
	for _, q := range want {
		if s.stmts.byText[q] == nil {
			t.Errorf("statement not prepared: %.80s...", q)
		}
	}
}
