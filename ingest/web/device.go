package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// bootRow is one boot of a device, compared with the one before.
type bootRow struct {
	Time       time.Time
	BootID     string
	Firmware   string
	Kernel     string
	Model      string
	Changed    bool // firmware differs from the previous boot
	Downgrade  bool // and is older
	Seq        uint64
	Index      int
	DeviceName string
}

// changeRow is a config, password or account change.
type changeRow struct {
	Time    time.Time
	Kind    string
	Detail  string
	Diff    []diffLine // the config diff the agent recorded (watch diff_paths); none: only hashes
	DiffCut bool       // the agent cut it at max_diff_bytes
	Seq     uint64
	Index   int
}

// diffLine is one line of a config diff, with its class for colour: add,
// del, hunk, meta or "" (context, or a line quoted for holding control
// characters).
type diffLine struct {
	Class, Text string
}

func diffLines(lines []string) []diffLine {
	out := make([]diffLine, len(lines))
	for i, l := range lines {
		c := ""
		switch {
		case strings.HasPrefix(l, "+++ "), strings.HasPrefix(l, "--- "), strings.HasPrefix(l, `\ `):
			c = "meta"
		case strings.HasPrefix(l, "@@"):
			c = "hunk"
		case strings.HasPrefix(l, "+"):
			c = "add"
		case strings.HasPrefix(l, "-"):
			c = "del"
		}
		out[i] = diffLine{c, l}
	}
	return out
}

// severityCount is how many of a device's open alerts have one severity.
type severityCount struct {
	Severity string
	Alerts   int
}

// severities from the most to the least urgent.
var severities = []string{store.SeverityCritical, store.SeverityWarning, store.SeverityInfo}

// logRow is one log line.
type logRow struct {
	Time   time.Time
	Source string
	Line   string
}

// deviceData is the device page.
type deviceData struct {
	Device  deviceRow
	Known   bool
	Boots   []bootRow // newest first
	Changes []changeRow
	Open    []alertRow      // the device's open alerts, most severe first, then newest
	BySev   []severityCount // their counts per severity, most severe first, nonzero only
	Chart   template.HTML
	Servers []string
	Logs    []logRow // newest last
	Search  string
	Windows map[string]string
}

func (h *handler) device(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), h.cfg.Now()
	name := r.PathValue("id")
	ds, err := h.cfg.Store.Devices(ctx)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	i := slices.IndexFunc(ds, func(d store.Device) bool { return d.Name == name })
	if i < 0 {
		Fail(w, r, http.StatusNotFound, "no device "+strconv.Quote(name))
		return
	}
	open, err := h.openAlerts(ctx, now)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	d := deviceData{Known: true, Search: r.URL.Query().Get("q"), Windows: map[string]string{
		"boot": days(bootWindow), "change": days(changeWindow), "clock": hours(clockWindow), "log": hours(logWindow)}}
	if d.Device, err = h.readDevice(ctx, ds[i], now, open); err != nil {
		h.readFailed(w, r, err)
		return
	}
	for _, step := range []func(context.Context, *deviceData, string, time.Time) error{h.deviceAlerts, h.boots, h.changes, h.clock, h.logs} {
		if err := step(ctx, &d, name, now); err != nil {
			h.readFailed(w, r, err)
			return
		}
	}
	h.page(w, r, "device", name, d)
}

func days(d time.Duration) string  { return fmt.Sprintf("%d days", int(d/(24*time.Hour))) }
func hours(d time.Duration) string { return fmt.Sprintf("%d h", int(d/time.Hour)) }

func (h *handler) boots(ctx context.Context, d *deviceData, name string, now time.Time) error {
	var rows []bootRow
	for rec, err := range h.cfg.Store.Records(ctx, store.RecordQuery{Device: name, Kind: offboxv1.Kind_KIND_BOOT, Since: now.Add(-bootWindow)}) {
		if err != nil {
			return err
		}
		a := attrs(&rec)
		b := bootRow{Time: bootTime(&rec, a), BootID: a["boot_id"], Firmware: a["firmware_version"], Kernel: a["kernel_release"],
			Model: a["model"], Seq: rec.Seq, Index: rec.Index, DeviceName: name}
		if n := len(rows); n > 0 && rows[n-1].Firmware != "" && b.Firmware != "" && b.Firmware != rows[n-1].Firmware {
			b.Changed = true
			b.Downgrade = detect.CompareVersions(b.Firmware, rows[n-1].Firmware) < 0
		}
		rows = append(rows, b)
	}
	if len(rows) > maxRows {
		rows = rows[len(rows)-maxRows:]
	}
	slices.Reverse(rows)
	d.Boots = rows
	return nil
}

func (h *handler) changes(ctx context.Context, d *deviceData, name string, now time.Time) error {
	var rows []changeRow
	for _, kind := range []offboxv1.Kind{offboxv1.Kind_KIND_CONFIG_CHANGE, offboxv1.Kind_KIND_PASSWORD_CHANGE, offboxv1.Kind_KIND_ACCOUNT_CHANGE} {
		for rec, err := range h.cfg.Store.Records(ctx, store.RecordQuery{Device: name, Kind: kind, Since: now.Add(-changeWindow)}) {
			if err != nil {
				return err
			}
			a := attrs(&rec)
			var detail string
			var diff []string
			var cut bool
			switch kind {
			case offboxv1.Kind_KIND_CONFIG_CHANGE:
				detail = fmt.Sprintf("%s: %s → %s", a["path"], short(a["old_sha256"]), short(a["new_sha256"]))
				diff, cut = export.ConfigDiff(rec.GetBody())
			case offboxv1.Kind_KIND_PASSWORD_CHANGE:
				detail = "password of " + a["user"] + " changed"
			default:
				detail = fmt.Sprintf("account %s %s", a["user"], a["action"])
				if a["uid0"] == "true" {
					detail += " (uid 0)"
				}
			}
			rows = append(rows, changeRow{Time: time.Unix(0, rec.GetTimeNs()), Kind: export.KindName(kind), Detail: detail,
				Diff: diffLines(diff), DiffCut: cut, Seq: rec.Seq, Index: rec.Index})
		}
	}
	slices.SortStableFunc(rows, func(a, b changeRow) int { return b.Time.Compare(a.Time) })
	if len(rows) > maxRows {
		rows = rows[:maxRows]
	}
	d.Changes = rows
	return nil
}

// deviceAlerts lists the device's open alerts (received within
// openWindow), most severe first, and counts them per severity.
func (h *handler) deviceAlerts(ctx context.Context, d *deviceData, name string, now time.Time) error {
	as, err := h.cfg.Store.Alerts(ctx, store.AlertQuery{Device: name, Since: now.Add(-openWindow), Limit: maxOpenAlerts})
	if err != nil {
		return err
	}
	rank := func(s string) int {
		if i := slices.Index(severities, s); i >= 0 {
			return i
		}
		return len(severities) // a severity this version does not know, last
	}
	slices.SortStableFunc(as, func(a, b store.Alert) int {
		return cmp.Or(cmp.Compare(rank(a.Severity), rank(b.Severity)), b.LastReceived.Compare(a.LastReceived))
	})
	counts := map[string]int{}
	for _, a := range as {
		counts[a.Severity]++
	}
	for _, s := range append(slices.Clone(severities), otherSeverities(counts)...) {
		if counts[s] > 0 {
			d.BySev = append(d.BySev, severityCount{s, counts[s]})
		}
	}
	if len(as) > maxAlerts {
		as = as[:maxAlerts]
	}
	d.Open, err = h.alertRows(ctx, as)
	return err
}

// otherSeverities are the severities in counts that are not in severities,
// sorted.
func otherSeverities(counts map[string]int) []string {
	var out []string
	for s := range counts {
		if !slices.Contains(severities, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	if hash == "" {
		return "none"
	}
	return hash
}

func (h *handler) logs(ctx context.Context, d *deviceData, name string, now time.Time) error {
	needle := strings.ToLower(d.Search)
	ring := make([]logRow, 0, maxLogLines)
	for rec, err := range h.cfg.Store.Records(ctx, store.RecordQuery{Device: name, Kind: offboxv1.Kind_KIND_LOG, Since: now.Add(-logWindow)}) {
		if err != nil {
			return err
		}
		line := strings.ToValidUTF8(string(rec.GetBody()), "\uFFFD")
		if needle != "" && !strings.Contains(strings.ToLower(line), needle) {
			continue
		}
		if len(ring) == maxLogLines {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, logRow{Time: time.Unix(0, rec.GetTimeNs()), Source: rec.GetSource(), Line: line})
	}
	slices.Reverse(ring) // newest first
	d.Logs = ring
	return nil
}

// clockBody is what the chart reads of a clock record's body.
type clockBody struct {
	Servers []struct {
		Address  string `json:"address"`
		State    string `json:"state"`
		Samples  int    `json:"samples"`
		OffsetNS int64  `json:"offset_ns"`
	} `json:"servers"`
}

func (h *handler) clock(ctx context.Context, d *deviceData, name string, now time.Time) error {
	series := map[string][]point{}
	for rec, err := range h.cfg.Store.Records(ctx, store.RecordQuery{Device: name, Kind: offboxv1.Kind_KIND_CLOCK, Since: now.Add(-clockWindow)}) {
		if err != nil {
			return err
		}
		t := time.Unix(0, rec.GetTimeNs())
		if off, err := strconv.ParseInt(attrs(&rec)["offset_ns"], 10, 64); err == nil {
			series[combined] = append(series[combined], point{t, off})
		}
		var b clockBody
		if json.Unmarshal(rec.GetBody(), &b) != nil {
			continue
		}
		for _, s := range b.Servers {
			if s.Samples > 0 && s.State != "unreachable" && s.State != "pending" {
				series[s.Address] = append(series[s.Address], point{t, s.OffsetNS})
			}
		}
	}
	for k := range series {
		if k != combined {
			d.Servers = append(d.Servers, k)
		}
	}
	slices.Sort(d.Servers)
	// The x axis spans the records shown, so a device heard from only
	// lately is not squeezed into the right edge of the window.
	from := now.Add(-clockWindow)
	first := now
	for _, ps := range series {
		for _, p := range ps {
			if p.t.Before(first) {
				first = p.t
			}
		}
	}
	if first.After(from) {
		from = first
	}
	d.Chart = chart(series, from, now)
	return nil
}

// combined names the agent's combined offset among the chart's series.
const combined = "combined"

type point struct {
	t   time.Time
	off int64 // ns
}

// maxPoints per series drawn; more are thinned evenly.
const maxPoints = 400

var palette = []string{"#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7f8a", "#57606a"}

// chart draws the offsets over [from, to] as an inline SVG: one line per
// series, the combined offset first and thicker, with a legend. Every
// text in it is escaped.
func chart(series map[string][]point, from, to time.Time) template.HTML {
	const w, hgt, left, right, top, bottom = 860, 260, 70, 10, 10, 30
	if len(series) == 0 {
		return ""
	}
	lo, hi := int64(0), int64(0)
	for _, ps := range series {
		for _, p := range ps {
			lo, hi = min(lo, p.off), max(hi, p.off)
		}
	}
	if hi == lo {
		hi, lo = hi+int64(time.Millisecond), lo-int64(time.Millisecond)
	}
	pad := (hi - lo) / 10
	lo, hi = lo-pad, hi+pad
	span := max(to.Sub(from), time.Minute)
	from = to.Add(-span)
	x := func(t time.Time) float64 {
		return left + float64(w-left-right)*float64(t.Sub(from))/float64(span)
	}
	y := func(off int64) float64 { return top + float64(hgt-top-bottom)*float64(hi-off)/float64(hi-lo) }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="clock offset over time per NTP server" xmlns="http://www.w3.org/2000/svg">`, w, hgt+20*((len(series)+2)/3))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#d0d7de"/>`, left, top, w-left-right, hgt-top-bottom)
	for i := 0; i <= 4; i++ {
		off := lo + (hi-lo)*int64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eaeef2"/><text x="%d" y="%.1f" text-anchor="end" font-size="11">%s</text>`,
			left, w-right, y(off), y(off), left-4, y(off)+4, template.HTMLEscapeString(time.Duration(off).Round(time.Microsecond).String()))
	}
	if lo < 0 && hi > 0 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#8c959f" stroke-dasharray="4 3"/>`, left, w-right, y(0), y(0))
	}
	for i := 0; i <= 4; i++ {
		t := from.Add(span * time.Duration(i) / 4)
		anchor := map[int]string{0: "start", 4: "end"}[i]
		if anchor == "" {
			anchor = "middle"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s" font-size="11">%s</text>`, x(t), hgt-bottom+16, anchor, t.UTC().Format("01-02 15:04:05"))
	}
	names := make([]string, 0, len(series))
	for k := range series {
		if k != combined {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	if _, ok := series[combined]; ok {
		names = append([]string{combined}, names...)
	}
	for i, name := range names {
		ps := series[name]
		slices.SortFunc(ps, func(a, b point) int { return cmp.Compare(a.t.UnixNano(), b.t.UnixNano()) })
		step := max(1, (len(ps)+maxPoints-1)/maxPoints)
		var pts []string
		for j := 0; j < len(ps); j += step {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(ps[j].t), y(ps[j].off)))
		}
		color, width := palette[i%len(palette)], "1.5"
		if name == combined {
			width = "2.5"
		}
		fmt.Fprintf(&b, `<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="%s" points="%s"/>`,
			template.HTMLEscapeString(name), color, width, strings.Join(pts, " "))
		if len(ps) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" r="3" fill="%s"/>`, strings.Split(pts[0], ",")[0]+`" cy="`+strings.Split(pts[0], ",")[1], color)
		}
		lx, ly := left+(i%3)*260, hgt+6+20*(i/3)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="4" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`,
			lx, ly, color, lx+16, ly+6, template.HTMLEscapeString(name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built above from numbers and escaped names only
}

// recordData is the record page: one stored record, as records -json writes it.
type recordData struct {
	Device     string
	Seq, Index string
	JSON       string
}

func (h *handler) record(w http.ResponseWriter, r *http.Request) {
	dev := r.PathValue("device")
	seq, err1 := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	idx, err2 := strconv.Atoi(r.PathValue("index"))
	if err1 != nil || err2 != nil || idx < 0 {
		Fail(w, r, http.StatusBadRequest, "want /records/DEVICE/SEQ/INDEX with numbers")
		return
	}
	rec, ok, err := h.cfg.Store.Record(r.Context(), dev, seq, idx)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	if !ok {
		Fail(w, r, http.StatusNotFound, fmt.Sprintf("record %s/%d/%d is not stored", dev, seq, idx))
		return
	}
	b, _ := json.MarshalIndent(export.ToJSON(&rec), "", "  ")
	h.page(w, r, "record", "Record", recordData{Device: dev, Seq: r.PathValue("seq"), Index: r.PathValue("index"), JSON: string(b)})
}
