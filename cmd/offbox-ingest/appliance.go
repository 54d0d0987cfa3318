package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/offbox/offbox/ingest/enroll"
	"github.com/offbox/offbox/ingest/server"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/tlsconf"
)

const applianceUsage = `usage: offbox-ingest appliance add -name NAME -relay RELAY [-label k=v ...] [-db F | -config F]
       offbox-ingest appliance list [-db F | -config F]
       offbox-ingest appliance remove -name NAME [-db F | -config F]
`

// applianceCmd manages which relay may speak for which appliance. Every
// use is recorded in the access trail (who, the command line) before the
// store is read or changed.
func applianceCmd(args []string, stdout, stderr io.Writer) int {
	return subcommand("appliance", applianceUsage, args, stdout, stderr, map[string]func([]string, io.Writer, io.Writer) int{
		"add":    applianceAdd,
		"list":   applianceList,
		"remove": applianceRemove,
	})
}

// applianceAdd authorises a relay to speak for an appliance. A name that
// is an agent host (it signed with a certificate of its own name), or the
// relay itself, is refused: a relay never speaks for an agent host.
func applianceAdd(args []string, stdout, stderr io.Writer) int {
	fs := flags("appliance add", stderr)
	name := fs.String("name", "", "the appliance's device `id`, under which its records are stored")
	relay := fs.String("relay", "", "the relay's device `id` (its certificate's CN): the one agent that may speak for the appliance")
	var labels repeated
	fs.Var(&labels, "label", "label `name=value` of the appliance, as a device certificate's labels; repeat for more")
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	for _, f := range []struct{ flag, v string }{{"name", *name}, {"relay", *relay}} {
		if !tlsconf.ValidDeviceID(f.v) {
			return usageError(fs, fmt.Errorf("-%s %q: want 1 to 128 letters, digits and . _ : @ -, starting with a letter or digit", f.flag, f.v))
		}
	}
	if *name == *relay {
		return usageError(fs, fmt.Errorf("-name and -relay are both %q: a relay is no appliance of its own", *name))
	}
	lm := map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return usageError(fs, fmt.Errorf("-label %q: want name=value", l))
		}
		if err := enroll.CheckLabel(k, v); err != nil {
			return usageError(fs, fmt.Errorf("-label %w", err))
		}
		if _, dup := lm[k]; dup {
			return usageError(fs, fmt.Errorf("-label %s given twice", k))
		}
		lm[k] = v
	}
	ctx := context.Background()
	st, code := openApplianceStore(ctx, dbPath, stderr, "appliance add", args)
	if st == nil {
		return code
	}
	defer st.Close()
	host, err := server.IsAgentHost(st.Keys)(ctx, *name)
	if err != nil {
		return fail(stderr, "appliance add", err)
	}
	if host {
		return fail(stderr, "appliance add", fmt.Errorf("%s is an agent host (it signs with a certificate of its own): a relay never speaks for one", *name))
	}
	if a, ok, err := st.Appliance(ctx, *relay); err == nil && ok {
		return fail(stderr, "appliance add", fmt.Errorf("-relay %s is itself an appliance (relayed by %s), not an agent", *relay, a.Relay))
	}
	a := store.Appliance{Name: *name, Relay: *relay, Labels: lm, Added: time.Now(), By: operator()}
	if err := st.AddAppliance(ctx, a); err != nil {
		if errors.Is(err, store.ErrApplianceExists) {
			if old, ok, _ := st.Appliance(ctx, *name); ok {
				err = fmt.Errorf("%s is already authorised for relay %s (offbox-ingest appliance remove -name %s first)", *name, old.Relay, *name)
			}
		}
		return fail(stderr, "appliance add", err)
	}
	fmt.Fprintf(stdout, "appliance %s: relay %s may speak for it from now on (its records are stored as device %s)\n", *name, *relay, *name)
	return exitOK
}

// applianceList prints every authorised appliance.
func applianceList(args []string, stdout, stderr io.Writer) int {
	fs := flags("appliance list", stderr)
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	ctx := context.Background()
	st, code := openApplianceStore(ctx, dbPath, stderr, "appliance list", args)
	if st == nil {
		return code
	}
	defer st.Close()
	as, err := st.Appliances(ctx)
	if err != nil {
		return fail(stderr, "appliance list", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APPLIANCE\tRELAY\tLABELS\tADDED\tBY")
	for _, a := range as {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			ls = append(ls, k+"="+a.Labels[k])
		}
		labels := strings.Join(ls, ",")
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, a.Relay, labels, a.Added.UTC().Format(time.RFC3339), a.By)
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, "appliance list", err)
	}
	return exitOK
}

// applianceRemove withdraws an authorisation: the relay's next stream for
// the appliance is refused. What was stored stays.
func applianceRemove(args []string, stdout, stderr io.Writer) int {
	fs := flags("appliance remove", stderr)
	name := fs.String("name", "", "the appliance's device `id`")
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if !tlsconf.ValidDeviceID(*name) {
		return usageError(fs, fmt.Errorf("-name %q: want 1 to 128 letters, digits and . _ : @ -, starting with a letter or digit", *name))
	}
	ctx := context.Background()
	st, code := openApplianceStore(ctx, dbPath, stderr, "appliance remove", args)
	if st == nil {
		return code
	}
	defer st.Close()
	old, _, _ := st.Appliance(ctx, *name)
	if err := st.RemoveAppliance(ctx, *name); err != nil {
		return fail(stderr, "appliance remove", err)
	}
	fmt.Fprintf(stdout, "appliance %s removed: relay %s's streams for it are refused from their next connection; what is stored stays\n", *name, old.Relay)
	return exitOK
}

// openApplianceStore opens the existing database and records the command
// in the access trail before anything else.
func openApplianceStore(ctx context.Context, dbPath func() (string, error), stderr io.Writer, cmd string, args []string) (store.Store, int) {
	db, err := dbPath()
	if err != nil {
		return nil, fail(stderr, cmd, err)
	}
	st, err := openAudited(ctx, db, cmd, args)
	if err != nil {
		return nil, fail(stderr, cmd, err)
	}
	return st, exitOK
}
