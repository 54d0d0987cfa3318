// forward status: each forward sink's cursor and lag; and the forward
// part of check-config's summary.

package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/forward"
	"github.com/offbox/offbox/ingest/store"
)

const forwardUsage = `usage: offbox-ingest forward status [-db F | -config F]
`

// forwardCmd is the forward command group.
func forwardCmd(args []string, stdout, stderr io.Writer) int {
	return subcommand("forward", forwardUsage, args, stdout, stderr, map[string]func([]string, io.Writer, io.Writer) int{
		"status": forwardStatus,
	})
}

// forwardStatus prints every sink the configuration names or the store
// holds a cursor for: where it is, when it last moved, and what waits.
func forwardStatus(args []string, stdout, stderr io.Writer) int {
	fs := flags("forward status", stderr)
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "forward status", err)
	}
	// The configured sinks, when a configuration is at hand.
	var sinks []forward.SinkConfig
	if path := fs.Lookup("config").Value.String(); path != "" || fs.Lookup("db").Value.String() == "" {
		if path == "" {
			path = defaultConfig
		}
		if c, err := config.Load(path); err == nil {
			sinks = c.Forward
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := openAudited(ctx, db, "forward status", args)
	if err != nil {
		return fail(stderr, "forward status", err)
	}
	defer st.Close()
	rows, err := forwardRows(ctx, st, sinks, time.Now())
	if err != nil {
		return fail(stderr, "forward status", err)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "no forward sinks configured or recorded")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SINK\tTYPE\tCURSOR\tUPDATED\tLAG_BATCHES\tLAG_RECORDS\tLAG")
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	tw.Flush()
	return exitOK
}

// forwardRows are the status lines, configured sinks first in their order,
// then sinks with a cursor that the configuration no longer names.
func forwardRows(ctx context.Context, st store.ForwardStore, sinks []forward.SinkConfig, now time.Time) ([]string, error) {
	saved, err := st.ForwardCursors(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.ForwardCursor{}
	for _, c := range saved {
		byName[c.Sink] = c
	}
	type sink struct{ name, typ string }
	var list []sink
	for _, s := range sinks {
		list = append(list, sink{s.Name, s.Type})
	}
	for _, c := range saved {
		configured := false
		for _, s := range sinks {
			configured = configured || s.Name == c.Sink
		}
		if !configured {
			list = append(list, sink{c.Sink, "(not configured)"})
		}
	}
	var out []string
	for _, s := range list {
		c, ok := byName[s.name]
		if !ok {
			c = store.ForwardCursor{Sink: s.name}
		}
		b, err := st.ForwardBacklog(ctx, c)
		if err != nil {
			return nil, err
		}
		cursor, updated := "start", "never"
		if ok {
			cursor = fmt.Sprintf("batch %d record %d alert %d", c.BatchRow, c.Index, c.AlertID)
			updated = c.Updated.UTC().Format(time.RFC3339)
		}
		lag := "0s"
		if !b.Oldest.IsZero() {
			lag = max(0, now.Sub(b.Oldest)).Round(time.Second).String()
		}
		out = append(out, fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d\t%s", s.name, s.typ, cursor, updated, b.Batches, b.Records, lag))
	}
	return out, nil
}

// forwardSummary is check-config's lines about the forward sinks, one a
// sink (none without sinks).
func forwardSummary(w io.Writer, sinks []forward.SinkConfig) {
	for _, c := range sinks {
		fmt.Fprintf(w, "  forward      %s: %s\n", c.Name, c.Describe())
	}
}
