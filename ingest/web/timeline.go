package web

import (
	"bytes"
	"fmt"
	"html/template"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// timelineBuckets is how many bars the alerts timeline has.
const timelineBuckets = 48

// timeline draws the alerts' last occurrences (as received: the device's
// own clock may say anything) over [from, to] as an inline SVG bar chart,
// one bar per bucket, critical ones stacked on top. A zero from starts at
// the oldest alert.
func timeline(as []store.Alert, from, to time.Time) template.HTML {
	if len(as) == 0 {
		return ""
	}
	if from.IsZero() {
		from = as[len(as)-1].LastReceived // newest first
	}
	span := max(to.Sub(from), time.Minute)
	var all, crit [timelineBuckets]int
	peak := 1
	for _, a := range as {
		i := int(float64(a.LastReceived.Sub(from)) / float64(span) * timelineBuckets)
		i = min(max(i, 0), timelineBuckets-1)
		all[i]++
		if a.Severity == store.SeverityCritical {
			crit[i]++
		}
		peak = max(peak, all[i])
	}
	const w, h, left, bottom = 860, 90, 30, 18
	bw := float64(w-left) / timelineBuckets
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg class="chart timeline" viewBox="0 0 %d %d" role="img" aria-label="alerts over time" xmlns="http://www.w3.org/2000/svg">`, w, h)
	fmt.Fprintf(&b, `<text x="%d" y="10" text-anchor="end" font-size="11">%d</text>`, left-4, peak)
	for i := range timelineBuckets {
		if all[i] == 0 {
			continue
		}
		x := float64(left) + float64(i)*bw
		hAll := float64(h-bottom-4) * float64(all[i]) / float64(peak)
		hCrit := float64(h-bottom-4) * float64(crit[i]) / float64(peak)
		fmt.Fprintf(&b, `<rect class="bar" data-count="%d" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#9a6700"><title>%d</title></rect>`,
			all[i], x+1, float64(h-bottom)-hAll, bw-2, hAll, all[i])
		if crit[i] > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#cf222e"/>`, x+1, float64(h-bottom)-hAll, bw-2, hCrit)
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#8c959f"/>`, left, w, h-bottom, h-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">%s</text><text x="%d" y="%d" text-anchor="end" font-size="11">%s</text>`,
		left, h-4, from.UTC().Format("01-02 15:04"), w, h-4, to.UTC().Format("01-02 15:04"))
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // numbers and times only
}
