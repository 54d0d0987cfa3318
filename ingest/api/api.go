// Package api is the collector's HTTP query API: alerts, security events
// and devices as JSON, under /api/v1/. Every call must be authenticated
// (an operator client certificate, or a bearer token stored hashed);
// one that is not is refused with 401 and recorded as refused. Every
// request that reads data is first recorded in the store's access trail;
// a read that cannot be recorded is refused, so there is never an
// unaudited read. It only reads what devices sent; the access trail and
// operators' alert transitions (triage.go) are all it writes. It does not listen: the caller serves the Handler
// on an AllowListener (the address ranges) with TLSConfig.
package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/authevents"
	"github.com/offbox/offbox/ingest/queryarg"
	"github.com/offbox/offbox/ingest/store"
)

// Limits on the number of alerts or events one request returns.
const (
	DefaultLimit = 1000
	MaxLimit     = 100000
)

// Store is what the API reads, where it records each access, and where
// it looks operator tokens up.
type Store interface {
	store.Reader
	store.AlertStore
	store.TriageStore
	OperatorToken(ctx context.Context, hash []byte) (t store.OperatorToken, ok bool, err error)
}

// Config configures the Handler. Store is required.
type Config struct {
	Store  Store
	Now    func() time.Time // collector clock: access times, token expiry, relative since; nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()
	Auth   *Auth            // shared with the dashboard; nil: one of Store, Now and Logger

	// Labels gives a device's labels, for search's label filter; nil: none.
	Labels func(ctx context.Context, device string) map[string]string
}

type handler struct {
	cfg  Config
	mux  *http.ServeMux
	auth *Auth
	next http.Handler // mux behind authentication
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.auth = cfg.Auth
	if h.auth == nil {
		h.auth = &Auth{Store: cfg.Store, Now: cfg.Now, Logger: cfg.Logger}
	}
	h.mux.HandleFunc("/api/v1/alerts", h.alerts)
	h.mux.HandleFunc("/api/v1/events", h.events)
	h.mux.HandleFunc("/api/v1/devices", h.devices)
	h.triageRoutes()
	h.mux.HandleFunc("/api/v1/search", h.search)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	h.next = h.auth.Require("api", WriteError, http.HandlerFunc(h.route))
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.next.ServeHTTP(w, r) }

func (h *handler) route(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/alerts/") {
		h.triagePost(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		WriteError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: use GET")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// apiError is a request the caller got wrong; Error names the parameter.
type apiError struct{ msg string }

func (e *apiError) Error() string { return e.msg }

func badParam(name string, err error) error {
	return &apiError{fmt.Sprintf("parameter %s: %v", name, err)}
}

// params reads a query string, refusing parameters the endpoint does not
// take (a misspelt filter must not silently return everything) and
// repeats of those that take one value.
type params struct {
	v   url.Values
	now time.Time
}

func parseParams(r *http.Request, now time.Time, allowed ...string) (*params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &apiError{fmt.Sprintf("query string: %v", err)}
	}
	for name, vals := range v {
		if !slices.Contains(allowed, name) {
			takes := "no parameters"
			if len(allowed) > 0 {
				takes = strings.Join(allowed, ", ")
			}
			return nil, &apiError{fmt.Sprintf("parameter %s: unknown; this endpoint takes %s", name, takes)}
		}
		if name != "label" && len(vals) > 1 {
			return nil, badParam(name, errors.New("given more than once"))
		}
	}
	return &params{v: v, now: now}, nil
}

func (p *params) str(name string) string { return p.v.Get(name) }

func (p *params) time(name string) (time.Time, error) {
	s := p.v.Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := queryarg.ParseSince(s, p.now)
	if err != nil {
		return time.Time{}, badParam(name, err)
	}
	return t, nil
}

func (p *params) limit() (int, error) {
	s := p.v.Get("limit")
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, badParam("limit", fmt.Errorf("%q: want a number from 1 to %d", s, MaxLimit))
	}
	return n, nil
}

func (p *params) bool(name string) (bool, error) {
	s := p.v.Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badParam(name, fmt.Errorf("%q: want 1 or 0", s))
	}
	return b, nil
}

// labels reads repeated label=k=v parameters.
func (p *params) labels() (map[string]string, error) {
	var out map[string]string
	for _, kv := range p.v["label"] {
		k, v, err := ParseLabel(kv)
		if err != nil {
			return nil, badParam("label", err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out, nil
}

// ParseLabel reads a label filter "key=value" (the value may be empty,
// the key may not, nor hold control characters or invalid UTF-8: no label
// has such a name).
func ParseLabel(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%q: want key=value", s)
	}
	if !utf8.ValidString(k) || strings.ContainsFunc(k, unicode.IsControl) {
		return "", "", fmt.Errorf("%q: the key holds control characters or invalid UTF-8", s)
	}
	return k, v, nil
}

// CheckSeverity reports whether s is a severity ("" is: it does not filter).
func CheckSeverity(s string) error {
	switch s {
	case "", store.SeverityInfo, store.SeverityWarning, store.SeverityCritical:
		return nil
	}
	return fmt.Errorf("%q: want %s, %s or %s", s, store.SeverityInfo, store.SeverityWarning, store.SeverityCritical)
}

// serve parses the request, records the access and only then reads.
// parse returns an apiError for the caller's mistakes; read's errors are
// the store's.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, parse func(*http.Request) (func(context.Context) (any, error), error)) {
	read, err := parse(r)
	if err != nil {
		WriteError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if err := h.auth.Audit(ctx, r, "api"); err != nil {
		WriteError(w, r, http.StatusServiceUnavailable, "this access could not be recorded, so nothing was read; try again later")
		return
	}
	body, err := read(ctx)
	if errors.Is(err, errNotFound) {
		WriteError(w, r, http.StatusNotFound, "not found: "+r.URL.Path)
		return
	}
	if err != nil {
		h.cfg.Logger.Error("api: read failed", "path", r.URL.Path, "err", err)
		WriteError(w, r, http.StatusInternalServerError, "reading the store failed")
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (h *handler) alerts(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, func(r *http.Request) (func(context.Context) (any, error), error) {
		p, err := parseParams(r, h.cfg.Now(), "device", "kind", "severity", "label", "since", "until", "limit", "evidence")
		if err != nil {
			return nil, err
		}
		q := store.AlertQuery{Device: p.str("device"), Kind: p.str("kind"), Severity: p.str("severity")}
		if err := CheckSeverity(q.Severity); err != nil {
			return nil, badParam("severity", err)
		}
		if q.Labels, err = p.labels(); err != nil {
			return nil, err
		}
		if q.Since, err = p.time("since"); err != nil {
			return nil, err
		}
		if q.Until, err = p.time("until"); err != nil {
			return nil, err
		}
		limit, err := p.limit()
		if err != nil {
			return nil, err
		}
		evidence, err := p.bool("evidence")
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			q.Limit = limit + 1 // one more says whether there are more
			as, err := h.cfg.Store.Alerts(ctx, q)
			if err != nil {
				return nil, err
			}
			out := alertsResponse{Alerts: make([]AlertView, 0, min(len(as), limit))}
			if len(as) > limit {
				as, out.Truncated = as[:limit], true
			}
			for _, a := range as {
				v := AlertJSON(a)
				if evidence {
					if err := LoadEvidence(ctx, h.cfg.Store, &v); err != nil {
						return nil, err
					}
				}
				out.Alerts = append(out.Alerts, v)
			}
			return out, nil
		}, nil
	})
}

type alertsResponse struct {
	Alerts    []AlertView `json:"alerts"`
	Truncated bool        `json:"truncated"` // more alerts matched than limit
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, func(r *http.Request) (func(context.Context) (any, error), error) {
		p, err := parseParams(r, h.cfg.Now(), "device", "kind", "since", "until", "limit")
		if err != nil {
			return nil, err
		}
		q := authevents.Query{Device: p.str("device"), Kind: p.str("kind")}
		if err := authevents.CheckKind(q.Kind); err != nil {
			return nil, badParam("kind", err)
		}
		if q.Since, err = p.time("since"); err != nil {
			return nil, err
		}
		if q.Until, err = p.time("until"); err != nil {
			return nil, err
		}
		limit, err := p.limit()
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			q.Limit = limit + 1
			out := eventsResponse{Events: []*authevents.JSON{}}
			for ev, err := range authevents.Scan(ctx, h.cfg.Store, q) {
				if err != nil {
					return nil, err
				}
				if len(out.Events) == limit {
					out.Truncated = true
					break
				}
				out.Events = append(out.Events, authevents.ToJSON(&ev))
			}
			return out, nil
		}, nil
	})
}

type eventsResponse struct {
	Events    []*authevents.JSON `json:"events"`
	Truncated bool               `json:"truncated"` // more events matched than limit
}

func (h *handler) devices(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, func(r *http.Request) (func(context.Context) (any, error), error) {
		if _, err := parseParams(r, h.cfg.Now()); err != nil {
			return nil, err
		}
		return func(ctx context.Context) (any, error) {
			ds, err := h.cfg.Store.Devices(ctx)
			if err != nil {
				return nil, err
			}
			out := devicesResponse{Devices: make([]DeviceView, 0, len(ds))}
			for _, d := range ds {
				out.Devices = append(out.Devices, DeviceView{Name: d.Name, FirstSeen: formatTime(d.FirstSeen),
					LastSeen: formatTime(d.LastSeen), Head: HeadView{Seq: d.Head.Seq, Hash: hex.EncodeToString(d.Head.Hash)}})
			}
			return out, nil
		}, nil
	})
}

type devicesResponse struct {
	Devices []DeviceView `json:"devices"`
}

// DeviceView is one device of /api/v1/devices.
type DeviceView struct {
	Name      string   `json:"name"`
	FirstSeen string   `json:"first_seen"`
	LastSeen  string   `json:"last_seen"` // collector clock: the last batch stored
	Head      HeadView `json:"head"`
}

// HeadView is a device's chain head.
type HeadView struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"` // hex SHA-256 of the head batch; "" when Seq is 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) // a failure here is the client gone
}

// WriteError answers with {"error": msg}; it is the API's Fail.
func WriteError(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
