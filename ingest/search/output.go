package search

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/store"
)

// ResultJSON is one result as `search -json` and /api/v1/search write it:
// the record as `records -json` writes it, its reference, where the query
// matched in the body (byte offsets, for highlighting), and the context
// lines.
type ResultJSON struct {
	Ref string `json:"ref"`
	*export.JSONRecord
	Matches [][2]int             `json:"matches"`
	Before  []*export.JSONRecord `json:"before,omitempty"`
	After   []*export.JSONRecord `json:"after,omitempty"`
}

// ToJSON converts a result.
func ToJSON(q *Query, r *Result) *ResultJSON {
	j := &ResultJSON{Ref: Ref(&r.Record), JSONRecord: export.ToJSON(&r.Record), Matches: q.Spans(r.GetBody())}
	if j.Matches == nil {
		j.Matches = [][2]int{}
	}
	for i := range r.Before {
		j.Before = append(j.Before, export.ToJSON(&r.Before[i]))
	}
	for i := range r.After {
		j.After = append(j.After, export.ToJSON(&r.After[i]))
	}
	return j
}

// Text is a result's readable line (export.Text) with its received time
// and reference.
func Text(r *store.Record) string {
	return fmt.Sprintf("%s received=%s ref=%s", export.Text(r), r.Received.UTC().Format(export.TimeFormat), export.Escape(Ref(r)))
}

// Summary says in words how much a search read, and why it stopped early.
func (s Stats) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d candidate batches: %d skipped by the index, %d scanned (%s, %d lines",
		s.Batches, s.Skipped, s.Scanned, mib(s.Bytes), s.Lines)
	if s.Unindexed > 0 {
		fmt.Fprintf(&b, "; %d not indexed yet", s.Unindexed)
	}
	b.WriteString(")")
	if s.FullScan {
		b.WriteString("; the query has no word the index can use, so every candidate batch was scanned")
	}
	if s.Stopped != "" {
		fmt.Fprintf(&b, "; stopped early (%s): the results are incomplete", s.Stopped)
	}
	return b.String()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// DevicesWithLabels narrows names (nil: every stored device) to the devices
// whose labels (labels gives a device's) hold every one of want. It
// returns names unchanged when want is empty, and an empty, non-nil list
// when no device has them.
func DevicesWithLabels(ctx context.Context, st store.Reader, names []string, want map[string]string,
	labels func(ctx context.Context, device string) map[string]string) ([]string, error) {
	if len(want) == 0 {
		return names, nil
	}
	if names == nil {
		ds, err := st.Devices(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
	}
	out := []string{}
	for _, n := range names {
		have := labels(ctx, n)
		if maps.EqualFunc(want, filterKeys(have, want), func(a, b string) bool { return a == b }) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

func filterKeys(have, want map[string]string) map[string]string {
	out := map[string]string{}
	for k := range want {
		if v, ok := have[k]; ok {
			out[k] = v
		}
	}
	return out
}
