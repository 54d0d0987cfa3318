// Package authevents reads the security events in stored log lines: every log
// record that authlog.Parse recognises (a failed or accepted login, a sudo,
// an account or password change) becomes one Event carrying the parsed
// fields and where the line is stored. Events are derived on every query
// from the stored records, never stored themselves, so they always agree
// with the signed batches. These are a device's login and account events,
// not the collector's integrity events (store.Event, store.EventQuery). It
// only reads; it never writes to a store.
package authevents

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/detect/authlog"
	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Event is one security event read from one stored log line.
type Event struct {
	Kind       string // an authlog Kind: auth_failure, auth_success, ...
	User       string
	Source     string // the remote address the line names, "" if none
	Method     string
	Count      int // attempts the line reports (rsyslog's "message repeated N times")
	Program    string
	UID        string    // account_added: the new account's uid as logged
	Device     string    // the device that sent the line
	DeviceTime time.Time // the record's time on the device
	LineTime   time.Time // the time inside the line itself; zero if it has none
	Received   time.Time // collector clock, when the batch arrived
	Seq        uint64    // the batch the line is stored in
	Index      int       // and its index there
	Body       []byte    // the line as stored
}

// Query filters events; zero fields do not filter.
type Query struct {
	Device string
	Kind   string    // an authlog Kind; see CheckKind
	Since  time.Time // device time, inclusive
	Until  time.Time // device time, exclusive
	Limit  int       // most events yielded; 0: no limit
}

// kinds are the authlog kinds, in the order authlog lists them.
var kinds = []authlog.Kind{authlog.AuthFailure, authlog.AuthSuccess, authlog.PasswordChange,
	authlog.AccountAdded, authlog.AccountRemoved, authlog.AccountChanged}

// Kinds are the event kinds a Query may ask for.
func Kinds() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = string(k)
	}
	return out
}

// CheckKind reports whether s is an event kind ("" is: it does not filter).
func CheckKind(s string) error {
	if s == "" {
		return nil
	}
	for _, k := range kinds {
		if string(k) == s {
			return nil
		}
	}
	return fmt.Errorf("kind %q: want one of %s", s, strings.Join(Kinds(), ", "))
}

// Scan yields the events of q in store order (device, batch seq, record
// index). Only log records are parsed; each line is judged alone, with the
// record's time as the reference for year-less stamps. An unknown q.Kind
// is an error, yielded first.
func Scan(ctx context.Context, r store.Reader, q Query) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		if err := CheckKind(q.Kind); err != nil {
			yield(Event{}, err)
			return
		}
		n := 0
		rq := store.RecordQuery{Device: q.Device, Kind: offboxv1.Kind_KIND_LOG, Since: q.Since, Until: q.Until}
		for rec, err := range r.Records(ctx, rq) {
			if err != nil {
				yield(Event{}, err)
				return
			}
			ev, ok := FromRecord(&rec)
			if !ok || (q.Kind != "" && ev.Kind != q.Kind) {
				continue
			}
			if !yield(ev, nil) {
				return
			}
			if n++; q.Limit > 0 && n >= q.Limit {
				return
			}
		}
	}
}

// FromRecord parses one stored log record; ok is false if the line is not
// a security event.
func FromRecord(rec *store.Record) (Event, bool) {
	var at time.Time
	if ns := rec.GetTimeNs(); ns != 0 {
		at = time.Unix(0, ns).UTC()
	}
	ref := at
	if ref.IsZero() { // as detection does: a record without a device time is judged by arrival
		ref = rec.Received
	}
	p, ok := authlog.Parse(rec.GetBody(), ref)
	if !ok {
		return Event{}, false
	}
	return Event{Kind: string(p.Kind), User: p.User, Source: p.Source, Method: p.Method, Count: p.Count,
		Program: p.Program, UID: p.UID, Device: rec.Device, DeviceTime: at, LineTime: p.Time,
		Received: rec.Received, Seq: rec.Seq, Index: rec.Index, Body: rec.GetBody()}, true
}

// JSON is one event as `events -json` and the query API write it.
type JSON struct {
	Kind          string  `json:"kind"`
	User          string  `json:"user"`
	SourceAddress string  `json:"source_address"`
	Method        string  `json:"method"`
	Count         int     `json:"count"`
	Program       string  `json:"program"`
	UID           string  `json:"uid"`
	Device        string  `json:"device"`
	DeviceTime    string  `json:"device_time"`
	LineTime      string  `json:"line_time"` // "" when the line has no time of its own
	ReceivedTime  string  `json:"received_time"`
	Seq           uint64  `json:"seq"`
	Index         int     `json:"index"`
	Body          *string `json:"body,omitempty"`
	BodyBase64    string  `json:"body_base64,omitempty"`
	BodyEncoding  string  `json:"body_encoding,omitempty"`
}

// ToJSON converts an event. Times are export.TimeFormat (RFC 3339 in UTC,
// nine digits of nanoseconds) and the body is encoded exactly as `records
// -json` encodes it: text when valid UTF-8, else base64.
func ToJSON(e *Event) *JSON {
	j := &JSON{Kind: e.Kind, User: e.User, SourceAddress: e.Source, Method: e.Method, Count: e.Count,
		Program: e.Program, UID: e.UID, Device: e.Device, DeviceTime: formatTime(e.DeviceTime),
		LineTime: formatTime(e.LineTime), ReceivedTime: formatTime(e.Received), Seq: e.Seq, Index: e.Index}
	// One definition of the body encoding: export's.
	r := export.ToJSON(&store.Record{Record: &offboxv1.Record{Body: e.Body}})
	j.Body, j.BodyBase64, j.BodyEncoding = r.Body, r.BodyBase64, r.BodyEncoding
	return j
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(export.TimeFormat)
}

// Text is the readable one-line form: device time, device, kind, then the
// fields the line named, as key=value; a value with spaces or quotes is
// quoted, so one event stays one line.
func Text(e *Event) string {
	var b strings.Builder
	b.WriteString(formatTime(e.DeviceTime))
	b.WriteString(" ")
	b.WriteString(e.Device)
	b.WriteString(" ")
	b.WriteString(e.Kind)
	for _, kv := range [][2]string{{"user", e.User}, {"source", e.Source}, {"method", e.Method},
		{"count", strconv.Itoa(e.Count)}, {"program", e.Program}, {"uid", e.UID}} {
		if kv[1] == "" {
			continue
		}
		b.WriteString(" " + kv[0] + "=")
		b.WriteString(quoteIfNeeded(kv[1]))
	}
	return b.String()
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \t\"=") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}

// Write writes the events of q to w, one a line, as text or JSON, and
// returns how many.
func Write(ctx context.Context, r store.Reader, q Query, f export.Format, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for ev, err := range Scan(ctx, r, q) {
		if err != nil {
			bw.Flush()
			return n, err
		}
		if f == export.FormatJSON {
			err = enc.Encode(ToJSON(&ev))
		} else {
			_, err = fmt.Fprintln(bw, Text(&ev))
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}
