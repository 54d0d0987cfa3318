package web

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Windows bound every read, so a large store does not make a page slow.
const (
	heartbeatWindow = time.Hour           // the last heartbeat and clock record are looked for this far back
	openWindow      = 24 * time.Hour      // an alert is open while its LastReceived is this recent
	bootWindow      = 90 * 24 * time.Hour // boots and firmware history
	changeWindow    = 30 * 24 * time.Hour // config, password and account changes
	clockWindow     = 24 * time.Hour      // the clock chart
	logWindow       = 6 * time.Hour       // recent log lines
	maxAlerts       = 500                 // alerts listed on the alerts page
	maxOpenAlerts   = 10000               // alerts counted as open on the fleet page
	maxRows         = 50                  // boots, changes
	maxLogLines     = 200
)

// defaultHeartbeat is the interval assumed when a heartbeat does not say.
const defaultHeartbeat = 15 * time.Second

// Statuses of a device, by its last heartbeat.
const (
	statusHealthy = "healthy" // within 2.5 intervals
	statusLate    = "late"    // within 10
	statusSilent  = "silent"  // beyond, or no heartbeat within heartbeatWindow
)

// deviceRow is one device of the fleet.
type deviceRow struct {
	Name         string
	Labels       map[string]string
	LastSeen     time.Time // last batch stored (collector clock)
	Heartbeat    time.Time // last heartbeat received (collector clock); zero: none within heartbeatWindow
	HeartbeatAge time.Duration
	Interval     time.Duration
	Status       string
	AgentVersion string
	Firmware     string
	LastBoot     time.Time
	Offset       string // the combined clock offset, "" when unknown
	ErrorBound   string
	OpenAlerts   int
}

// latest is the last record of kind on device since since (nil if none).
func latest(ctx context.Context, st store.Reader, device string, kind offboxv1.Kind, since time.Time, keep func(store.Record) bool) (*store.Record, error) {
	var last *store.Record
	for rec, err := range st.Records(ctx, store.RecordQuery{Device: device, Kind: kind, Since: since}) {
		if err != nil {
			return nil, err
		}
		if keep == nil || keep(rec) {
			last = &rec
		}
	}
	return last, nil
}

// attrs are a record's attributes by key.
func attrs(rec *store.Record) map[string]string {
	m := map[string]string{}
	if rec == nil {
		return m
	}
	for _, a := range rec.GetAttrs() {
		m[a.GetKey()] = a.GetValue()
	}
	return m
}

// status says how recently a device was heard from, in heartbeat intervals.
func status(age, interval time.Duration, heard bool) string {
	switch {
	case !heard:
		return statusSilent
	case age <= interval*5/2:
		return statusHealthy
	case age <= 10*interval:
		return statusLate
	}
	return statusSilent
}

// fmtNs is a nanosecond count for people ("" if s is not one).
func fmtNs(s string) string {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return ""
	}
	return time.Duration(n).Round(time.Microsecond).String()
}

// readDevice is one device's row.
func (h *handler) readDevice(ctx context.Context, d store.Device, now time.Time, open map[string]int) (deviceRow, error) {
	row := deviceRow{Name: d.Name, LastSeen: d.LastSeen, OpenAlerts: open[d.Name], Interval: defaultHeartbeat}
	if h.cfg.Labels != nil {
		row.Labels = h.cfg.Labels(ctx, d.Name)
	}
	hb, err := latest(ctx, h.cfg.Store, d.Name, offboxv1.Kind_KIND_HEARTBEAT, now.Add(-heartbeatWindow), nil)
	if err != nil {
		return row, err
	}
	if hb != nil {
		a := attrs(hb)
		row.Heartbeat, row.AgentVersion = hb.Received, a["agent_version"]
		if iv, err := time.ParseDuration(a["heartbeat_interval"]); err == nil && iv > 0 {
			row.Interval = iv
		}
		row.HeartbeatAge = max(now.Sub(hb.Received), 0)
	}
	row.Status = status(row.HeartbeatAge, row.Interval, hb != nil)
	boot, err := latest(ctx, h.cfg.Store, d.Name, offboxv1.Kind_KIND_BOOT, now.Add(-bootWindow), nil)
	if err != nil {
		return row, err
	}
	if boot != nil {
		a := attrs(boot)
		row.Firmware, row.LastBoot = a["firmware_version"], bootTime(boot, a)
	}
	clock, err := latest(ctx, h.cfg.Store, d.Name, offboxv1.Kind_KIND_CLOCK, now.Add(-heartbeatWindow), func(r store.Record) bool {
		return attrs(&r)["offset_ns"] != ""
	})
	if err != nil {
		return row, err
	}
	if clock != nil {
		a := attrs(clock)
		row.Offset, row.ErrorBound = fmtNs(a["offset_ns"]), fmtNs(a["error_bound_ns"])
	}
	return row, nil
}

// bootTime is when a device booted: its boot_time attribute (Unix
// seconds or RFC 3339), else the boot record's time.
func bootTime(rec *store.Record, a map[string]string) time.Time {
	if s, err := strconv.ParseInt(a["boot_time"], 10, 64); err == nil && s > 0 {
		return time.Unix(s, 0)
	}
	if t, err := time.Parse(time.RFC3339Nano, a["boot_time"]); err == nil {
		return t
	}
	return time.Unix(0, rec.GetTimeNs())
}

// openAlerts counts the open alerts (LastReceived within openWindow) per
// device.
func (h *handler) openAlerts(ctx context.Context, now time.Time) (map[string]int, error) {
	as, err := h.cfg.Store.Alerts(ctx, store.AlertQuery{Since: now.Add(-openWindow), Limit: maxOpenAlerts})
	if err != nil {
		return nil, err
	}
	open := map[string]int{}
	for _, a := range as {
		open[a.Device]++
	}
	return open, nil
}

// labelFilter reads the label=k=v parameters of r.
func labelFilter(r *http.Request) (map[string]string, []string, error) {
	var out map[string]string
	var raw []string
	for _, kv := range r.URL.Query()["label"] {
		if kv == "" {
			continue
		}
		k, v, err := api.ParseLabel(kv)
		if err != nil {
			return nil, nil, err
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
		raw = append(raw, kv)
	}
	return out, raw, nil
}

func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// fleetData is the fleet page.
type fleetData struct {
	Devices   []deviceRow
	Total     int      // devices known, before the label filter
	Labels    []string // every k=v label of the fleet, for the filter
	Filter    []string // the label filters applied
	FilterStr string
	Sort      string
	Columns   []column
	Forward   []forwardLine // forward sinks' lag (forward.go)
}

type column struct{ Key, Title string }

var fleetColumns = []column{{"name", "Device"}, {"labels", "Labels"}, {"status", "Status"}, {"heartbeat", "Last heartbeat"},
	{"version", "Agent"}, {"firmware", "Firmware"}, {"boot", "Last boot"}, {"offset", "Clock offset"}, {"alerts", "Open alerts"}}

var statusRank = map[string]int{statusSilent: 0, statusLate: 1, statusHealthy: 2}

func sortDevices(rows []deviceRow, by string) {
	desc := strings.HasPrefix(by, "-")
	key := strings.TrimPrefix(by, "-")
	cmpf := func(a, b deviceRow) int {
		switch key {
		case "status":
			return cmp.Compare(statusRank[a.Status], statusRank[b.Status])
		case "heartbeat":
			return a.Heartbeat.Compare(b.Heartbeat)
		case "version":
			return strings.Compare(a.AgentVersion, b.AgentVersion)
		case "firmware":
			return strings.Compare(a.Firmware, b.Firmware)
		case "boot":
			return a.LastBoot.Compare(b.LastBoot)
		case "alerts":
			return cmp.Compare(a.OpenAlerts, b.OpenAlerts)
		case "labels":
			return strings.Compare(labelText(a.Labels), labelText(b.Labels))
		}
		return strings.Compare(a.Name, b.Name)
	}
	slices.SortStableFunc(rows, func(a, b deviceRow) int {
		c := cmpf(a, b)
		if desc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.Name, b.Name))
	})
}

func labelText(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

func (h *handler) fleet(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), h.cfg.Now()
	want, raw, err := labelFilter(r)
	if err != nil {
		Fail(w, r, http.StatusBadRequest, "label: "+err.Error())
		return
	}
	ds, err := h.cfg.Store.Devices(ctx)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	open, err := h.openAlerts(ctx, now)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	data := fleetData{Total: len(ds), Filter: raw, Sort: r.URL.Query().Get("sort"), Columns: fleetColumns}
	seen := map[string]bool{}
	for _, d := range ds {
		row, err := h.readDevice(ctx, d, now, open)
		if err != nil {
			h.readFailed(w, r, err)
			return
		}
		for k, v := range row.Labels {
			seen[k+"="+v] = true
		}
		if matchLabels(row.Labels, want) {
			data.Devices = append(data.Devices, row)
		}
	}
	if data.Forward, err = h.forwardLines(ctx, now); err != nil {
		h.readFailed(w, r, err)
		return
	}
	data.Labels = slices.Sorted(maps.Keys(seen))
	sort.Strings(data.Filter)
	data.FilterStr = strings.Join(data.Filter, ",")
	sortDevices(data.Devices, data.Sort)
	h.page(w, r, "fleet", "Fleet", data)
}

func (h *handler) readFailed(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.Error("dashboard: read failed", "path", r.URL.Path, "err", err)
	Fail(w, r, http.StatusInternalServerError, "reading the store failed")
}
