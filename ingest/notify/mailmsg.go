package notify

// The email message: one alert or a digest of several, as a MIME
// multipart/alternative with a plain-text and an HTML part. Every alert
// value is log content, hostile: it is cut to a bounded size, control and
// bidi characters become visible escapes, the HTML part escapes it through
// html/template, and the subject is RFC 2047-encoded and folded, so no value
// can add a header line, a MIME part or markup.

import (
	"bytes"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
)

// Bounds of one message, so that no alert makes a message a mail server
// refuses or a reader cannot open.
const (
	maxDigest       = 50      // alerts in one message; more go out in the next one
	maxMailSummary  = 1000    // bytes of a summary
	maxMailValue    = 200     // bytes of a field or label value, a device or a kind
	maxMailKey      = 64      // bytes of a field or label name
	maxMailFields   = 20      // fields, and labels, shown per alert; the rest are counted
	maxMailEvidence = 10      // evidence references shown per alert
	maxSubject      = 160     // bytes of the subject before encoding
	maxMessageBytes = 4 << 20 // far below what mail servers take (Postfix: 10 MB)
)

// mailHeader is what a message says besides its alerts.
type mailHeader struct {
	From      *mail.Address
	To        []*mail.Address
	Date      time.Time
	MessageID string // without the angle brackets
	Boundary  string // "": a random one
}

// mailAlert is one alert's values as the message shows them: cut and made
// printable, the same in both parts.
type mailAlert struct {
	ID                  int64
	Severity, Kind      string
	Where               string
	Summary             string
	Count               int
	First, Last         string // device times
	Received            string // collector times, first to last; "" if none
	Group               string
	Fields, Labels      []mailPair
	MoreFields          int // fields not shown
	MoreLabels          int
	Evidence            []string
	MoreEvidence        int
	Escalation          bool   // delivered again because nobody acknowledged it (alerting.escalate)
	SeverityColor       string // fixed, from the severity: never log content
	SeverityIsImportant bool
}

type mailPair struct{ K, V string }

// printable makes s safe to show on one line of a message: invalid UTF-8
// becomes U+FFFD, control characters (line breaks too), bidi overrides and
// other invisible format characters become \u escapes, and the result is
// cut to at most n bytes, then marked with "…".
func printable(s string, n int) string {
	cut := cutAt(s, n)
	var b strings.Builder
	for _, r := range s[:cut] {
		switch {
		case r == utf8.RuneError:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) ||
			r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	out := b.String()
	if len(out) > n {
		c := cutAt(out, n)
		if i := strings.LastIndexByte(out[:c], '\\'); i >= 0 && i+6 > c { // no half escape
			c = i
		}
		out, cut = out[:c], 0
	}
	if cut < len(s) {
		out += "…"
	}
	return out
}

// cutAt is the largest rune boundary of s at or below n bytes.
func cutAt(s string, n int) int {
	if len(s) <= n {
		return len(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

func mailAlertOf(a store.Alert, o Origin) mailAlert {
	where := a.Device
	if where == "" {
		where = "the collector"
		if o.Collector != "" {
			where = "collector " + o.Collector
		}
	}
	m := mailAlert{
		ID: a.ID, Severity: printable(a.Severity, maxMailValue), Kind: printable(a.Kind, maxMailValue),
		Where: printable(where, maxMailValue), Summary: printable(a.Summary, maxMailSummary), Count: a.Count,
		First: mailTime(a.First), Last: mailTime(a.Last), Group: printable(a.GroupID, maxMailValue),
	}
	if !a.FirstReceived.IsZero() {
		m.Received = mailTime(a.FirstReceived) + " to " + mailTime(a.LastReceived)
	}
	m.Fields, m.MoreFields = mailPairs(a.Fields)
	m.Labels, m.MoreLabels = mailPairs(a.Labels)
	for i, r := range a.Evidence {
		if i == maxMailEvidence {
			m.MoreEvidence = len(a.Evidence) - i
			break
		}
		m.Evidence = append(m.Evidence, printable(fmt.Sprintf("%s/%d/%d", r.Device, r.Seq, r.Index), maxMailValue))
	}
	switch a.Severity {
	case store.SeverityCritical:
		m.SeverityColor, m.SeverityIsImportant = "#b00020", true
	case store.SeverityWarning:
		m.SeverityColor = "#a05a00"
	default:
		m.SeverityColor = "#333333"
	}
	return m
}

func mailPairs(m map[string]string) (out []mailPair, more int) {
	for i, k := range sortedKeys(m) {
		if i == maxMailFields {
			return out, len(m) - i
		}
		out = append(out, mailPair{printable(k, maxMailKey), printable(m[k], maxMailValue)})
	}
	return out, 0
}

func mailTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

// mailSubject is the subject of a message of alerts (at least one): the
// severity, kind and device of one, or "N alerts:" and the first few.
func mailSubject(as []mailAlert) string {
	one := func(a mailAlert) string {
		s := a.Severity + " " + a.Kind + " on " + a.Where
		if a.Escalation {
			s = "ESCALATION " + s
		}
		return s
	}
	var s string
	if len(as) == 1 {
		s = "[offbox] " + one(as[0])
	} else {
		parts := make([]string, 0, 3)
		for _, a := range as[:min(3, len(as))] {
			parts = append(parts, one(a))
		}
		s = fmt.Sprintf("[offbox] %d alerts: %s", len(as), strings.Join(parts, "; "))
		if len(as) > 3 {
			s += fmt.Sprintf("; and %d more", len(as)-3)
		}
	}
	return truncate(s, maxSubject)
}

// encodeHeaderText is s as the value of an unstructured header (RFC 2047
// Q-encoded when it is not plain printable ASCII, or when it holds "=?",
// which a reader would take for an encoded word) folded into lines of at
// most about 76 characters.
func encodeHeaderText(name, s string) string {
	enc := mime.QEncoding.Encode("utf-8", s)
	if enc == s && strings.Contains(s, "=?") {
		enc = mime.QEncoding.Encode("utf-8", s+"\u00a0") // forces the encoding; the trailing no-break space is invisible
	}
	return fold(name+": "+enc, " ")
}

// fold breaks a header line before a sep that follows at least 40
// characters, so no line is much longer than 76; a word longer than that
// stays whole (encoded words are at most 75).
func fold(line, sep string) string {
	var b strings.Builder
	col := 0
	words := strings.Split(line, sep)
	for i, w := range words {
		if i > 0 {
			if col+len(sep)+len(w) > 76 && col >= 40 {
				b.WriteString("\r\n")
				col = 0
			}
			b.WriteString(sep)
			col += len(sep)
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

// buildMessage is the RFC 5322 message of alerts (at least one, at most
// maxDigest) with CRLF line ends, ready for SMTP DATA.
func buildMessage(h mailHeader, alerts []store.Alert, o Origin) ([]byte, error) {
	return buildMarkedMessage(h, alerts, nil, o)
}

// buildMarkedMessage is buildMessage with escalation[i] marking alerts[i]
// as an escalation (nil: none is).
func buildMarkedMessage(h mailHeader, alerts []store.Alert, escalation []bool, o Origin) ([]byte, error) {
	if len(alerts) == 0 || len(alerts) > maxDigest {
		return nil, fmt.Errorf("email: %d alerts in one message, want 1 to %d", len(alerts), maxDigest)
	}
	view := make([]mailAlert, len(alerts))
	for i, a := range alerts {
		view[i] = mailAlertOf(a, o)
		view[i].Escalation = i < len(escalation) && escalation[i]
	}
	subject := mailSubject(view)

	var msg bytes.Buffer
	header := func(line string) { msg.WriteString(line + "\r\n") }
	header("From: " + h.From.String())
	to := make([]string, len(h.To))
	for i, a := range h.To {
		to[i] = a.String()
	}
	header(fold("To: "+strings.Join(to, ", "), " "))
	header(encodeHeaderText("Subject", subject))
	header("Date: " + h.Date.Format(time.RFC1123Z))
	header("Message-ID: <" + h.MessageID + ">")
	header("MIME-Version: 1.0")
	header("Auto-Submitted: auto-generated") // RFC 3834: no vacation replies
	header("X-Auto-Response-Suppress: All")

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if h.Boundary != "" {
		if err := mw.SetBoundary(h.Boundary); err != nil {
			return nil, err
		}
	}
	header("Content-Type: multipart/alternative; boundary=\"" + mw.Boundary() + "\"")
	msg.WriteString("\r\n")

	intro := fmt.Sprintf("%d alerts", len(view))
	if len(view) == 1 {
		intro = "1 alert"
	}
	if o.Collector != "" {
		intro += " from collector " + printable(o.Collector, maxMailValue)
	}
	intro += "."
	if err := writeQPPart(mw, "text/plain; charset=utf-8", []byte(plainBody(intro, view))); err != nil {
		return nil, err
	}
	var html bytes.Buffer
	if err := mailHTML.Execute(&html, struct {
		Subject, Intro string
		Alerts         []mailAlert
	}{subject, intro, view}); err != nil {
		return nil, err
	}
	if err := writeQPPart(mw, "text/html; charset=utf-8", html.Bytes()); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	msg.Write(body.Bytes())
	if msg.Len() > maxMessageBytes {
		return nil, fmt.Errorf("email: message of %d bytes, over %d", msg.Len(), maxMessageBytes)
	}
	return msg.Bytes(), nil
}

func writeQPPart(mw *multipart.Writer, contentType string, content []byte) error {
	w, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {contentType},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write(content); err != nil {
		return err
	}
	return qp.Close()
}

// plainBody is the text part: each alert as a block of "Name: value"
// lines.
func plainBody(intro string, as []mailAlert) string {
	var b strings.Builder
	b.WriteString(intro + "\n")
	for _, a := range as {
		if a.Escalation {
			b.WriteString("\nESCALATION: still open, nobody has acknowledged it")
		}
		fmt.Fprintf(&b, "\n[%s] %s on %s\n", a.Severity, a.Kind, a.Where)
		fmt.Fprintf(&b, "  Summary:  %s\n", a.Summary)
		fmt.Fprintf(&b, "  Count:    %d\n", a.Count)
		fmt.Fprintf(&b, "  First:    %s (device time)\n", a.First)
		fmt.Fprintf(&b, "  Last:     %s (device time)\n", a.Last)
		if a.Received != "" {
			fmt.Fprintf(&b, "  Received: %s\n", a.Received)
		}
		fmt.Fprintf(&b, "  Alert:    %d (group %s)\n", a.ID, a.Group)
		pairs := func(name string, ps []mailPair, more int) {
			if len(ps) == 0 {
				return
			}
			fmt.Fprintf(&b, "  %s:\n", name)
			for _, p := range ps {
				fmt.Fprintf(&b, "    %s: %s\n", p.K, p.V)
			}
			if more > 0 {
				fmt.Fprintf(&b, "    (%d more)\n", more)
			}
		}
		pairs("Fields", a.Fields, a.MoreFields)
		pairs("Labels", a.Labels, a.MoreLabels)
		if len(a.Evidence) > 0 {
			fmt.Fprintf(&b, "  Evidence: %s", strings.Join(a.Evidence, ", "))
			if a.MoreEvidence > 0 {
				fmt.Fprintf(&b, " (%d more)", a.MoreEvidence)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n-- \nSent by offbox-ingest. Evidence is device/seq/index of the stored lines;\n`offbox-ingest alerts -device D -json -evidence` shows them.\n")
	return b.String()
}

// mailHTML is the HTML part; html/template escapes every value for where
// it stands. Styles are inline (mail readers drop style sheets) and come
// from the severity, never from log content.
var mailHTML = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:sans-serif;font-size:14px;color:#222">
<p>{{.Intro}}</p>
{{range .Alerts}}<table style="border-collapse:collapse;margin:0 0 16px 0;min-width:60%">
<tr><th colspan="2" style="text-align:left;padding:4px 8px;border-bottom:2px solid {{.SeverityColor}};color:{{.SeverityColor}}">{{if .Escalation}}<strong>ESCALATION</strong> (still open, nobody has acknowledged it): {{end}}{{if .SeverityIsImportant}}<strong>{{.Severity}}</strong>{{else}}{{.Severity}}{{end}} {{.Kind}} on {{.Where}}</th></tr>
<tr><td style="padding:2px 8px;color:#666">Summary</td><td style="padding:2px 8px">{{.Summary}}</td></tr>
<tr><td style="padding:2px 8px;color:#666">Count</td><td style="padding:2px 8px">{{.Count}}</td></tr>
<tr><td style="padding:2px 8px;color:#666">First</td><td style="padding:2px 8px">{{.First}} (device time)</td></tr>
<tr><td style="padding:2px 8px;color:#666">Last</td><td style="padding:2px 8px">{{.Last}} (device time)</td></tr>
{{if .Received}}<tr><td style="padding:2px 8px;color:#666">Received</td><td style="padding:2px 8px">{{.Received}}</td></tr>
{{end}}<tr><td style="padding:2px 8px;color:#666">Alert</td><td style="padding:2px 8px">{{.ID}} (group {{.Group}})</td></tr>
{{range .Fields}}<tr><td style="padding:2px 8px;color:#666">{{.K}}</td><td style="padding:2px 8px">{{.V}}</td></tr>
{{end}}{{if .MoreFields}}<tr><td></td><td style="padding:2px 8px;color:#666">({{.MoreFields}} more fields)</td></tr>
{{end}}{{if .Labels}}<tr><td style="padding:2px 8px;color:#666">Labels</td><td style="padding:2px 8px">{{range $i, $l := .Labels}}{{if $i}}, {{end}}{{$l.K}}={{$l.V}}{{end}}{{if .MoreLabels}} ({{.MoreLabels}} more){{end}}</td></tr>
{{end}}{{if .Evidence}}<tr><td style="padding:2px 8px;color:#666">Evidence</td><td style="padding:2px 8px;font-family:monospace">{{range $i, $e := .Evidence}}{{if $i}}, {{end}}{{$e}}{{end}}{{if .MoreEvidence}} ({{.MoreEvidence}} more){{end}}</td></tr>
{{end}}</table>
{{end}}<p style="color:#666;font-size:12px">Sent by offbox-ingest. Evidence is device/seq/index of the stored lines; <code>offbox-ingest alerts -device D -json -evidence</code> shows them.</p>
</body></html>
`))
