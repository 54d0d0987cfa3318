package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// history opens db and returns alert id's state, assignee and history,
// and the accesses recorded.
func history(t *testing.T, db string, id int64) (store.Alert, []store.Transition, []store.Access) {
	t.Helper()
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	as, err := st.Alerts(ctx, store.AlertQuery{IDs: []int64{id}})
	if err != nil || len(as) != 1 {
		t.Fatalf("alert %d: %v %v", id, as, err)
	}
	h, err := st.AlertHistory(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := st.AccessesAfter(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return as[0], h, acc
}

// TestAlertsTriageCommand: ack, assign, note and resolve one alert by id,
// as the OS user, each stored with the comment and audited; the listing
// shows the state and assignee and -state filters by it.
func TestAlertsTriageCommand(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	who := operator()
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"ack", "-id", "1", "-comment", "looking"}, "alert 1 acknowledged by " + who + "\n"},
		{[]string{"ack", "-id", "1"}, "alert 1 unchanged: it is acknowledged\n"},
		{[]string{"assign", "-id", "1", "-to", "carol"}, "alert 1 assigned by " + who + "\n"},
		{[]string{"note", "-id", "1", "-comment", "backup job\nat 3am"}, "alert 1 noted by " + who + "\n"},
		{[]string{"assign", "-id", "1", "-to", "carol"}, "alert 1 unchanged: it is acknowledged, assigned to \"carol\"\n"},
	}
	for _, s := range steps {
		out, errOut, code := runFunc(append([]string{"alerts", s.args[0], "-db", db}, s.args[1:]...)...)
		if code != 0 || out != s.want {
			t.Errorf("alerts %q: exit %d, %q %s; want %q", s.args, code, out, errOut, s.want)
		}
	}
	a, h, acc := history(t, db, 1)
	if a.State != store.StateAcknowledged || a.Assignee != "carol" {
		t.Errorf("alert 1: %q %q", a.State, a.Assignee)
	}
	if len(h) != 3 || h[0].Action != "ack" || h[0].Comment != "looking" || h[0].Who != who || h[0].Via != "cli" ||
		h[1].Assignee != "carol" || h[2].Comment != "backup job\nat 3am" {
		t.Errorf("history = %+v", h)
	}
	var audited []string
	for _, x := range acc {
		if x.Via == "cli" && x.Who == who {
			audited = append(audited, x.What)
		}
	}
	if len(audited) != 5 || !strings.HasPrefix(audited[0], "alerts ack -db ") || !strings.HasSuffix(audited[0], " -id 1 -comment looking") {
		t.Errorf("audited = %q, want each of the 5 commands", audited)
	}
	out, _, _ := runFunc("alerts", "-db", db, "-state", "acknowledged")
	if !strings.Contains(out, `id=1 state=acknowledged assignee="carol"`) || strings.Count(out, "\n") != 1 {
		t.Errorf("alerts -state acknowledged = %q", out)
	}
	if out, _, _ := runFunc("alerts", "-db", db, "-state", "open"); strings.Count(out, "\n") != 2 || strings.Contains(out, "id=1 ") {
		t.Errorf("alerts -state open = %q", out)
	}
}

// TestAlertsTriageAllMatching: a filter with -all-matching counts what
// it would change and changes nothing without -yes; with -yes it changes
// exactly those.
func TestAlertsTriageAllMatching(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	runFunc("alerts", "ack", "-db", db, "-id", "2")
	args := []string{"alerts", "ack", "-db", db, "-all-matching", "-device", "router-1", "-kind", "auth_failure", "-kind", "auth_success"}
	out, errOut, code := runFunc(args...)
	if code != 0 || out != "2 alerts match; 1 would be acknowledged. Nothing changed: add -yes to change them.\n" {
		t.Fatalf("without -yes: exit %d %q %s", code, out, errOut)
	}
	if a, _, _ := history(t, db, 1); a.State != store.StateOpen {
		t.Fatalf("without -yes alert 1 is %s", a.State)
	}
	out, errOut, code = runFunc(append(args, "-yes", "-comment", "bulk")...)
	if code != 0 || out != "1 of 2 matching alerts acknowledged by "+operator()+"\n" {
		t.Fatalf("with -yes: exit %d %q %s", code, out, errOut)
	}
	if a, h, _ := history(t, db, 1); a.State != store.StateAcknowledged || len(h) != 1 || h[0].Comment != "bulk" {
		t.Errorf("alert 1 after -yes: %q %+v", a.State, h)
	}
	if a, _, _ := history(t, db, 3); a.State != store.StateOpen {
		t.Errorf("alert 3 (switch-2, not selected) is %s", a.State)
	}
}

// TestAlertsTriageUsage: wrong combinations are usage errors naming the
// problem, and nothing is recorded or changed.
func TestAlertsTriageUsage(t *testing.T) {
	t.Parallel()
	db := queryDB(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ack"}, "give -id ID, or filters and -all-matching"},
		{[]string{"ack", "-id", "1", "-all-matching"}, "-id and -all-matching: give one"},
		{[]string{"ack", "-device", "router-1"}, "only with -all-matching"},
		{[]string{"ack", "-id", "1", "-yes"}, "-yes goes with -all-matching"},
		{[]string{"assign", "-id", "1"}, "assign needs -to NAME"},
		{[]string{"ack", "-id", "1", "-to", "x"}, "-to goes with assign"},
		{[]string{"note", "-id", "1"}, "a note needs a comment"},
		{[]string{"ack", "-all-matching", "-state", "closed"}, `-state "closed": want open`},
		{[]string{"ack", "-all-matching", "-severity", "loud"}, "-severity"},
		{[]string{"ack", "-all-matching", "-since", "soon"}, "-since"},
	} {
		_, errOut, code := runFunc(append([]string{"alerts", c.args[0], "-db", db}, c.args[1:]...)...)
		if code != exitUsage || !strings.Contains(errOut, c.want) {
			t.Errorf("alerts %q: exit %d %q; want usage error with %q", c.args, code, errOut, c.want)
		}
	}
	if _, errOut, code := runFunc("alerts", "ack", "-db", db, "-id", "99"); code != exitFailure || !strings.Contains(errOut, "no alert 99") {
		t.Errorf("unknown id: exit %d %q", code, errOut)
	}
	if _, errOut, code := runFunc("alerts", "-db", db, "-state", "closed"); code != exitUsage || !strings.Contains(errOut, "-state") {
		t.Errorf("alerts -state closed: exit %d %q", code, errOut)
	}
	if _, h, _ := history(t, db, 1); len(h) != 0 {
		t.Errorf("history after refusals: %+v", h)
	}
}

// TestAlertsTriageChunks: a bulk change larger than one transaction's
// share changes every alert, in several transactions.
func TestAlertsTriageChunks(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "many.db")
	st, err := sqlite.Open(db, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*triageChunk + 7
	var ups []store.AlertUpsert
	at := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	for i := range n {
		ups = append(ups, store.AlertUpsert{Alert: store.Alert{GroupID: fmt.Sprint("g", i), Kind: "reboot", Severity: store.SeverityInfo,
			Device: "r1", Key: fmt.Sprint(i), First: at, Last: at, Count: 1}})
	}
	if err := st.SaveAlerts(context.Background(), store.AlertSave{Alerts: ups, Now: at}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, errOut, code := runFunc("alerts", "resolve", "-db", db, "-all-matching", "-kind", "reboot", "-yes")
	if want := fmt.Sprintf("%d of %d matching alerts resolved by %s\n", n, n, operator()); code != 0 || out != want {
		t.Fatalf("exit %d %q %s; want %q", code, out, errOut, want)
	}
	if out, _, _ := runFunc("alerts", "-db", db, "-state", "open"); out != "" {
		t.Errorf("alerts still open:\n%s", out)
	}
}
