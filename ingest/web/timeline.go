package web

import (
	"bytes"
	"fmt"
	"html/template"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// maxTimelineBars bounds how many bars the alerts timeline has; the bar
// width is the smallest of bucketSizes that keeps within it.
const maxTimelineBars = 36

// bucketSizes are the widths a timeline bar may have: clock-aligned, so a
// bar of the 24 h view is one hour of the day (14:00 to 15:00 UTC).
var bucketSizes = []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// bucketSize is the width of a bar over span.
func bucketSize(span time.Duration) time.Duration {
	for _, s := range bucketSizes {
		if span <= s*maxTimelineBars {
			return s
		}
	}
	s := bucketSizes[len(bucketSizes)-1]
	for span > s*maxTimelineBars {
		s *= 2
	}
	return s
}

// timeline draws the alerts over [from, to] as an inline SVG bar chart:
// one clock-aligned bar per bucket (an hour for the 24 h view), counting
// the alerts with an occurrence received in it, critical ones stacked on
// top, with the hours labelled along the axis. An alert is drawn at its
// first and at its latest receipt, both real times, so one that has
// recurred all day shows where the day began it and not only at the right
// edge. Receive times are used, as for the list: the device's own clock
// may say anything. A zero from starts at the oldest alert.
func timeline(as []store.Alert, from, to time.Time) template.HTML {
	if len(as) == 0 {
		return ""
	}
	if from.IsZero() {
		from = as[0].LastReceived
		for _, a := range as {
			from = minTime(from, a.FirstReceived, a.LastReceived)
		}
	}
	size := bucketSize(max(to.Sub(from), time.Minute))
	start := from.UTC().Truncate(size)
	n := max(int((to.Sub(start)+size-1)/size), 1)
	all, crit := make([]int, n), make([]int, n)
	bucket := func(t time.Time) int {
		if t.IsZero() || t.Before(start) {
			return -1
		}
		return min(int(t.Sub(start)/size), n-1)
	}
	peak := 1
	for _, a := range as {
		// Selected by its receive time, so within the range; a zero from
		// cut nothing either.
		last := max(bucket(a.LastReceived), 0)
		at := []int{last}
		if first := bucket(a.FirstReceived); first >= 0 && first != last {
			at = append(at, first)
		}
		for _, i := range at {
			all[i]++
			if a.Severity == store.SeverityCritical {
				crit[i]++
			}
			peak = max(peak, all[i])
		}
	}
	const w, h, left, bottom = 860, 110, 30, 20
	bw := float64(w-left) / float64(n)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg class="chart timeline" viewBox="0 0 %d %d" role="img" aria-label="alerts per %s, %s to %s UTC" xmlns="http://www.w3.org/2000/svg">`,
		w, h, size, start.Format("2006-01-02 15:04"), to.UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<text x="%d" y="10" text-anchor="end" font-size="11">%d</text>`, left-4, peak)
	// Gridlines and labels on round times (every 4 h for the 24 h view:
	// 00:00, 04:00 ...), so the hours of the day show; the start and end
	// of the range are labelled too.
	step := size * time.Duration(max(1, (n+7)/8))
	for _, s := range []time.Duration{2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if step > time.Hour && step <= s {
			step = s
			break
		}
	}
	end := start.Add(time.Duration(n) * size)
	tick := func(t time.Time, anchor string) {
		x := float64(left) + float64(t.Sub(start))/float64(size)*bw
		label := t.Format("15:04")
		if size >= 24*time.Hour || anchor == "start" || t.Hour() == 0 && t.Minute() == 0 {
			label = t.Format("01-02 15:04")
		}
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="4" y2="%d" stroke="#eaeef2"/>`, x, x, h-bottom)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%d" text-anchor="%s" font-size="11">%s</text>`, x, h-5, anchor, label)
	}
	tick(start, "start")
	for t := start.Truncate(step).Add(step); t.Before(end); t = t.Add(step) {
		// Room for the label beside the start's, which is wider (it has the date).
		if float64(t.Sub(start))/float64(size)*bw >= 75 && float64(end.Sub(t))/float64(size)*bw >= 40 {
			tick(t, "middle")
		}
	}
	tick(end, "end")
	for i := range n {
		if all[i] == 0 {
			continue
		}
		t := start.Add(time.Duration(i) * size)
		x := float64(left) + float64(i)*bw
		hAll := float64(h-bottom-14) * float64(all[i]) / float64(peak)
		hCrit := float64(h-bottom-14) * float64(crit[i]) / float64(peak)
		fmt.Fprintf(&b, `<rect class="bar" data-count="%d" data-start="%s" data-critical="%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#9a6700"><title>%s–%s UTC: %d alerts, %d critical</title></rect>`,
			all[i], t.Format(time.RFC3339), crit[i], x+1, float64(h-bottom)-hAll, max(bw-2, 1), hAll,
			t.Format("01-02 15:04"), t.Add(size).Format("15:04"), all[i], crit[i])
		if crit[i] > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#cf222e"/>`, x+1, float64(h-bottom)-hAll, max(bw-2, 1), hCrit)
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#8c959f"/>`, left, w, h-bottom, h-bottom)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and times only
}

// minTime is the earliest of ts that is not zero.
func minTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if !t.IsZero() && (m.IsZero() || t.Before(m)) {
			m = t
		}
	}
	return m
}
