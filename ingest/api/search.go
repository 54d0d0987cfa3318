package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/queryarg"
	"github.com/offbox/offbox/ingest/search"
	"github.com/offbox/offbox/ingest/store"
)

// MaxSearchTimeout caps a search's time, whatever the request asks.
const MaxSearchTimeout = search.DefaultTimeout

// SearchParams are the parameters /api/v1/search takes (device and label
// may be repeated).
var SearchParams = []string{"q", "device", "label", "source", "kind", "since", "until", "limit", "count", "context", "asc", "cursor", "timeout"}

// SearchRequest reads a search's parameters from a query string, as the
// API and the dashboard take them; an error names the parameter. labels
// gives a device's labels (nil: none).
func SearchRequest(ctx context.Context, v url.Values, now time.Time, st store.Reader,
	labels func(context.Context, string) map[string]string) (req search.Request, timeout time.Duration, err error) {
	for name, vals := range v {
		if !slices.Contains(SearchParams, name) {
			return req, 0, &apiError{fmt.Sprintf("parameter %s: unknown; this endpoint takes %s", name, strings.Join(SearchParams, ", "))}
		}
		if name != "label" && name != "device" && len(vals) > 1 {
			return req, 0, badParam(name, errors.New("given more than once"))
		}
	}
	p := &params{v: v, now: now}
	if req.Query, err = search.Parse(v.Get("q")); err != nil {
		return req, 0, badParam("q", err)
	}
	if ds := v["device"]; len(ds) > 0 {
		req.Devices = ds
	}
	req.Source = v.Get("source")
	if k := v.Get("kind"); k != "" {
		if req.Kind, err = queryarg.ParseKind(k); err != nil {
			return req, 0, badParam("kind", err)
		}
	}
	if req.Since, err = p.time("since"); err != nil {
		return req, 0, err
	}
	if req.Until, err = p.time("until"); err != nil {
		return req, 0, err
	}
	if req.Limit, err = intParam(v, "limit", search.DefaultLimit, 1, search.MaxLimit); err != nil {
		return req, 0, err
	}
	if req.Context, err = intParam(v, "context", 0, 0, search.MaxContext); err != nil {
		return req, 0, err
	}
	if req.Count, err = p.bool("count"); err != nil {
		return req, 0, err
	}
	if req.Asc, err = p.bool("asc"); err != nil {
		return req, 0, err
	}
	req.Cursor = v.Get("cursor")
	timeout = MaxSearchTimeout
	if s := v.Get("timeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 || d > MaxSearchTimeout {
			return req, 0, badParam("timeout", fmt.Errorf("%q: want a duration up to %v, such as 5s", s, MaxSearchTimeout))
		}
		timeout = d
	}
	want, err := p.labels()
	if err != nil {
		return req, 0, err
	}
	if len(want) > 0 {
		if labels == nil {
			labels = func(context.Context, string) map[string]string { return nil }
		}
		if req.Devices, err = search.DevicesWithLabels(ctx, st, req.Devices, want, labels); err != nil {
			return req, 0, err
		}
	}
	return req, timeout, nil
}

func intParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, fmt.Errorf("%q: want a number from %d to %d", s, lo, hi))
	}
	return n, nil
}

// SearchResponse is /api/v1/search's answer.
type SearchResponse struct {
	Query   string               `json:"query"`
	Results []*search.ResultJSON `json:"results"`
	Count   *int64               `json:"count,omitempty"` // with count=1: every match
	Next    string               `json:"next"`            // cursor of the next page; "" when there is none
	Stats   search.Stats         `json:"stats"`
	Summary string               `json:"summary"` // Stats in words: how much was scanned, and whether it stopped early
}

// Search runs req on st, bounded by timeout, and records the result
// count in the access trail (the request itself was recorded before).
func Search(ctx context.Context, st Store, req search.Request, timeout time.Duration, access store.Access) (*SearchResponse, error) {
	ss, ok := st.(search.Store)
	if !ok {
		return nil, errors.New("api: this store cannot search")
	}
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, err := search.Run(sctx, ss, req)
	if err != nil {
		if errors.Is(err, search.ErrCursor) {
			return nil, badParam("cursor", err)
		}
		return nil, err
	}
	out := &SearchResponse{Query: req.Query.Text, Results: make([]*search.ResultJSON, 0, len(p.Results)), Next: p.Next,
		Stats: p.Stats, Summary: p.Stats.Summary()}
	n := int64(len(p.Results))
	if req.Count {
		out.Count, n = &p.Count, p.Count
	}
	for i := range p.Results {
		out.Results = append(out.Results, search.ToJSON(req.Query, &p.Results[i]))
	}
	access.What = fmt.Sprintf("search results: %d for %s", n, access.What)
	if err := st.RecordAccess(ctx, access); err != nil {
		return nil, err
	}
	return out, nil
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		WriteError(w, r, http.StatusBadRequest, fmt.Sprintf("query string: %v", err))
		return
	}
	// The access is recorded before the label lookup reads anything.
	if err := h.auth.Audit(ctx, r, "api"); err != nil {
		WriteError(w, r, http.StatusServiceUnavailable, "this access could not be recorded, so nothing was read; try again later")
		return
	}
	req, timeout, err := SearchRequest(ctx, v, h.cfg.Now(), h.cfg.Store, h.cfg.Labels)
	var ae *apiError
	if errors.As(err, &ae) {
		WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		h.cfg.Logger.Error("api: read failed", "path", r.URL.Path, "err", err)
		WriteError(w, r, http.StatusInternalServerError, "reading the store failed")
		return
	}
	out, err := Search(ctx, h.cfg.Store, req, timeout, store.Access{Time: h.cfg.Now(), Who: Operator(r), Via: "api",
		Remote: r.RemoteAddr, What: Describe(r)})
	if errors.As(err, &ae) {
		WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		h.cfg.Logger.Error("api: search failed", "path", r.URL.Path, "err", err)
		WriteError(w, r, http.StatusInternalServerError, "reading the store failed")
		return
	}
	writeJSON(w, http.StatusOK, out)
}
