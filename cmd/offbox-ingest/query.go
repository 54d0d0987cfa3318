package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/authevents"
	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/queryarg"
	"github.com/offbox/offbox/ingest/store"
)

// openAudited opens the existing database db for a query and records the
// access (the command line, by the OS user) before anything is read. It
// never creates a database, and a query whose access cannot be recorded
// does not run: the store is opened read-write for that reason alone.
func openAudited(ctx context.Context, db, cmd string, args []string) (store.Store, error) {
	st, err := openExisting(db, "a query never creates one")
	if err != nil {
		if errors.Is(err, errNoDatabase) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", errNotRecorded, err)
	}
	a := store.Access{Time: time.Now(), Who: operator(), Via: "cli", What: commandLine(cmd, args)}
	if err := st.RecordAccess(ctx, a); err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", errNotRecorded, err)
	}
	return st, nil
}

const errNotRecorded = "every query is recorded in the database before it reads, and this access could not be recorded"

// operator names who runs the command: the OS user, else $USER, else the uid.
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid " + strconv.Itoa(os.Getuid())
}

// commandLine is the command and its flags as typed, each argument that
// needs it quoted, for the access trail.
func commandLine(cmd string, args []string) string {
	parts := []string{cmd}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n\"'\\") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// timeFlags reads -since and -until; a bad value is a usage error.
func timeFlags(fs *flag.FlagSet, since, until string) (s, u time.Time, code int, ok bool) {
	now := time.Now()
	var err error
	if since != "" {
		if s, err = queryarg.ParseSince(since, now); err != nil {
			return s, u, usageError(fs, fmt.Errorf("-since %w", err)), false
		}
	}
	if until != "" {
		if u, err = queryarg.ParseSince(until, now); err != nil {
			return s, u, usageError(fs, fmt.Errorf("-until %w", err)), false
		}
	}
	return s, u, 0, true
}

func eventsCmd(args []string, stdout, stderr io.Writer) int {
	fs := flags("events", stderr)
	dbPath := dbFlags(fs)
	device := fs.String("device", "", "only this device `id`")
	kind := fs.String("kind", "", "only this `kind`: "+strings.Join(authevents.Kinds(), ", "))
	since := fs.String("since", "", "only events with a device time at or after `T` (RFC 3339, or a duration such as 10m)")
	until := fs.String("until", "", "only events with a device time before `T` (RFC 3339, or a duration)")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	q := authevents.Query{Device: *device, Kind: *kind}
	if err := authevents.CheckKind(q.Kind); err != nil {
		return usageError(fs, fmt.Errorf("-kind %w", err))
	}
	var code int
	var ok bool
	if q.Since, q.Until, code, ok = timeFlags(fs, *since, *until); !ok {
		return code
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "events", err)
	}
	ctx := context.Background()
	st, err := openAudited(ctx, db, "events", args)
	if err != nil {
		return fail(stderr, "events", err)
	}
	defer st.Close()
	format := export.FormatText
	if *asJSON {
		format = export.FormatJSON
	}
	if _, err := authevents.Write(ctx, st, q, format, stdout); err != nil {
		return fail(stderr, "events", err)
	}
	return exitOK
}

func alertsCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && triageVerbs[args[0]] != "" {
		return alertsTriage(args[0], args[1:], stdout, stderr)
	}
	fs := flags("alerts", stderr)
	dbPath := dbFlags(fs)
	device := fs.String("device", "", "only this device `id`")
	var labels repeated
	fs.Var(&labels, "label", "only alerts with this label, `key=value`; repeat: every label must match")
	kind := fs.String("kind", "", "only this alert `kind`, e.g. auth_failure, fork, log_access")
	severity := fs.String("severity", "", "only alerts of at least this `severity`: info, warning, critical")
	since := fs.String("since", "", "only alerts last seen at or after `T` (RFC 3339, or a duration such as 10m)")
	until := fs.String("until", "", "only alerts last seen before `T` (RFC 3339, or a duration)")
	evidence := fs.Bool("evidence", false, "with -json: each evidence ref carries its stored record")
	asJSON := fs.Bool("json", false, "one JSON object a line, as the query API writes an alert")
	state := fs.String("state", "", "only alerts in this `state`: open, acknowledged, resolved")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *evidence && !*asJSON {
		return usageError(fs, errors.New("-evidence needs -json"))
	}
	q := store.AlertQuery{Device: *device, Kind: *kind, Severity: *severity, State: *state}
	if code, ok := alertFilters(fs, &q, labels, *since, *until); !ok {
		return code
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "alerts", err)
	}
	ctx := context.Background()
	st, err := openAudited(ctx, db, "alerts", args)
	if err != nil {
		return fail(stderr, "alerts", err)
	}
	defer st.Close()
	as, err := st.Alerts(ctx, q)
	if err != nil {
		return fail(stderr, "alerts", err)
	}
	if err := writeAlerts(ctx, st, as, *asJSON, *evidence, stdout); err != nil {
		return fail(stderr, "alerts", err)
	}
	return exitOK
}

func writeAlerts(ctx context.Context, st store.AlertStore, as []store.Alert, asJSON, evidence bool, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, a := range as {
		if !asJSON {
			fmt.Fprintln(bw, alertText(a))
			continue
		}
		v := api.AlertJSON(a)
		if evidence {
			if err := api.LoadEvidence(ctx, st, &v); err != nil {
				bw.Flush()
				return err
			}
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// alertText is one alert a line: when its latest occurrence was received
// (the collector's clock, which the list is ordered by), severity, kind,
// device ("-" for the collector itself), count, the summary quoted,
// labels as sorted key=value pairs joined by commas ("-" for none), and
// device_time= the latest occurrence's device time, which only the
// device vouches for, then id= (what alerts ack -id takes), state= and
// assignee= ("-" for nobody).
func alertText(a store.Alert) string {
	device := a.Device
	if device == "" {
		device = "-"
	}
	ls := make([]string, 0, len(a.Labels))
	for k, v := range a.Labels {
		ls = append(ls, k+"="+v)
	}
	slices.Sort(ls)
	labels := strings.Join(ls, ",")
	if labels == "" {
		labels = "-"
	}
	assignee := "-"
	if a.Assignee != "" {
		assignee = strconv.Quote(a.Assignee)
	}
	return fmt.Sprintf("%s %s %s %s %d %q %s device_time=%s id=%d state=%s assignee=%s", a.LastReceived.UTC().Format(export.TimeFormat), a.Severity,
		a.Kind, device, a.Count, a.Summary, labels, a.Last.UTC().Format(export.TimeFormat), a.ID, a.State, assignee)
}

// alertFilters checks q's -severity and -state and sets its -label and
// -since/-until filters, as alerts and the triage commands take them.
func alertFilters(fs *flag.FlagSet, q *store.AlertQuery, labels []string, since, until string) (code int, ok bool) {
	if err := api.CheckSeverity(q.Severity); err != nil {
		return usageError(fs, fmt.Errorf("-severity %w", err)), false
	}
	if err := api.CheckState(q.State); err != nil {
		return usageError(fs, fmt.Errorf("-state %w", err)), false
	}
	for _, l := range labels {
		k, v, err := api.ParseLabel(l)
		if err != nil {
			return usageError(fs, fmt.Errorf("-label %w", err)), false
		}
		if q.Labels == nil {
			q.Labels = map[string]string{}
		}
		q.Labels[k] = v
	}
	q.Since, q.Until, code, ok = timeFlags(fs, since, until)
	return code, ok
}
