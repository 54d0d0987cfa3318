package web

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/store"
)

// maxEvidenceShown is how many records behind one alert are looked up and
// named; the rest are counted.
const maxEvidenceShown = 3

// evidenceLink is one record behind an alert, named for a person by its
// source and device time ("file:/var/log/auth.log 18:59:30Z") instead of
// device/seq/index.
type evidenceLink struct {
	Href, Text, Title string
}

// alertRow is an alert as the pages list it.
type alertRow struct {
	store.Alert
	Links []evidenceLink
	More  int // evidence not named (beyond maxEvidenceShown)
}

// alertRows names the evidence of as. A record is read once per request
// however many alerts cite it.
func (h *handler) alertRows(ctx context.Context, as []store.Alert) ([]alertRow, error) {
	type key struct {
		dev   string
		seq   uint64
		index int
	}
	seen := map[key]evidenceLink{}
	rows := make([]alertRow, len(as))
	for i, a := range as {
		rows[i].Alert = a
		for j, ref := range a.Evidence {
			if j == maxEvidenceShown {
				rows[i].More = len(a.Evidence) - j
				break
			}
			k := key{ref.Device, ref.Seq, ref.Index}
			l, ok := seen[k]
			if !ok {
				var err error
				if l, err = h.evidenceLink(ctx, ref, a.Device); err != nil {
					return nil, err
				}
				seen[k] = l
			}
			rows[i].Links = append(rows[i].Links, l)
		}
	}
	return rows, nil
}

func (h *handler) evidenceLink(ctx context.Context, ref store.AlertRef, alertDevice string) (evidenceLink, error) {
	id := fmt.Sprintf("%s/%d/%d", ref.Device, ref.Seq, ref.Index)
	prefix := ""
	if ref.Device != alertDevice {
		prefix = ref.Device + " " // evidence from another device says so
	}
	if ref.Index < 0 {
		return evidenceLink{Href: "/devices/" + url.PathEscape(ref.Device), Text: fmt.Sprintf("%sbatch %d", prefix, ref.Seq),
			Title: "the batch as a whole"}, nil
	}
	href := fmt.Sprintf("/records/%s/%d/%d", url.PathEscape(ref.Device), ref.Seq, ref.Index)
	rec, ok, err := h.cfg.Store.Record(ctx, ref.Device, ref.Seq, ref.Index)
	if err != nil {
		return evidenceLink{}, err
	}
	if !ok {
		return evidenceLink{Href: href, Text: prefix + "record not stored", Title: id}, nil
	}
	t := time.Unix(0, rec.GetTimeNs()).UTC()
	text := fmt.Sprintf("%s%s %s", prefix, export.Escape(rec.GetSource()), t.Format("2006-01-02 15:04:05Z"))
	if f := rec.GetFile(); f != nil {
		// Lines of one burst share a second; the offset tells them apart.
		text += fmt.Sprintf(" (byte %d)", f.GetStart())
	}
	return evidenceLink{Href: href, Text: text,
		Title: fmt.Sprintf("%s record, device time %s, received %s (%s)", export.KindName(rec.GetKind()), t.Format(time.RFC3339Nano),
			rec.Received.UTC().Format(time.RFC3339), id)}, nil
}
