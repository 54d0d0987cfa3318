package api

import (
	"context"
	"time"

	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/store"
)

// AlertView is the one JSON form of an alert: an element of
// /api/v1/alerts and a line of `offbox-ingest alerts -json`. Times are
// export.TimeFormat (RFC 3339 in UTC, nine digits of nanoseconds; "" for
// a zero time); maps and lists are never null.
type AlertView struct {
	ID       int64             `json:"id"`
	GroupID  string            `json:"group_id"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Device   string            `json:"device"` // "" for alerts about the collector itself
	Key      string            `json:"key"`
	Summary  string            `json:"summary"`
	Fields   map[string]string `json:"fields"`
	Labels   map[string]string `json:"labels"`
	First    string            `json:"first"` // device time of the first occurrence
	Last     string            `json:"last"`  // and of the latest
	Count    int               `json:"count"`
	Created  string            `json:"created"` // collector clock
	Updated  string            `json:"updated"`
	Evidence []EvidenceView    `json:"evidence"`

	// Collector clock: when the first and the latest occurrence arrived.
	// Lists are ordered, and since/until applied, by LastReceived: a
	// device's clock is its own and may say anything.
	FirstReceived string `json:"first_received"`
	LastReceived  string `json:"last_received"`

	// Triage: open, acknowledged or resolved, and who it is assigned to
	// ("" nobody). History, every transition oldest first, only where
	// one alert is asked for (GET /api/v1/alerts/{id}).
	State    string           `json:"state"`
	Assignee string           `json:"assignee"`
	History  []TransitionView `json:"history,omitempty"`
}

// EvidenceView is one record behind an alert. Record is filled only when
// evidence is asked for (LoadEvidence), in the form of `records -json`;
// Missing says the record is not stored (Index -1, the batch as a whole,
// has no record).
type EvidenceView struct {
	store.AlertRef
	Record  *export.JSONRecord `json:"record,omitempty"`
	Missing bool               `json:"missing,omitempty"`
}

// AlertJSON converts a stored alert.
func AlertJSON(a store.Alert) AlertView {
	v := AlertView{ID: a.ID, GroupID: a.GroupID, Kind: a.Kind, Severity: a.Severity, Device: a.Device, Key: a.Key,
		Summary: a.Summary, Fields: a.Fields, Labels: a.Labels, First: formatTime(a.First), Last: formatTime(a.Last),
		Count: a.Count, Created: formatTime(a.Created), Updated: formatTime(a.Updated),
		Evidence:      make([]EvidenceView, len(a.Evidence)),
		FirstReceived: formatTime(a.FirstReceived), LastReceived: formatTime(a.LastReceived),
		State: a.State, Assignee: a.Assignee}
	if v.Fields == nil {
		v.Fields = map[string]string{}
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	for i, ref := range a.Evidence {
		v.Evidence[i] = EvidenceView{AlertRef: ref}
	}
	return v
}

// LoadEvidence fills each evidence ref of v with its stored record.
func LoadEvidence(ctx context.Context, st store.AlertStore, v *AlertView) error {
	for i := range v.Evidence {
		e := &v.Evidence[i]
		if e.Index < 0 {
			continue
		}
		rec, ok, err := st.Record(ctx, e.Device, e.Seq, e.Index)
		if err != nil {
			return err
		}
		if !ok {
			e.Missing = true
			continue
		}
		e.Record = export.ToJSON(&rec)
	}
	return nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(export.TimeFormat)
}
