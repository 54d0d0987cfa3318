package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
)

// Origin is what a payload says about where an alert comes from, beyond the
// alert itself.
type Origin struct {
	Collector string // this collector's name (for example its host name); "" leaves it out
	// Escalation: this delivery is an escalation (store.Delivery.Escalation):
	// the alert is still open and unacknowledged past an alerting.escalate
	// rule's after.
	Escalation bool
}

// webhookAlert is the webhook body. Field names are a public contract:
// receivers parse them.
type webhookAlert struct {
	ID        int64             `json:"id"`
	GroupID   string            `json:"group_id"`
	Kind      string            `json:"kind"`
	Severity  string            `json:"severity"`
	Device    string            `json:"device"`
	Key       string            `json:"key"`
	Summary   string            `json:"summary"`
	Fields    map[string]string `json:"fields"`
	Labels    map[string]string `json:"labels"`
	First     string            `json:"first"`
	Last      string            `json:"last"`
	Count     int               `json:"count"`
	Evidence  []store.AlertRef  `json:"evidence"`
	Collector string            `json:"collector,omitempty"`
	// The collector's clock, beside First and Last (the device's, which
	// it may set to anything); absent when the alert has none.
	FirstReceived string `json:"first_received,omitempty"`
	LastReceived  string `json:"last_received,omitempty"`
	// Escalation is true on an escalation's delivery (Origin.Escalation).
	Escalation bool `json:"escalation,omitempty"`
}

// WebhookBody is the JSON object a webhook sink receives for a. Maps and
// lists are never null, and times are RFC 3339 in UTC with nanoseconds.
func WebhookBody(a store.Alert, o Origin) ([]byte, error) {
	return json.Marshal(webhookAlert{
		ID: a.ID, GroupID: a.GroupID, Kind: a.Kind, Severity: a.Severity, Device: a.Device, Key: a.Key,
		Summary: a.Summary, Fields: nonNil(a.Fields), Labels: nonNil(a.Labels),
		First: rfc3339(a.First), Last: rfc3339(a.Last), Count: a.Count,
		Evidence: nonNilRefs(a.Evidence), Collector: o.Collector,
		FirstReceived: rfc3339OrEmpty(a.FirstReceived), LastReceived: rfc3339OrEmpty(a.LastReceived),
		Escalation: o.Escalation,
	})
}

// maxSlackValue bounds each value in a Slack message, in bytes.
const maxSlackValue = 300

// SlackBody is a Slack incoming-webhook message for a: one line with the
// severity, kind, device, summary and count, then one line per field.
func SlackBody(a store.Alert, o Origin) ([]byte, error) {
	where := a.Device
	if where == "" {
		where = "the collector"
		if o.Collector != "" {
			where = "collector " + o.Collector
		}
	}
	var b strings.Builder
	if o.Escalation {
		b.WriteString("ESCALATION, still open and unacknowledged: ")
	}
	fmt.Fprintf(&b, "[%s] %s on %s: %s (count %d)", slackEscape(a.Severity), slackEscape(a.Kind),
		slackEscape(where), slackEscape(truncate(a.Summary, maxSlackValue)), a.Count)
	for _, k := range sortedKeys(a.Fields) {
		fmt.Fprintf(&b, "\n• %s: %s", slackEscape(k), slackEscape(truncate(a.Fields[k], maxSlackValue)))
	}
	return json.Marshal(struct {
		Text string `json:"text"`
	}{b.String()})
}

// slackEscape escapes the three characters Slack's message format
// reserves for links and mentions.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// amAlert is one postable alert of Alertmanager's API v2.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    string            `json:"startsAt,omitempty"`
}

// AlertmanagerBody is the body of POST /api/v2/alerts for a: an array of
// one alert. Its labels, which are its identity in Alertmanager, are
// alertname (the kind), severity, device and key (when set), offbox_group
// (the group id) and a's labels under sanitised names; ours win a clash.
// Its annotations are the summary, the collector and a's fields. It has no
// endsAt, so Alertmanager resolves it after its resolve_timeout unless it is
// sent again.
func AlertmanagerBody(a store.Alert, o Origin) ([]byte, error) {
	labels := map[string]string{
		"alertname":    a.Kind,
		"severity":     a.Severity,
		"offbox_group": a.GroupID,
	}
	if a.Device != "" {
		labels["device"] = a.Device
	}
	if a.Key != "" {
		labels["key"] = a.Key
	}
	if o.Escalation {
		// A label of its own: Alertmanager routes and notifies the
		// escalation apart from the alert it already has.
		labels["offbox_escalation"] = "true"
	}
	addSanitised(labels, a.Labels)
	for k, v := range labels {
		if v == "" {
			delete(labels, k) // Alertmanager treats an empty label as absent
		} else {
			labels[k] = strings.ToValidUTF8(v, "\uFFFD")
		}
	}
	ann := map[string]string{"summary": strings.ToValidUTF8(a.Summary, "\uFFFD")}
	if o.Collector != "" {
		ann["collector"] = strings.ToValidUTF8(o.Collector, "\uFFFD")
	}
	addSanitised(ann, a.Fields)
	for k, v := range ann {
		ann[k] = strings.ToValidUTF8(v, "\uFFFD")
	}
	am := amAlert{Labels: labels, Annotations: ann}
	// When the collector received it, not the device's time: Alertmanager
	// refuses an alert that starts after it ends (now + resolve_timeout),
	// and a device's clock may say 2076.
	switch {
	case !a.FirstReceived.IsZero():
		am.StartsAt = rfc3339(a.FirstReceived)
	case !a.First.IsZero():
		am.StartsAt = rfc3339(a.First)
	}
	return json.Marshal([]amAlert{am})
}

// addSanitised adds src to dst under label names Alertmanager accepts,
// keeping entries already in dst; when two names sanitise alike the first in
// sorted order wins, so the result does not depend on map order.
func addSanitised(dst, src map[string]string) {
	for _, k := range sortedKeys(src) {
		n := LabelName(k)
		if n == "" {
			continue
		}
		if _, taken := dst[n]; !taken {
			dst[n] = src[k]
		}
	}
}

// LabelName turns s into a valid Prometheus label name
// ([a-zA-Z_][a-zA-Z0-9_]*): every other character becomes '_' and a leading
// digit gets a '_' before it. "" stays "".
func LabelName(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if i == 0 && r >= '0' && r <= '9' {
			b.WriteByte('_')
		}
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilRefs(r []store.AlertRef) []store.AlertRef {
	if r == nil {
		return []store.AlertRef{}
	}
	return r
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// rfc3339OrEmpty is rfc3339(t), or "" for the zero time.
func rfc3339OrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return rfc3339(t)
}
