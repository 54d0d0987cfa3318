package web

import (
	"cmp"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/store"
)

// ranges are the alerts page's time ranges (of an alert's LastReceived,
// the collector's clock).
var ranges = []struct{ Key, Title string }{{"1h", "last hour"}, {"24h", "last day"}, {"168h", "last 7 days"}, {"custom", "custom"}}

// customLayout is a datetime-local input's value, read as UTC.
const customLayout = "2006-01-02T15:04"

// alertsData is the alerts page.
type alertsData struct {
	Alerts                        []alertRow
	Truncated                     bool
	Device, Kind, Severity, Range string
	State                         string   // state filter
	States                        []string // its choices
	Back                          string   // this page, where the triage form returns
	Since, Until                  string   // custom range, as typed
	Filter                        []string
	Kinds, Devices, Labels        []string // choices for the filters
	ByKind, BySeverity, ByDevice  []group
	Ranges                        []struct{ Key, Title string }
	Severities                    []string
	From, To                      time.Time // the range applied
	Timeline                      template.HTML
}

// group is one grouping count: alerts, and their occurrences.
type group struct {
	Key         string
	Alerts, Sum int
}

func groups(as []store.Alert, key func(store.Alert) string) []group {
	m := map[string]*group{}
	for _, a := range as {
		k := key(a)
		g := m[k]
		if g == nil {
			g = &group{Key: k}
			m[k] = g
		}
		g.Alerts++
		g.Sum += a.Count
	}
	out := make([]group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b group) int { return cmp.Or(cmp.Compare(b.Alerts, a.Alerts), cmp.Compare(a.Key, b.Key)) })
	return out
}

// parseRange reads the range parameters: a preset duration, or custom
// since/until (datetime-local in UTC, or RFC 3339).
func parseRange(q map[string][]string, now time.Time) (key string, from, to time.Time, err error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	key = get("range")
	switch key {
	case "":
		key = "24h"
		fallthrough
	case "1h", "24h", "168h":
		d, _ := time.ParseDuration(key)
		return key, now.Add(-d), time.Time{}, nil
	case "custom":
		parse := func(s string) (time.Time, error) {
			if s == "" {
				return time.Time{}, nil
			}
			if t, err := time.Parse(customLayout, s); err == nil {
				return t, nil
			}
			return time.Parse(time.RFC3339, s)
		}
		if from, err = parse(get("since")); err != nil {
			return "", from, to, errors.New("since: want YYYY-MM-DDTHH:MM (UTC) or RFC 3339")
		}
		if to, err = parse(get("until")); err != nil {
			return "", from, to, errors.New("until: want YYYY-MM-DDTHH:MM (UTC) or RFC 3339")
		}
		return key, from, to, nil
	}
	return "", from, to, errors.New("range: want 1h, 24h, 168h or custom")
}

func (h *handler) alerts(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), h.cfg.Now()
	qs := r.URL.Query()
	labels, raw, err := labelFilter(r)
	if err != nil {
		Fail(w, r, http.StatusBadRequest, "label: "+err.Error())
		return
	}
	d := alertsData{Device: qs.Get("device"), Kind: qs.Get("kind"), Severity: qs.Get("severity"), Since: qs.Get("since"),
		Until: qs.Get("until"), Filter: raw, Ranges: ranges,
		Severities: []string{store.SeverityInfo, store.SeverityWarning, store.SeverityCritical}}
	if err := api.CheckSeverity(d.Severity); err != nil {
		Fail(w, r, http.StatusBadRequest, "severity: "+err.Error())
		return
	}
	d.State, d.States, d.Back = qs.Get("state"), []string{store.StateOpen, store.StateAcknowledged, store.StateResolved}, r.URL.RequestURI()
	if err := api.CheckState(d.State); err != nil {
		Fail(w, r, http.StatusBadRequest, "state: "+err.Error())
		return
	}
	if d.Range, d.From, d.To, err = parseRange(qs, now); err != nil {
		Fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	as, err := h.cfg.Store.Alerts(ctx, store.AlertQuery{Device: d.Device, Kind: d.Kind, Severity: d.Severity, Labels: labels,
		Since: d.From, Until: d.To, Limit: maxAlerts + 1, State: d.State})
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	if len(as) > maxAlerts {
		as, d.Truncated = as[:maxAlerts], true
	}
	if d.Alerts, err = h.alertRows(ctx, as); err != nil {
		h.readFailed(w, r, err)
		return
	}
	end := d.To
	if end.IsZero() {
		end = now
	}
	d.Timeline = timeline(as, d.From, end)
	d.ByKind = groups(as, func(a store.Alert) string { return a.Kind })
	d.BySeverity = groups(as, func(a store.Alert) string { return a.Severity })
	d.ByDevice = groups(as, func(a store.Alert) string { return a.Device })
	kinds, devices, lbls := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, a := range as {
		kinds[a.Kind], devices[a.Device] = true, true
		for k, v := range a.Labels {
			lbls[k+"="+v] = true
		}
	}
	if ds, err := h.cfg.Store.Devices(ctx); err == nil {
		for _, dv := range ds {
			devices[dv.Name] = true
		}
	}
	for _, k := range knownKinds {
		kinds[k] = true
	}
	delete(devices, "")
	d.Kinds, d.Devices, d.Labels = slices.Sorted(maps.Keys(kinds)), slices.Sorted(maps.Keys(devices)), slices.Sorted(maps.Keys(lbls))
	h.page(w, r, "alerts", "Alerts", d)
}

// knownKinds are the alert kinds the collector raises (README, Alerts).
var knownKinds = []string{"auth_failure", "auth_success", "brute_force", "success_after_failures", "device_reboot",
	"reboot_loop", "firmware_changed", "firmware_downgrade", "firmware_not_approved", "agent_restart",
	"heartbeat_missing", "heartbeat_resumed", "timestamp_mismatch", "clock_offset", "ntp_unreachable",
	"ntp_falseticker", "config_change", "password_change", "password_too_old", "account_added", "account_removed",
	"account_uid0", "bad_signature", "identity_mismatch", "fork", "concurrent_session", "chain_restart", "gap",
	"replay", "malformed", "log_access",
	"source_quiet", "source_resumed"}
