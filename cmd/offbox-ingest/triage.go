package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/offbox/offbox/ingest/store"
)

// triageVerbs are alerts' subcommands: each changes alerts' triage.
var triageVerbs = map[string]string{"ack": store.ActionAck, "resolve": store.ActionResolve,
	"reopen": store.ActionReopen, "assign": store.ActionAssign, "note": store.ActionNote}

// triageChunk is how many alerts one transaction of a bulk change holds.
const triageChunk = 500

// triageDone says what each action did, for the output.
var triageDone = map[string]string{store.ActionAck: "acknowledged", store.ActionResolve: "resolved",
	store.ActionReopen: "reopened", store.ActionAssign: "assigned", store.ActionNote: "noted"}

// alertsTriage runs `alerts ACTION`: one alert by -id, or every alert a
// filter selects with -all-matching, which only counts them unless -yes.
// Who is the OS user; the command line is recorded in the access trail
// before anything is read or changed.
func alertsTriage(verb string, args []string, stdout, stderr io.Writer) int {
	action := triageVerbs[verb]
	name := "alerts " + verb
	fs := flags(name, stderr)
	dbPath := dbFlags(fs)
	id := fs.Int64("id", 0, "the alert `ID` (id= in the alerts listing)")
	comment := fs.String("comment", "", "a `TEXT` kept with the change (required for note)")
	to := fs.String("to", "", "assign: the `NAME` to assign to (\"\" unassigns)")
	device := fs.String("device", "", "with -all-matching: only alerts of this device `id`")
	var labels, kinds repeated
	fs.Var(&labels, "label", "with -all-matching: only alerts with this label, `key=value`; repeat: every label must match")
	fs.Var(&kinds, "kind", "with -all-matching: only alerts of this `kind`; repeat: any of them")
	severity := fs.String("severity", "", "with -all-matching: only alerts of at least this `severity`: info, warning, critical")
	state := fs.String("state", "", "with -all-matching: only alerts in this `state`: open, acknowledged, resolved")
	since := fs.String("since", "", "with -all-matching: only alerts last seen at or after `T` (RFC 3339, or a duration such as 10m)")
	until := fs.String("until", "", "with -all-matching: only alerts last seen before `T` (RFC 3339, or a duration)")
	all := fs.Bool("all-matching", false, "change every alert the filters select instead of one -id: prints how many it will change")
	yes := fs.Bool("yes", false, "with -all-matching: do it (without -yes nothing changes)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	filtered := set["device"] || set["label"] || set["kind"] || set["severity"] || set["state"] || set["since"] || set["until"]
	switch {
	case *all && set["id"]:
		return usageError(fs, errors.New("-id and -all-matching: give one"))
	case !*all && filtered:
		return usageError(fs, errors.New("filters select alerts only with -all-matching (and -yes to change them)"))
	case !*all && !set["id"]:
		return usageError(fs, errors.New("which alerts? give -id ID, or filters and -all-matching"))
	case *yes && !*all:
		return usageError(fs, errors.New("-yes goes with -all-matching"))
	case action == store.ActionAssign && !set["to"]:
		return usageError(fs, errors.New("assign needs -to NAME"))
	case action != store.ActionAssign && set["to"]:
		return usageError(fs, errors.New("-to goes with assign"))
	}
	tr := store.Transition{Action: action, Who: operator(), Via: "cli", Comment: *comment, Assignee: *to}
	if err := store.CheckTransition(&tr); err != nil {
		return usageError(fs, err)
	}
	q := store.AlertQuery{Device: *device, Kinds: kinds, Severity: *severity, State: *state}
	if code, ok := alertFilters(fs, &q, labels, *since, *until); !ok {
		return code
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, name, err)
	}
	ctx := context.Background()
	st, err := openAudited(ctx, db, name, args)
	if err != nil {
		return fail(stderr, name, err)
	}
	defer st.Close()
	if !*all {
		q = store.AlertQuery{IDs: []int64{*id}}
	}
	as, err := st.Alerts(ctx, q)
	if err != nil {
		return fail(stderr, name, err)
	}
	if !*all && len(as) == 0 {
		return fail(stderr, name, fmt.Errorf("no alert %d", *id))
	}
	var ids []int64
	for _, a := range as {
		if ok, _, _ := store.Applies(action, a.State, a.Assignee, tr.Assignee); ok {
			ids = append(ids, a.ID)
		}
	}
	if *all && !*yes {
		fmt.Fprintf(stdout, "%d alerts match; %d would be %s. Nothing changed: add -yes to change them.\n",
			len(as), len(ids), triageDone[action])
		return exitOK
	}
	// In transactions of at most triageChunk alerts, so that a large bulk
	// change never holds the store's writer (and ingestion) for long.
	var changed []int64
	for len(ids) > 0 {
		n := min(len(ids), triageChunk)
		c, err := st.TransitionAlerts(ctx, ids[:n], tr)
		if err != nil {
			return fail(stderr, name, fmt.Errorf("%w (%d alerts changed before this)", err, len(changed)))
		}
		changed, ids = append(changed, c...), ids[n:]
	}
	if !*all {
		if len(changed) == 0 {
			a := as[0]
			fmt.Fprintf(stdout, "alert %d unchanged: it is %s%s\n", a.ID, a.State, assignedText(a.Assignee))
			return exitOK
		}
		fmt.Fprintf(stdout, "alert %d %s by %s\n", *id, triageDone[action], tr.Who)
		return exitOK
	}
	fmt.Fprintf(stdout, "%d of %d matching alerts %s by %s\n", len(changed), len(as), triageDone[action], tr.Who)
	return exitOK
}

func assignedText(who string) string {
	if who == "" {
		return ""
	}
	return ", assigned to " + strconv.Quote(who) // another operator's text: quoted, so it does nothing to the terminal
}
