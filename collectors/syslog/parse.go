package syslog

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/offbox/offbox/collectors"
)

// Formats a Message can have.
const (
	FormatRFC3164 = "rfc3164"
	FormatRFC5424 = "rfc5424"
	FormatRaw     = "raw" // no valid PRI: nothing parsed
)

// Reasons a message is flagged malformed. It is kept whole either way.
const (
	BadPRI          = "bad_pri"          // no <PRI>, or one out of range
	TruncatedHeader = "truncated_header" // the message ends inside its header
	Binary          = "binary"           // NUL or other control bytes, or invalid UTF-8
)

// Message is what the header of one syslog message says. Its fields are
// copies: the message's bytes stay with the caller, byte-exact.
type Message struct {
	Format    string
	Facility  int // -1 when there is no valid PRI
	Severity  int // -1 when there is no valid PRI
	Timestamp string
	Hostname  string
	App       string // RFC 3164 tag or RFC 5424 APP-NAME
	ProcID    string
	MsgID     string
	SD        string // RFC 5424 structured data, "" for none
	Malformed string // "" or one of the reasons above
}

// Parse parses a message whose format is unknown: RFC 5424 when the version
// 1 follows the PRI, RFC 3164 otherwise.
func Parse(b []byte) Message {
	if _, rest, ok := parsePRI(b); ok && len(rest) >= 2 && rest[0] == '1' && rest[1] == ' ' {
		return ParseRFC5424(b)
	}
	return ParseRFC3164(b)
}

// parsePRI reads <PRI> (1 to 3 digits, at most 191, no leading zero but in
// <0>).
func parsePRI(b []byte) (pri int, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != '<' {
		return 0, b, false
	}
	i := 1
	for i < len(b) && i <= 4 && b[i] >= '0' && b[i] <= '9' {
		pri = pri*10 + int(b[i]-'0')
		i++
	}
	digits := i - 1
	if digits == 0 || digits > 3 || i >= len(b) || b[i] != '>' || pri > 191 || (digits > 1 && b[1] == '0') {
		return 0, b, false
	}
	return pri, b[i+1:], true
}

func start(b []byte, format string) (Message, []byte, bool) {
	m := Message{Format: format, Facility: -1, Severity: -1}
	pri, rest, ok := parsePRI(b)
	if !ok {
		m.Format, m.Malformed = FormatRaw, BadPRI
		return m, nil, false
	}
	m.Facility, m.Severity = pri/8, pri%8
	return m, rest, true
}

// finish flags binary content in a message whose header parsed.
func finish(m Message, b []byte) Message {
	if m.Malformed == "" && isBinary(b) {
		m.Malformed = Binary
	}
	return m
}

// isBinary reports NUL or control bytes other than tab, CR and LF, or
// invalid UTF-8, ignoring one trailing NUL (some senders end datagrams so).
func isBinary(b []byte) bool {
	b = bytes.TrimSuffix(b, []byte{0})
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return true
		}
	}
	return !utf8.Valid(b)
}

// trimEnd drops the trailing newline, CR or NUL a sender may add.
func trimEnd(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return b
}

// ParseRFC3164 parses a BSD syslog message: <PRI>TIMESTAMP HOSTNAME
// TAG[PID]: MSG. The hostname is optional (local senders such as glibc's
// syslog(3) leave it out) and the timestamp may be RFC 3339. A message that
// ends inside its PRI or timestamp is truncated; one without a timestamp is
// taken as it is (RFC 3164 section 4.3.3).
func ParseRFC3164(b []byte) Message {
	m, rest, ok := start(b, FormatRFC3164)
	if !ok {
		return finish(m, b)
	}
	rest = trimEnd(rest)
	if len(rest) == 0 {
		m.Malformed = TruncatedHeader
		return finish(m, b)
	}
	ts, after, state := bsdTimestamp(rest)
	switch state {
	case tsTruncated:
		m.Malformed = TruncatedHeader
		return finish(m, b)
	case tsNone:
		return finish(m, b)
	}
	m.Timestamp = string(ts)
	if len(after) == 0 || after[0] != ' ' {
		m.Malformed = TruncatedHeader
		return finish(m, b)
	}
	after = after[1:]
	// HOSTNAME, unless the next word is already the tag.
	word, tail := cutWord(after)
	if len(word) > 0 && !bytes.ContainsAny(word, "[:") && len(tail) > 0 {
		m.Hostname = string(word)
		after = tail
	}
	// TAG: alphanumerics and the usual punctuation up to '[', ':' or space.
	i := 0
	for i < len(after) && after[i] != '[' && after[i] != ':' && after[i] != ' ' && i < 128 {
		i++
	}
	if i == 0 || i == len(after) {
		return finish(m, b)
	}
	tag, after := after[:i], after[i:]
	if after[0] == '[' {
		end := bytes.IndexByte(after, ']')
		if end < 0 {
			return finish(m, b)
		}
		m.ProcID = string(after[1:end])
		after = after[end+1:]
	}
	if len(after) > 0 && after[0] == ':' {
		m.App = string(tag)
	} else if m.ProcID != "" {
		m.App = string(tag)
	}
	return finish(m, b)
}

const (
	tsOK = iota
	tsNone
	tsTruncated
)

var months = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// bsdTimestamp reads "Mmm dd hh:mm:ss" (day space-padded) or an RFC 3339
// timestamp word.
func bsdTimestamp(b []byte) (ts, rest []byte, state int) {
	if len(b) >= 4 && isDigits(b[:4]) {
		w, _ := cutWord(b)
		if len(w) >= 19 && w[4] == '-' {
			return w, b[len(w):], tsOK
		}
		return nil, b, tsNone
	}
	const pattern = "Abb dd 00:00:00" // A upper, b lower, d digit or space, 0 digit
	n := min(len(b), len(pattern))
	for i := 0; i < n; i++ {
		if !bsdChar(pattern[i], b[i], i) {
			return nil, b, tsNone
		}
	}
	if len(b) >= 3 && !isMonth(b[:3]) {
		return nil, b, tsNone
	}
	if len(b) < len(pattern) {
		return nil, b, tsTruncated
	}
	return b[:len(pattern)], b[len(pattern):], tsOK
}

func bsdChar(p, c byte, i int) bool {
	switch p {
	case 'A':
		return c >= 'A' && c <= 'Z'
	case 'b':
		return c >= 'a' && c <= 'z'
	case 'd':
		return c >= '0' && c <= '9' || c == ' ' && i == 4
	case '0':
		return c >= '0' && c <= '9'
	default:
		return c == p
	}
}

func isMonth(b []byte) bool {
	for _, m := range months {
		if string(b) == m {
			return true
		}
	}
	return false
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func cutWord(b []byte) (word, rest []byte) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+1:]
}

// ParseRFC5424 parses <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
// STRUCTURED-DATA [MSG]; "-" is a nil field. A message that ends before its
// structured data is truncated.
func ParseRFC5424(b []byte) Message {
	m, rest, ok := start(b, FormatRFC5424)
	if !ok {
		return finish(m, b)
	}
	rest = trimEnd(rest)
	if len(rest) < 2 || rest[0] != '1' || rest[1] != ' ' {
		m.Malformed = TruncatedHeader
		return finish(m, b)
	}
	rest = rest[2:]
	var f [5][]byte
	for i := range f {
		w, tail := cutWord(rest)
		if len(w) == 0 || tail == nil && i < 4 {
			m.Malformed = TruncatedHeader
			return finish(m, b)
		}
		f[i], rest = w, tail
		if tail == nil && i == 4 {
			m.Malformed = TruncatedHeader
		}
	}
	nilable := func(w []byte) string {
		if string(w) == "-" {
			return ""
		}
		return string(w)
	}
	m.Timestamp, m.Hostname, m.App, m.ProcID, m.MsgID =
		nilable(f[0]), nilable(f[1]), nilable(f[2]), nilable(f[3]), nilable(f[4])
	if m.Malformed != "" {
		return finish(m, b)
	}
	sd, ok := structuredData(rest)
	if !ok {
		m.Malformed = TruncatedHeader
		return finish(m, b)
	}
	m.SD = nilable(sd)
	return finish(m, b)
}

// structuredData returns "-" or the run of [SD-ELEMENT]s at the start of b;
// quoted values may hold escaped '"', '\' and ']'.
func structuredData(b []byte) ([]byte, bool) {
	if len(b) > 0 && b[0] == '-' && (len(b) == 1 || b[1] == ' ') {
		return b[:1], true
	}
	i := 0
	for i < len(b) && b[i] == '[' {
		quoted := false
		i++
		for {
			if i >= len(b) {
				return nil, false
			}
			c := b[i]
			switch {
			case quoted && c == '\\':
				i++
			case c == '"':
				quoted = !quoted
			case !quoted && c == ']':
				goto next
			}
			i++
		}
	next:
		i++
	}
	if i == 0 || i < len(b) && b[i] != ' ' {
		return nil, false
	}
	return b[:i], true
}

// Attrs are m's fields as record attributes; empty fields are left out.
func (m Message) Attrs(attrs []collectors.Attr) []collectors.Attr {
	attrs = append(attrs, collectors.Attr{Key: "format", Value: m.Format})
	if m.Facility >= 0 {
		attrs = append(attrs,
			collectors.Attr{Key: "facility", Value: strconv.Itoa(m.Facility)},
			collectors.Attr{Key: "severity", Value: strconv.Itoa(m.Severity)})
	}
	for _, kv := range [...]collectors.Attr{{Key: "timestamp", Value: m.Timestamp}, {Key: "hostname", Value: m.Hostname},
		{Key: "app", Value: m.App}, {Key: "procid", Value: m.ProcID}, {Key: "msgid", Value: m.MsgID},
		{Key: "structured_data", Value: m.SD}, {Key: "malformed", Value: m.Malformed}} {
		if kv.Value != "" {
			attrs = append(attrs, kv)
		}
	}
	return attrs
}
