package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/seal"
)

var queryBase = time.Date(2026, time.November, 22, 18, 0, 0, 0, time.UTC)

func authLine(sec int, body string) seal.WireRecord {
	return seal.WireRecord{TimeNs: queryBase.Add(time.Duration(sec) * time.Second).UnixNano(), Kind: 1,
		Source: "file:/var/log/auth.log", Body: []byte(body)}
}

// queryDB writes a database the way the collector would and closes it:
//
//	router-1 seq 1: failed password root (sec 1), session opened (2), accepted publickey deploy (3)
//	router-1 seq 2: "message repeated 3 times" failed password admin (10), kernel line (11)
//	switch-2 seq 1: failed password admin (20)
//
// and alerts (newest Last first: g3, g2, g1):
//
//	g1 auth_failure warning  router-1 site=ams,env=prod last sec 1
//	g2 auth_success info     router-1 site=ams          last sec 3
//	g3 fork         critical switch-2 site=fra          last sec 20
func queryDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "q.db")
	st, err := sqlite.Open(path, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	r1, s2 := batchtest.NewDevice("router-1"), batchtest.NewDevice("switch-2")
	for _, b := range []struct {
		dev  *batchtest.Device
		recs []seal.WireRecord
	}{
		{r1, []seal.WireRecord{
			authLine(1, "Nov 22 18:00:01 router-1 sshd[77]: Failed password for root from 203.0.113.7 port 4242 ssh2"),
			authLine(2, "Nov 22 18:00:02 router-1 sshd[78]: pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)"),
			authLine(3, "Nov 22 18:00:03 router-1 sshd[78]: Accepted publickey for deploy from 2001:db8::5 port 4243 ssh2: ED25519 SHA256:x"),
		}},
		{r1, []seal.WireRecord{
			authLine(10, "Nov 22 18:00:10 router-1 sshd[79]: message repeated 3 times: [ Failed password for admin from 198.51.100.9 port 5000 ssh2]"),
			authLine(11, "Nov 22 18:00:11 router-1 kernel: eth0: link up"),
		}},
		{s2, []seal.WireRecord{authLine(20, "Nov 22 18:00:20 switch-2 sshd[5]: Failed password for admin from 192.0.2.1 port 1 ssh2")}},
	} {
		s := b.dev.Next(b.recs...)
		if err := st.CommitBatch(ctx, batchtest.Commit(b.dev.Name, s, s.Seq-1)); err != nil {
			t.Fatal(err)
		}
	}
	at := func(sec int) time.Time { return queryBase.Add(time.Duration(sec) * time.Second) }
	save := store.AlertSave{Now: at(60)}
	for _, a := range []store.Alert{
		{GroupID: "g1", Kind: "auth_failure", Severity: store.SeverityWarning, Device: "router-1", Key: "root",
			Summary: "failed password for root", Fields: map[string]string{"user": "root"}, Labels: map[string]string{"site": "ams", "env": "prod"},
			First: at(1), Last: at(1), Count: 1, Evidence: []store.AlertRef{{Device: "router-1", Seq: 1, Index: 0}}},
		{GroupID: "g2", Kind: "auth_success", Severity: store.SeverityInfo, Device: "router-1", Key: "deploy",
			Summary: "deploy logged in", Labels: map[string]string{"site": "ams"},
			First: at(3), Last: at(3), Count: 1, Evidence: []store.AlertRef{{Device: "router-1", Seq: 1, Index: 2}}},
		{GroupID: "g3", Kind: "fork", Severity: store.SeverityCritical, Device: "switch-2", Key: "1",
			Summary: "chain fork", Labels: map[string]string{"site": "fra"},
			First: at(20), Last: at(20), Count: 2, Evidence: []store.AlertRef{{Device: "switch-2", Seq: 1, Index: -1}}},
	} {
		a.FirstReceived, a.LastReceived = a.First, a.Last // honest clocks
		save.Alerts = append(save.Alerts, store.AlertUpsert{Alert: a})
	}
	if err := st.SaveAlerts(ctx, save); err != nil {
		t.Fatal(err)
	}
	return path
}

// accessesOf reads the access trail of the database at path.
func accessesOf(t *testing.T, path string) []store.Access {
	t.Helper()
	st, err := sqlite.OpenReadOnly(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as, err := st.AccessesAfter(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestEventsCommand(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	tests := []struct {
		args []string
		want []string // kind/device/user/count of each JSON line
	}{
		{nil, []string{"auth_failure/router-1/root/1", "auth_success/router-1/deploy/1", "auth_failure/router-1/admin/3", "auth_failure/switch-2/admin/1"}},
		{[]string{"-device", "switch-2"}, []string{"auth_failure/switch-2/admin/1"}},
		{[]string{"-kind", "auth_success"}, []string{"auth_success/router-1/deploy/1"}},
		{[]string{"-since", "2026-11-22T18:00:03Z"}, []string{"auth_success/router-1/deploy/1", "auth_failure/router-1/admin/3", "auth_failure/switch-2/admin/1"}},
		{[]string{"-since", "2026-11-22T18:00:03Z", "-until", "2026-11-22T18:00:20Z", "-kind", "auth_failure"}, []string{"auth_failure/router-1/admin/3"}},
		{[]string{"-since", "1h"}, nil}, // the lines are from the test's fixed day, not from the last hour
	}
	for _, tt := range tests {
		out, stderr, code := runFunc(append([]string{"events", "-db", db, "-json"}, tt.args...)...)
		if code != 0 {
			t.Errorf("events %q: exit %d: %s", tt.args, code, stderr)
			continue
		}
		var got []string
		for _, l := range lines(out) {
			var e struct {
				Kind, Device, User string
				Count              int
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("events %q: bad JSON line %q: %v", tt.args, l, err)
			}
			got = append(got, e.Kind+"/"+e.Device+"/"+e.User+"/"+string(rune('0'+e.Count)))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("events %q = %q, want %q", tt.args, got, tt.want)
		}
	}

	// The JSON fields scripts rely on.
	out, _, _ := runFunc("events", "-db", db, "-json", "-device", "router-1", "-kind", "auth_success")
	var e map[string]any
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"kind": "auth_success", "user": "deploy", "source_address": "2001:db8::5", "method": "publickey",
		"count": 1.0, "program": "sshd", "device": "router-1", "device_time": "2026-11-22T18:00:03.000000000Z",
		"line_time": "2026-11-22T18:00:03.000000000Z", "seq": 1.0, "index": 2.0,
		"body": "Nov 22 18:00:03 router-1 sshd[78]: Accepted publickey for deploy from 2001:db8::5 port 4243 ssh2: ED25519 SHA256:x"}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("events -json %s = %#v, want %#v", k, e[k], v)
		}
	}

	text, _, code := runFunc("events", "-db", db, "-device", "router-1", "-kind", "auth_failure")
	wantText := "2026-11-22T18:00:01.000000000Z router-1 auth_failure user=root source=203.0.113.7 method=password count=1 program=sshd\n" +
		"2026-11-22T18:00:10.000000000Z router-1 auth_failure user=admin source=198.51.100.9 method=password count=3 program=sshd\n"
	if code != 0 || text != wantText {
		t.Errorf("events (text): exit %d:\n%s\nwant:\n%s", code, text, wantText)
	}
}

func TestAlertsCommand(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	tests := []struct {
		args []string
		want string // group ids in output order
	}{
		{nil, "g3 g2 g1"},
		{[]string{"-device", "router-1"}, "g2 g1"},
		{[]string{"-label", "site=ams"}, "g2 g1"},
		{[]string{"-label", "site=ams", "-label", "env=prod"}, "g1"},
		{[]string{"-label", "site=fra", "-device", "router-1"}, ""},
		{[]string{"-label", "env="}, ""}, // an empty value must match, not be ignored
		{[]string{"-kind", "fork"}, "g3"},
		{[]string{"-severity", "warning"}, "g3 g1"},
		{[]string{"-since", "2026-11-22T18:00:03Z"}, "g3 g2"},
		{[]string{"-until", "2026-11-22T18:00:03Z"}, "g1"},
		{[]string{"-since", "2026-11-22T18:00:02Z", "-until", "2026-11-22T18:00:20Z"}, "g2"},
		{[]string{"-since", "1h"}, ""},
	}
	for _, tt := range tests {
		out, stderr, code := runFunc(append([]string{"alerts", "-db", db, "-json"}, tt.args...)...)
		if code != 0 {
			t.Errorf("alerts %q: exit %d: %s", tt.args, code, stderr)
			continue
		}
		var ids []string
		for _, l := range lines(out) {
			var v api.AlertView
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("alerts %q: bad JSON line %q: %v", tt.args, l, err)
			}
			ids = append(ids, v.GroupID)
		}
		if got := strings.Join(ids, " "); got != tt.want {
			t.Errorf("alerts %q = %q, want %q", tt.args, got, tt.want)
		}
	}

	// Text: last received, severity, kind, device, count, summary, labels,
	// and the device's time.
	text, stderr, code := runFunc("alerts", "-db", db)
	wantText := "2026-11-22T18:00:20.000000000Z critical fork switch-2 2 \"chain fork\" site=fra device_time=2026-11-22T18:00:20.000000000Z id=3 state=open assignee=-\n" +
		"2026-11-22T18:00:03.000000000Z info auth_success router-1 1 \"deploy logged in\" site=ams device_time=2026-11-22T18:00:03.000000000Z id=2 state=open assignee=-\n" +
		"2026-11-22T18:00:01.000000000Z warning auth_failure router-1 1 \"failed password for root\" env=prod,site=ams device_time=2026-11-22T18:00:01.000000000Z id=1 state=open assignee=-\n"
	if code != 0 || text != wantText {
		t.Errorf("alerts (text): exit %d %s:\n%s\nwant:\n%s", code, stderr, text, wantText)
	}

	// JSON is the API's shape, field for field, and -evidence adds the record.
	out, _, _ := runFunc("alerts", "-db", db, "-json", "-kind", "auth_failure", "-evidence")
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"assignee", "count", "created", "device", "evidence", "fields", "first", "first_received", "group_id", "id", "key", "kind",
		"labels", "last", "last_received", "severity", "state", "summary", "updated"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("alerts -json keys %q, want %q", keys, wantKeys)
	}
	var v api.AlertView
	json.Unmarshal([]byte(out), &v)
	if v.Severity != "warning" || v.Labels["env"] != "prod" || v.Fields["user"] != "root" || v.Last != "2026-11-22T18:00:01.000000000Z" ||
		len(v.Evidence) != 1 || v.Evidence[0].Record == nil || v.Evidence[0].Record.Body == nil ||
		!strings.Contains(*v.Evidence[0].Record.Body, "Failed password for root") {
		t.Errorf("alerts -json -evidence = %+v", v)
	}
	out, _, _ = runFunc("alerts", "-db", db, "-json", "-kind", "auth_failure")
	if strings.Contains(out, `"record"`) {
		t.Errorf("alerts -json without -evidence carries records: %s", out)
	}
}

// TestAlertsCommandReceivedTime: alerts are listed, and -since/-until
// applied, by when the collector received them; a device whose clock
// says 2076 is listed where its alert arrived, with its own time beside.
func TestAlertsCommandReceivedTime(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	st, err := sqlite.Open(db, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	future := queryBase.AddDate(50, 0, 0)
	liar := store.Alert{GroupID: "liar", Kind: "auth_failure", Severity: store.SeverityInfo, Device: "router-9", Key: "root",
		Summary: "failed password for root", First: future, Last: future, Count: 600,
		FirstReceived: queryBase.Add(9 * time.Second), LastReceived: queryBase.Add(10 * time.Second)}
	err = st.SaveAlerts(context.Background(), store.AlertSave{Now: queryBase.Add(time.Minute), Alerts: []store.AlertUpsert{{Alert: liar}}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "g3 liar g2 g1"},
		{[]string{"-since", "2026-11-22T18:00:15Z"}, "g3"},
		{[]string{"-until", "2026-11-22T18:00:15Z"}, "liar g2 g1"},
		{[]string{"-since", "2026-11-22T18:00:05Z", "-until", "2026-11-22T18:00:15Z"}, "liar"},
	} {
		out, stderr, code := runFunc(append([]string{"alerts", "-db", db, "-json"}, tt.args...)...)
		if code != 0 {
			t.Fatalf("alerts %q: exit %d: %s", tt.args, code, stderr)
		}
		var ids []string
		for _, l := range lines(out) {
			var v api.AlertView
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("alerts %q: bad JSON line %q: %v", tt.args, l, err)
			}
			ids = append(ids, v.GroupID)
			if v.GroupID == "liar" && (v.Last != "2076-11-22T18:00:00.000000000Z" || v.LastReceived != "2026-11-22T18:00:10.000000000Z" ||
				v.FirstReceived != "2026-11-22T18:00:09.000000000Z") {
				t.Errorf("liar: last %s last_received %s first_received %s", v.Last, v.LastReceived, v.FirstReceived)
			}
		}
		if got := strings.Join(ids, " "); got != tt.want {
			t.Errorf("alerts %q = %q, want %q", tt.args, got, tt.want)
		}
	}
	text, _, _ := runFunc("alerts", "-db", db, "-device", "router-9")
	if want := "2026-11-22T18:00:10.000000000Z info auth_failure router-9 600 \"failed password for root\" - device_time=2076-11-22T18:00:00.000000000Z id=4 state=open assignee=-\n"; text != want {
		t.Errorf("alerts (text) = %q, want %q", text, want)
	}
}

func TestQueryUsageErrors(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	for _, args := range [][]string{
		{"events", "-db", db, "-kind", "login"},
		{"events", "-db", db, "-since", "yesterday"},
		{"events", "-db", db, "-until", "soon"},
		{"events", "-db", db, "-nope"},
		{"events", "-db", db, "extra"},
		{"alerts", "-db", db, "-label", "site"},
		{"alerts", "-db", db, "-label", "=ams"},
		{"alerts", "-db", db, "-severity", "high"},
		{"alerts", "-db", db, "-since", "yesterday"},
		{"alerts", "-db", db, "-until", "tomorrow"},
		{"alerts", "-db", db, "-evidence"},
	} {
		out, stderr, code := runFunc(args...)
		if code != 2 || stderr == "" || out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 with the problem on stderr", args, code, out, stderr)
		}
	}
	if as := accessesOf(t, db); len(as) != 0 {
		t.Errorf("usage errors recorded %d accesses, want 0 (nothing was read)", len(as))
	}
}

// TestQueryMissingDB: a query of a database that does not exist fails and
// creates nothing.
func TestQueryMissingDB(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "nope.db")
	for _, cmd := range []string{"events", "alerts", "records", "verify"} {
		out, stderr, code := runFunc(cmd, "-db", db)
		if code != 1 || out != "" || !strings.Contains(stderr, db+" does not exist") {
			t.Errorf("%s of a missing db: exit %d, stdout %q, stderr %q; want exit 1 saying it does not exist", cmd, code, out, stderr)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("queries of a missing db created %v", ents)
	}
}

// TestQueriesRecordAccess: every query command records who ran it, via
// the CLI, with its flags, once per run.
func TestQueriesRecordAccess(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	runs := [][]string{
		{"events", "-db", db, "-kind", "auth_failure"},
		{"alerts", "-db", db, "-label", "site=ams", "-json"},
		{"records", "-db", db, "-device", "router-1"},
		{"records", "-db", db, "-count"},
		{"verify", "-db", db},
	}
	before := time.Now()
	for _, args := range runs {
		out, stderr, code := runFunc(args...)
		// verify finds no certificate for the fixture's devices (none was
		// stored), so it reports failures; it still ran, and so must be recorded.
		if code != 0 && !(args[0] == "verify" && code == 1 && strings.Contains(out, "device=router-1")) {
			t.Fatalf("%q: exit %d: %s %s", args, code, out, stderr)
		}
	}
	as := accessesOf(t, db)
	if len(as) != len(runs) {
		t.Fatalf("%d accesses after %d queries: %+v", len(as), len(runs), as)
	}
	for i, a := range as {
		want := strings.Join(runs[i], " ")
		if a.Via != "cli" || a.Who != operator() || a.Who == "" || a.Remote != "" || a.What != want || a.Time.Before(before.Add(-time.Second)) {
			t.Errorf("access %d = %+v, want by %q via cli: %q", i, a, operator(), want)
		}
	}
	if got := commandLine("alerts", []string{"-label", "team=net ops", "-db", ""}); got != `alerts -label "team=net ops" -db ""` {
		t.Errorf("commandLine quotes as %s", got)
	}
}

// TestQueryRefusedWhenAccessNotRecorded: if the access trail refuses the
// write, the command fails and prints nothing it read.
func TestQueryRefusedWhenAccessNotRecorded(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	sqldb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqldb.Exec(`CREATE TRIGGER refuse_access BEFORE INSERT ON accesses BEGIN SELECT RAISE(ABORT, 'refused by test'); END`)
	sqldb.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"events", "alerts", "records", "verify"} {
		out, stderr, code := runFunc(cmd, "-db", db)
		if code != 1 || out != "" || !strings.Contains(stderr, "this access could not be recorded") {
			t.Errorf("%s with the access trail refusing: exit %d, stdout %q, stderr %q; want exit 1, no output", cmd, code, out, stderr)
		}
	}
}

// TestQueryReadOnlyDB: a database file the user cannot write is a clear
// failure, not a read without a trace. Root can write a 0444 file, so as
// root the same queries must succeed and leave their access rows (the
// refusal itself is TestQueryRefusedWhenAccessNotRecorded).
func TestQueryReadOnlyDB(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	for _, cmd := range []string{"events", "alerts", "records"} {
		out, stderr, code := runFunc(cmd, "-db", db)
		switch {
		case root && code != 0:
			t.Errorf("%s of a 0444 db as root: exit %d, stderr %q; want it to work (root can write the file)", cmd, code, stderr)
		case !root && (code != 1 || out != "" || !strings.Contains(stderr, "this access could not be recorded")):
			t.Errorf("%s of a read-only db: exit %d, stdout %q, stderr %q; want exit 1 saying the access could not be recorded", cmd, code, out, stderr)
		}
	}
	if root {
		st, err := sqlite.OpenReadOnly(db, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		acc, err := st.AccessesAfter(context.Background(), 0, 100)
		if err != nil || len(acc) < 3 {
			t.Errorf("access rows after three queries as root: %d (%v), want 3", len(acc), err)
		}
	}
}

// TestQueryStoreFromConfig: every query command finds its store through
// -config as the administrative commands do, and, given neither -db nor
// -config, says that the installed configuration could not be read.
func TestQueryStoreFromConfig(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	conf := filepath.Join(t.TempDir(), "offbox-ingest.yaml")
	if err := os.WriteFile(conf, []byte("db: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"events", "alerts", "records", "verify"} {
		viaDB, _, wantCode := runFunc(cmd, "-db", db)
		if viaDB == "" {
			t.Fatalf("%s -db: no output", cmd)
		}
		viaConfig, stderr, code := runFunc(cmd, "-config", conf)
		if code != wantCode || viaConfig != viaDB {
			t.Errorf("%s -config: exit %d, stdout %q, stderr %q; want exit %d and the output of -db %q", cmd, code, viaConfig, stderr, wantCode, viaDB)
		}
		if _, err := os.Stat(defaultConfig); err == nil {
			continue // an installed collector on this machine: its store would be read
		}
		out, stderr, code := runFunc(cmd)
		if code != 1 || out != "" || !strings.Contains(stderr, "no -db or -config given") || !strings.Contains(stderr, defaultConfig) {
			t.Errorf("%s with no store: exit %d, stdout %q, stderr %q; want exit 1 naming %s", cmd, code, out, stderr, defaultConfig)
		}
	}
}

// TestUsageErrorsNameWhatWasGiven: a usage error speaks of the flags given,
// not of every rule of the command.
func TestUsageErrorsNameWhatWasGiven(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		want    string
		notWant string
	}{
		{[]string{"records", "-db", "x", "-json", "-count"}, "-json and -count exclude each other", "-db is required"},
		{[]string{"alerts", "-db", "x", "-evidence"}, "-evidence needs -json", "-db is required"},
	} {
		_, stderr, code := runFunc(tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, tc.notWant) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 saying %q only", tc.args, code, stderr, tc.want)
		}
	}
	// records alone is no usage error: it looks for the installed configuration.
	if _, stderr, _ := runFunc("records"); strings.Contains(stderr, "exclude each other") {
		t.Errorf("records with no flags: %q speaks of flags not given", stderr)
	}
}
