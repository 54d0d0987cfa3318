package api

// Triage: POST /api/v1/alerts/{id}/{action} changes one alert,
// POST /api/v1/alerts/{action} the alerts of a list of ids or of a
// filter; GET /api/v1/alerts/{id} is one alert with its history.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/queryarg"
	"github.com/offbox/offbox/ingest/store"
)

// Bounds of a triage request.
const (
	MaxTriageBody = 64 << 10 // bytes of a POST body
	MaxTriageIDs  = 1000     // ids in one request
	// MaxTriageMatch bounds the alerts one filter may change at once.
	MaxTriageMatch = 10000
)

// TransitionView is one transition of an alert's history.
type TransitionView struct {
	ID       int64  `json:"id"`
	Action   string `json:"action"` // ack, resolve, reopen, assign, note
	Who      string `json:"who"`
	Via      string `json:"via"` // cli, api, dashboard, detect
	At       string `json:"at"`  // collector clock
	Comment  string `json:"comment"`
	Assignee string `json:"assignee"` // after the transition
}

// TransitionJSON converts a stored transition.
func TransitionJSON(t store.Transition) TransitionView {
	return TransitionView{ID: t.ID, Action: t.Action, Who: t.Who, Via: t.Via, At: formatTime(t.At), Comment: t.Comment,
		Assignee: t.Assignee}
}

// CheckState reports whether s is an alert state ("" is: it does not
// filter).
func CheckState(s string) error {
	switch s {
	case "", store.StateOpen, store.StateAcknowledged, store.StateResolved:
		return nil
	}
	return fmt.Errorf("%q: want %s, %s or %s", s, store.StateOpen, store.StateAcknowledged, store.StateResolved)
}

// TriageRequest is the JSON body of a triage POST; every member is
// optional but for what the action needs.
type TriageRequest struct {
	Comment string  `json:"comment"`
	To      *string `json:"to"`  // assign: the new assignee ("" unassigns)
	IDs     []int64 `json:"ids"` // POST /api/v1/alerts/{action}: these alerts
	// Filter, instead of IDs: every alert it selects. Only counted
	// unless AllMatching.
	Filter      *TriageFilter `json:"filter"`
	AllMatching bool          `json:"all_matching"`
}

// TriageFilter selects alerts as GET /api/v1/alerts does.
type TriageFilter struct {
	Device   string            `json:"device"`
	Kinds    []string          `json:"kinds"`
	Labels   map[string]string `json:"labels"`
	Severity string            `json:"severity"`
	State    string            `json:"state"`
	Since    string            `json:"since"` // RFC 3339 or a duration before now
	Until    string            `json:"until"`
}

// TriageResult is a triage POST's answer.
type TriageResult struct {
	Matched     int     `json:"matched"`      // alerts selected
	WouldChange int     `json:"would_change"` // of them, those the action applies to
	Changed     []int64 `json:"changed"`      // the ids changed (none when Done is false)
	Done        bool    `json:"done"`         // false: a filter without all_matching; nothing changed
}

// Triage applies tr to the alerts q selects, or only counts them when
// apply is false.
func Triage(ctx context.Context, st Store, q store.AlertQuery, tr store.Transition, apply bool) (TriageResult, error) {
	q.Limit = MaxTriageMatch + 1
	as, err := st.Alerts(ctx, q)
	if err != nil {
		return TriageResult{}, err
	}
	if len(as) > MaxTriageMatch {
		return TriageResult{}, &apiError{fmt.Sprintf("more than %d alerts match: narrow the filter", MaxTriageMatch)}
	}
	res := TriageResult{Matched: len(as), Changed: []int64{}}
	var ids []int64
	for _, a := range as {
		if ok, _, _ := store.Applies(tr.Action, a.State, a.Assignee, tr.Assignee); ok {
			ids = append(ids, a.ID)
		}
	}
	res.WouldChange = len(ids)
	if !apply || len(ids) == 0 {
		res.Done = apply
		return res, nil
	}
	changed, err := st.TransitionAlerts(ctx, ids, tr)
	if err != nil {
		return TriageResult{}, err
	}
	res.Changed, res.Done = changed, true
	return res, nil
}

func (h *handler) triageRoutes() {
	h.mux.HandleFunc("GET /api/v1/alerts/{id}", h.alert)
}

// alert is GET /api/v1/alerts/{id}: the alert, its evidence records and
// its history.
func (h *handler) alert(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, func(r *http.Request) (func(context.Context) (any, error), error) {
		if _, err := parseParams(r, h.cfg.Now()); err != nil {
			return nil, err
		}
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id < 1 {
			return nil, &apiError{fmt.Sprintf("alert id %q: want a positive number", r.PathValue("id"))}
		}
		return func(ctx context.Context) (any, error) {
			as, err := h.cfg.Store.Alerts(ctx, store.AlertQuery{IDs: []int64{id}})
			if err != nil {
				return nil, err
			}
			if len(as) == 0 {
				return nil, errNotFound
			}
			v := AlertJSON(as[0])
			if err := LoadEvidence(ctx, h.cfg.Store, &v); err != nil {
				return nil, err
			}
			hist, err := h.cfg.Store.AlertHistory(ctx, id)
			if err != nil {
				return nil, err
			}
			v.History = make([]TransitionView, 0, len(hist))
			for _, t := range hist {
				v.History = append(v.History, TransitionJSON(t))
			}
			return v, nil
		}, nil
	})
}

// errNotFound is the answer of a read that found nothing.
var errNotFound = errors.New("not found")

// sameOrigin refuses a cross-site POST (a browser's, by its
// Sec-Fetch-Site or Origin headers) before anything else.
var sameOrigin = http.NewCrossOriginProtection()

// triagePost is POST /api/v1/alerts/{id}/{action} and
// /api/v1/alerts/{action}.
func (h *handler) triagePost(w http.ResponseWriter, r *http.Request) {
	if err := sameOrigin.Check(r); err != nil {
		WriteError(w, r, http.StatusForbidden, "cross-site request refused")
		return
	}
	// The dashboard's cookie authenticates reads here, never changes: a
	// browser sends it whoever made it post. The dashboard posts its own
	// forms, with a token.
	if (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) && r.Header.Get("Authorization") == "" {
		WriteError(w, r, http.StatusForbidden, "changes through the API need an operator certificate or Authorization: Bearer TOKEN")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/alerts/"), "/")
	var id int64
	var verb string
	switch len(parts) {
	case 1:
		verb = parts[0]
	case 2:
		var err error
		if id, err = strconv.ParseInt(parts[0], 10, 64); err != nil || id < 1 {
			WriteError(w, r, http.StatusNotFound, "no such endpoint: "+r.URL.Path+": want /api/v1/alerts/ID/ACTION")
			return
		}
		verb = parts[1]
	default:
		WriteError(w, r, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
		return
	}
	tr := store.Transition{Action: verb, Who: Operator(r), Via: "api", At: h.cfg.Now()}
	if err := CheckAction(verb); err != nil {
		WriteError(w, r, http.StatusNotFound, "no such endpoint: "+r.URL.Path+": "+err.Error())
		return
	}
	req, err := readTriage(w, r)
	if err != nil {
		WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	tr.Comment = req.Comment
	if req.To != nil {
		tr.Assignee = *req.To
	}
	q, apply, err := h.triageQuery(id, req, tr)
	if err != nil {
		WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if err := h.auth.Audit(ctx, r, "api"); err != nil {
		WriteError(w, r, http.StatusServiceUnavailable, "this access could not be recorded, so nothing was changed; try again later")
		return
	}
	res, err := Triage(ctx, h.cfg.Store, q, tr, apply)
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		h.cfg.Logger.Error("api: triage failed", "path", r.URL.Path, "err", err)
		WriteError(w, r, http.StatusInternalServerError, "changing the store failed")
		return
	case id != 0 && res.Matched == 0:
		WriteError(w, r, http.StatusNotFound, fmt.Sprintf("no alert %d", id))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// CheckAction reports whether verb is a triage action.
func CheckAction(verb string) error {
	switch verb {
	case store.ActionAck, store.ActionResolve, store.ActionReopen, store.ActionAssign, store.ActionNote:
		return nil
	}
	return fmt.Errorf("unknown action %q: want ack, resolve, reopen, assign or note", verb)
}

// readTriage reads a triage body: JSON, at most MaxTriageBody bytes, no
// unknown member; an empty body is an empty request.
func readTriage(w http.ResponseWriter, r *http.Request) (TriageRequest, error) {
	var req TriageRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxTriageBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, fmt.Errorf("body: larger than %d bytes", MaxTriageBody)
		}
		return req, fmt.Errorf("body: %v", err)
	}
	if dec.More() {
		return req, errors.New("body: one JSON object, nothing after it")
	}
	return req, nil
}

// triageQuery is the alerts a request selects, and whether to change
// them (not for a filter without all_matching).
func (h *handler) triageQuery(id int64, req TriageRequest, tr store.Transition) (q store.AlertQuery, apply bool, err error) {
	if err := store.CheckTransition(&tr); err != nil {
		return q, false, err
	}
	if (tr.Action == store.ActionAssign) != (req.To != nil) {
		return q, false, errors.New(`"to" goes with assign, and assign needs it`)
	}
	switch {
	case id != 0:
		if len(req.IDs) > 0 || req.Filter != nil || req.AllMatching {
			return q, false, errors.New(`an alert in the path takes no "ids", "filter" or "all_matching"`)
		}
		return store.AlertQuery{IDs: []int64{id}}, true, nil
	case len(req.IDs) > 0 && req.Filter != nil:
		return q, false, errors.New(`"ids" and "filter": give one`)
	case len(req.IDs) > 0:
		if len(req.IDs) > MaxTriageIDs {
			return q, false, fmt.Errorf(`"ids": %d, at most %d`, len(req.IDs), MaxTriageIDs)
		}
		if req.AllMatching {
			return q, false, errors.New(`"all_matching" goes with "filter"`)
		}
		return store.AlertQuery{IDs: req.IDs}, true, nil
	case req.Filter != nil:
		f := req.Filter
		q = store.AlertQuery{Device: f.Device, Kinds: f.Kinds, Labels: f.Labels, Severity: f.Severity, State: f.State}
		if err := CheckSeverity(q.Severity); err != nil {
			return q, false, fmt.Errorf("filter.severity %w", err)
		}
		if err := CheckState(q.State); err != nil {
			return q, false, fmt.Errorf("filter.state %w", err)
		}
		now := h.cfg.Now()
		for name, v := range map[string]struct {
			s   string
			dst *time.Time
		}{"since": {f.Since, &q.Since}, "until": {f.Until, &q.Until}} {
			if v.s == "" {
				continue
			}
			if *v.dst, err = queryarg.ParseSince(v.s, now); err != nil {
				return q, false, fmt.Errorf("filter.%s %w", name, err)
			}
		}
		return q, req.AllMatching, nil
	}
	return q, false, errors.New(`which alerts? POST /api/v1/alerts/ID/ACTION, or a body with "ids" or "filter"`)
}
