package sqlrow

import (
	"encoding/json"
	"fmt"

	"github.com/offbox/offbox/ingest/store"
)

// AlertRow is an alert's column values that are not its fields as they
// are: Fields and Labels as JSON text, Evidence as appendRefs writes it, First, Last,
// FirstReceived and LastReceived in Unix nanoseconds (the received ones 0
// when not set: the store puts its clock there).
type AlertRow struct {
	Alert                    *store.Alert
	Fields, Labels, Evidence string
	First, Last              int64
	FirstRecv, LastRecv      int64
}

// Received is r's first_recv_ns and last_recv_ns, now where the alert
// has none.
func (r *AlertRow) Received(now int64) (first, last int64) {
	first, last = r.FirstRecv, r.LastRecv
	if last == 0 {
		last = now
	}
	if first == 0 || first > last {
		first = last
	}
	return first, last
}

// encodeAlert is a's column values. Nil maps and evidence encode as
// "{}" and "[]", never "null", so label queries and decoding see one
// form.
func encodeAlert(a *store.Alert) (AlertRow, error) {
	r := AlertRow{Alert: a, First: UnixNs(a.First), Last: UnixNs(a.Last),
		FirstRecv: UnixNs(a.FirstReceived), LastRecv: UnixNs(a.LastReceived)}
	// One buffer holds the three columns; the strings are cut from it.
	buf := make([]byte, 0, 256+48*len(a.Evidence))
	buf = appendStringMap(buf, a.Fields)
	n1 := len(buf)
	buf = appendStringMap(buf, a.Labels)
	n2 := len(buf)
	buf = appendRefs(buf, a.Device, a.Evidence)
	all := string(buf)
	r.Fields, r.Labels, r.Evidence = all[:n1], all[n1:n2], all[n2:]
	return r, nil
}

// EncodeLabels is an enrollment token's labels column, as encodeAlert
// writes an alert's.
func EncodeLabels(m map[string]string) (string, error) {
	b, err := json.Marshal(stringMap(m))
	return string(b), err
}

// stringMap makes a nil map an empty one, which encodes as "{}".
func stringMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ScanAlert scans pre and then an alert's columns into a: id, group_id,
// kind, severity, device, key, summary, fields, labels, evidence,
// first_ns, last_ns, count, created_ns, updated_ns, first_recv_ns,
// last_recv_ns, state, assignee.
func ScanAlert(r Scanner, a *store.Alert, pre ...any) error {
	var fields, labels, evidence string
	var first, last, created, updated, firstRecv, lastRecv int64
	dest := append(pre, &a.ID, &a.GroupID, &a.Kind, &a.Severity, &a.Device, &a.Key, &a.Summary, &fields, &labels, &evidence,
		&first, &last, &a.Count, &created, &updated, &firstRecv, &lastRecv, &a.State, &a.Assignee)
	if err := r.Scan(dest...); err != nil {
		return fmt.Errorf("store: alert: %w", err)
	}
	a.First, a.Last, a.Created, a.Updated = TimeNs(first), TimeNs(last), TimeNs(created), TimeNs(updated)
	a.FirstReceived, a.LastReceived = TimeNs(firstRecv), TimeNs(lastRecv)
	for _, v := range []struct {
		name, src string
		dst       any
	}{{"fields", fields, &a.Fields}, {"labels", labels, &a.Labels}} {
		if err := json.Unmarshal([]byte(v.src), v.dst); err != nil {
			return fmt.Errorf("store: alert %d %s: %w", a.ID, v.name, err)
		}
	}
	refs, err := decodeRefs(a.Device, evidence)
	if err != nil {
		return fmt.Errorf("store: alert %d evidence: %w", a.ID, err)
	}
	a.Evidence = refs
	return nil
}

// severities lists, for each severity, it and those above it.
var severities = map[string][]string{
	store.SeverityInfo:     {store.SeverityInfo, store.SeverityWarning, store.SeverityCritical},
	store.SeverityWarning:  {store.SeverityWarning, store.SeverityCritical},
	store.SeverityCritical: {store.SeverityCritical},
}

// SeverityAtLeast lists the severities an alert query for sev matches
// (sev and those above it); ok is false for an unknown severity. The
// slice is shared: don't change it.
func SeverityAtLeast(sev string) (sevs []string, ok bool) {
	sevs, ok = severities[sev]
	return sevs, ok
}

// EncodeSave encodes the alerts of a SaveAlerts call before it is
// queued, so a bad alert fails the call and not the group it would have
// joined; size is the bytes the save writes, so a large save counts
// against the engine's group limit.
func EncodeSave(save *store.AlertSave) (rows []AlertRow, size int, err error) {
	rows = make([]AlertRow, len(save.Alerts))
	for _, state := range save.States {
		size += len(state)
	}
	for i := range save.Alerts {
		if save.Alerts[i].Alert.GroupID == "" {
			return nil, 0, fmt.Errorf("store: alert %d of %d has no group id", i+1, len(save.Alerts))
		}
		if rows[i], err = encodeAlert(&save.Alerts[i].Alert); err != nil {
			return nil, 0, err
		}
		size += len(rows[i].Fields) + len(rows[i].Labels) + len(rows[i].Evidence)
	}
	return rows, size, nil
}
