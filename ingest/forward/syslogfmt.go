package forward

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/internal/recordkind"
)

// SDID is the structured-data id of a forwarded record's parameters, and
// SDIDAlert of an alert's. 32473 is the example private enterprise number
// of RFC 5612; offbox has no number of its own.
const (
	SDID      = "offbox@32473"
	SDIDAlert = "offbox-alert@32473"
	appName   = "offbox"
	maxSource = 256 // bytes of a source kept in structured data
)

// syslog severities (RFC 5424 6.2.1).
const (
	sevCritical = 2
	sevWarning  = 4
	sevInfo     = 6
)

const tsFormat = "2006-01-02T15:04:05.000000Z07:00"

// appendSyslog appends it as one RFC 5424 message, at most max bytes:
//
//	<PRI>1 TIME DEVICE offbox - KIND [offbox@32473 device=".." seq=".." index=".."
//	  source=".." time=".." received=".."] BODY
//
// TIME is the device's time, to the microsecond (RFC 5424's limit);
// time= and received= keep the nanoseconds. The body is escaped: a
// backslash as \\, a newline, tab or carriage return as \n \t \r, any
// other control character and any byte that is not UTF-8 as \xHH, so one
// record is one line in any file the receiver writes and the original
// bytes can be recovered exactly. A body that does not fit is cut at a
// character (never inside an escape) and truncated= gives its length in
// bytes. Structured-data values escape '"', '\' and ']' (RFC 5424 6.3.3)
// and carry a control character or a byte that is not UTF-8 as U+FFFD
// (the device, seq and index that find the record in the store are plain).
func appendSyslog(dst []byte, it *Item, facility, max int) []byte {
	start := len(dst)
	var sev int
	var ts time.Time
	var msgID, sdID string
	var params [][2]string
	var body []byte
	if a := it.Alert; a != nil {
		sev, ts, msgID, sdID = alertSeverity(a.Severity), a.LastReceived, "alert", SDIDAlert
		params = [][2]string{{"id", strconv.FormatInt(a.ID, 10)}, {"group", a.GroupID}, {"kind", a.Kind},
			{"severity", a.Severity}, {"device", a.Device}, {"key", a.Key}, {"count", strconv.Itoa(a.Count)},
			{"first", fmtTime(a.First)}, {"last", fmtTime(a.Last)}, {"received", fmtTime(a.LastReceived)}}
		body = []byte(a.Summary)
	} else {
		r := it.Record
		sev, msgID, sdID = sevInfo, recordkind.WireName(int32(r.GetKind())), SDID
		if r.GetTimeNs() != 0 {
			ts = time.Unix(0, r.GetTimeNs())
		}
		src := r.GetSource()
		if len(src) > maxSource {
			src = cutUTF8(src, maxSource)
		}
		params = [][2]string{{"device", it.Device}, {"seq", strconv.FormatUint(it.Seq, 10)}, {"index", strconv.Itoa(it.Index)},
			{"source", src}, {"time", fmtTime(ts)}, {"received", fmtTime(it.Received)}}
		body = r.GetBody()
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(facility*8+sev), 10)
	dst = append(dst, ">1 "...)
	if ts.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = ts.UTC().AppendFormat(dst, tsFormat)
	}
	dst = append(dst, ' ')
	dst = appendHeaderField(dst, it.Device, 255)
	dst = append(dst, ' ')
	dst = append(dst, appName...)
	dst = append(dst, " - "...)
	dst = appendHeaderField(dst, msgID, 32)
	dst = append(dst, " ["...)
	dst = append(dst, sdID...)
	for _, p := range params {
		dst = appendParam(dst, p[0], p[1])
	}
	sdEnd := len(dst)
	dst = append(dst, ']')
	if len(body) == 0 {
		return dst
	}
	dst = append(dst, ' ')
	msgStart := len(dst)
	dst = appendEscaped(dst, body, false)
	if len(dst)-start <= max {
		return dst
	}
	// Too long: say how long the body was, then cut it to what fits.
	escaped := append([]byte(nil), dst[msgStart:]...)
	dst = dst[:sdEnd]
	dst = appendParam(dst, "truncated", strconv.Itoa(len(body)))
	dst = append(dst, "] "...)
	room := max - (len(dst) - start)
	if room <= 0 {
		return dst[:len(dst)-1] // no room for any of the body: the header alone
	}
	return append(dst, escaped[:cutEscaped(escaped, room)]...)
}

// alertSeverity maps an alert's severity onto syslog's.
func alertSeverity(s string) int {
	switch s {
	case "critical":
		return sevCritical
	case "warning":
		return sevWarning
	}
	return sevInfo
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// appendHeaderField appends s as a header field (PRINTUSASCII, 1 to max
// bytes): "-" when empty, any other byte replaced by '_'.
func appendHeaderField(dst []byte, s string, max int) []byte {
	if s == "" {
		return append(dst, '-')
	}
	if len(s) > max {
		s = s[:max]
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		dst = append(dst, c)
	}
	return dst
}

func appendParam(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	dst = appendEscaped(dst, []byte(value), true)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// plainBody and plainSD say which bytes appendEscaped copies as they are.
var plainBody, plainSD = func() (body, sd [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		body[c] = c != '\\'
		sd[c] = body[c] && c != '"' && c != ']'
	}
	return
}()

// appendEscaped appends b with control characters, backslashes and bytes
// that are not UTF-8 escaped; sd escapes for a PARAM-VALUE instead.
func appendEscaped(dst, b []byte, sd bool) []byte {
	plain := &plainBody
	if sd {
		plain = &plainSD
	}
	for len(b) > 0 {
		i := 0
		for i < len(b) && plain[b[i]] {
			i++
		}
		dst = append(dst, b[:i]...) // a run that needs no escape, at once
		if b = b[i:]; len(b) == 0 {
			break
		}
		c := b[0]
		if c < utf8.RuneSelf {
			switch {
			case sd && (c < 0x20 || c == 0x7f):
				dst = append(dst, "\uFFFD"...)
			case c == '\\':
				dst = append(dst, '\\', '\\')
			case sd && (c == '"' || c == ']'):
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			default:
				dst = append(dst, c)
			}
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 || r >= 0x80 && r < 0xa0 { // not UTF-8, or a C1 control
			if sd {
				dst = append(dst, "\uFFFD"...)
				b = b[n:]
				continue
			}
			for _, x := range b[:n] {
				dst = append(dst, '\\', 'x', hexDigits[x>>4], hexDigits[x&15])
			}
		} else {
			dst = append(dst, b[:n]...)
		}
		b = b[n:]
	}
	return dst
}

// cutEscaped is the longest prefix of the escaped text e, at most n bytes,
// that ends neither inside an escape nor inside a character.
func cutEscaped(e []byte, n int) int {
	i := 0
	for i < len(e) {
		w := 1
		switch {
		case e[i] == '\\' && i+1 < len(e) && e[i+1] == 'x':
			w = 4
		case e[i] == '\\':
			w = 2
		case e[i] >= utf8.RuneSelf:
			_, w = utf8.DecodeRune(e[i:])
		}
		if i+w > n {
			break
		}
		i += w
	}
	return i
}

// cutUTF8 is s cut to at most n bytes at a character boundary.
func cutUTF8(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
