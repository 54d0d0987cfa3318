package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/alerts"
	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/queryarg"
	"github.com/offbox/offbox/ingest/search"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/cmdhelp"
)

func searchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flags("search", stderr)
	dbPath := dbFlags(fs)
	var devices, labels repeated
	fs.Var(&devices, "device", "only this device `id`; repeat for several")
	fs.Var(&labels, "label", "only devices with this label, `key=value`; repeat: every label must match")
	source := fs.String("source", "", "only this `source`, e.g. file:/var/log/auth.log")
	kind := fs.String("kind", "", "only this `kind`: log, boot, heartbeat, clock, gap, agent_status ...")
	since := fs.String("since", "", "only lines with a device time at or after `T` (RFC 3339, or a duration such as 10m)")
	until := fs.String("until", "", "only lines with a device time before `T` (RFC 3339, or a duration)")
	limit := fs.Int("limit", search.DefaultLimit, "print at most `N` results")
	count := fs.Bool("count", false, "print only the number of matching lines (every one, exactly)")
	contextN := fs.Int("context", 0, fmt.Sprintf("print `N` lines of the same device and source before and after each result (at most %d)", search.MaxContext))
	asJSON := fs.Bool("json", false, "one JSON object a line: the record as records -json writes it, with ref, matches, before and after")
	asc := fs.Bool("asc", false, "oldest first (default: newest received first)")
	timeout := fs.Duration("timeout", search.DefaultTimeout, "give up after `D`; what was found is printed and the exit status is 1")
	c, helpCmd := helpOf(fs)
	if code, ok := cmdhelp.Parse(fs, args, c, helpCmd); !ok {
		return code
	}
	text := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(text) == "" {
		return usageError(fs, errors.New("no QUERY given: words, \"quoted phrases\", -word, re:PATTERN"))
	}
	q, err := search.Parse(text)
	if err != nil {
		return usageError(fs, err)
	}
	switch {
	case *count && (*asJSON || *contextN != 0):
		return usageError(fs, errors.New("-count excludes -json and -context"))
	case *limit < 1:
		return usageError(fs, fmt.Errorf("-limit %d: want at least 1", *limit))
	case *contextN < 0 || *contextN > search.MaxContext:
		return usageError(fs, fmt.Errorf("-context %d: want 0 to %d", *contextN, search.MaxContext))
	case *timeout <= 0:
		return usageError(fs, fmt.Errorf("-timeout %v: want a positive duration", *timeout))
	}
	req := search.Request{Query: q, Source: *source, Asc: *asc, Count: *count, Context: *contextN}
	if len(devices) > 0 {
		req.Devices = devices
	}
	if *kind != "" {
		if req.Kind, err = queryarg.ParseKind(*kind); err != nil {
			return usageError(fs, fmt.Errorf("-kind %w", err))
		}
	}
	var code int
	var ok bool
	if req.Since, req.Until, code, ok = timeFlags(fs, *since, *until); !ok {
		return code
	}
	want := map[string]string{}
	for _, l := range labels {
		k, v, err := api.ParseLabel(l)
		if err != nil {
			return usageError(fs, fmt.Errorf("-label %w", err))
		}
		want[k] = v
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "search", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	st, err := openAudited(context.Background(), db, "search", args)
	if err != nil {
		return fail(stderr, "search", err)
	}
	defer st.Close()
	ss, ok := st.(search.Store)
	if !ok {
		return fail(stderr, "search", errors.New("this store cannot search"))
	}
	lc := &alerts.LabelCache{Store: st}
	if path := fs.Lookup("config").Value.String(); path != "" && len(want) > 0 {
		if c, err := config.Load(path); err == nil {
			lc.Configured = c.DeviceLabels // the labels serve gives devices, over their certificates'
		}
	}
	if req.Devices, err = search.DevicesWithLabels(ctx, st, req.Devices, want, lc.Labels); err != nil {
		return fail(stderr, "search", err)
	}
	n, stats, err := runSearch(ctx, ss, req, *limit, *asJSON, stdout)
	if err != nil {
		return fail(stderr, "search", err)
	}
	// The access was recorded before reading; its outcome is recorded too.
	done := store.Access{Time: time.Now(), Who: operator(), Via: "cli",
		What: fmt.Sprintf("search results: %d for %s", n, commandLine("search", args))}
	if err := st.RecordAccess(context.Background(), done); err != nil {
		return fail(stderr, "search", fmt.Errorf("recording the result count: %w", err))
	}
	if stats.FullScan || stats.Stopped != "" {
		fmt.Fprintf(stderr, "offbox-ingest search: %s\n", stats.Summary())
	}
	if stats.Stopped != "" {
		return exitFailure
	}
	return exitOK
}

// runSearch prints up to limit results (or the count) page by page and
// returns how many lines it reported.
func runSearch(ctx context.Context, st search.Store, req search.Request, limit int, asJSON bool, w io.Writer) (int64, search.Stats, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	var total search.Stats
	if req.Count {
		p, err := search.Run(ctx, st, req)
		if err != nil {
			return 0, total, err
		}
		fmt.Fprintln(bw, p.Count)
		return p.Count, p.Stats, nil
	}
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var n int64
	for n < int64(limit) {
		req.Limit = min(limit-int(n), search.MaxLimit)
		p, err := search.Run(ctx, st, req)
		if err != nil {
			return n, total, err
		}
		addStats(&total, p.Stats)
		for i := range p.Results {
			r := &p.Results[i]
			n++
			if asJSON {
				if err := enc.Encode(search.ToJSON(req.Query, r)); err != nil {
					return n, total, err
				}
				continue
			}
			if req.Context > 0 && n > 1 {
				fmt.Fprintln(bw, "--")
			}
			for j := range r.Before {
				fmt.Fprintln(bw, "    "+export.Text(&r.Before[j]))
			}
			fmt.Fprintln(bw, search.Text(&r.Record))
			for j := range r.After {
				fmt.Fprintln(bw, "    "+export.Text(&r.After[j]))
			}
		}
		if p.Next == "" || p.Stats.Stopped != "" {
			break
		}
		req.Cursor = p.Next
	}
	return n, total, nil
}

func addStats(t *search.Stats, s search.Stats) {
	t.Batches += s.Batches
	t.Skipped += s.Skipped
	t.Scanned += s.Scanned
	t.Unindexed += s.Unindexed
	t.Bytes += s.Bytes
	t.Lines += s.Lines
	t.FullScan = t.FullScan || s.FullScan
	if s.Stopped != "" {
		t.Stopped = s.Stopped
	}
}

// newIndexer is the search indexer of st (search filters, behind
// ingestion; nil when st keeps none). Its Offer takes batches just
// committed, so it need not decode them again.
func newIndexer(st store.Store, log *slog.Logger) *search.Indexer {
	is, ok := st.(search.IndexStore)
	if !ok {
		return nil
	}
	return &search.Indexer{Store: is, Logger: log.With("part", "search-index")}
}

// runIndexer runs x (if any) until ctx ends; done is closed then.
func runIndexer(ctx context.Context, x *search.Indexer) (done <-chan struct{}) {
	d := make(chan struct{})
	if x == nil {
		close(d)
		return d
	}
	go func() {
		defer close(d)
		x.Run(ctx)
	}()
	return d
}

// recordByRef prints the one record ref (DEVICE/SEQ/INDEX) names.
func recordByRef(ctx context.Context, st store.Store, ref string, asJSON bool, stdout, stderr io.Writer) int {
	i, j := strings.LastIndexByte(ref, '/'), -1
	if i > 0 {
		j = strings.LastIndexByte(ref[:i], '/')
	}
	var seq uint64
	var index int
	var err1, err2 error
	if j > 0 {
		seq, err1 = strconv.ParseUint(ref[j+1:i], 10, 64)
		index, err2 = strconv.Atoi(ref[i+1:])
	}
	if j <= 0 || err1 != nil || err2 != nil || index < 0 {
		fmt.Fprintf(stderr, "offbox-ingest records: -ref %q: want DEVICE/SEQ/INDEX, as search prints it\n", ref)
		return exitUsage
	}
	rec, ok, err := st.Record(ctx, ref[:j], seq, index)
	if err != nil {
		return fail(stderr, "records", err)
	}
	if !ok {
		return fail(stderr, "records", fmt.Errorf("no record %s is stored", ref))
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(export.ToJSON(&rec)); err != nil {
			return fail(stderr, "records", err)
		}
		return exitOK
	}
	fmt.Fprintln(stdout, export.Readable(&rec))
	return exitOK
}
