package forward

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// message5424 is an RFC 5424 message taken apart by parse5424, the
// receiver's view used to check what the sinks write.
type message5424 struct {
	pri                                 int
	time, host, app, procID, msgID, msg string
	sdID                                string
	params                              map[string]string
}

// parse5424 parses one RFC 5424 message with one SD element, unescaping
// its PARAM-VALUEs; msg is left as written.
func parse5424(b []byte) (m message5424, err error) {
	s := string(b)
	if !strings.HasPrefix(s, "<") {
		return m, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 0 {
		return m, errors.New("PRI not closed")
	}
	if m.pri, err = strconv.Atoi(s[1:end]); err != nil {
		return m, err
	}
	f := strings.SplitN(s[end+1:], " ", 7)
	if len(f) < 7 || f[0] != "1" {
		return m, fmt.Errorf("header: %q", s)
	}
	m.time, m.host, m.app, m.procID, m.msgID = f[1], f[2], f[3], f[4], f[5]
	rest := f[6]
	if !strings.HasPrefix(rest, "[") {
		return m, fmt.Errorf("no SD: %q", rest)
	}
	i := 1
	sp := strings.IndexByte(rest, ' ')
	m.sdID = rest[1:sp]
	i = sp
	m.params = map[string]string{}
	for i < len(rest) && rest[i] == ' ' {
		eq := strings.Index(rest[i:], `="`)
		if eq < 0 {
			return m, fmt.Errorf("param: %q", rest[i:])
		}
		name := rest[i+1 : i+eq]
		j := i + eq + 2
		var v strings.Builder
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' && j+1 < len(rest) && strings.IndexByte(`"\]`, rest[j+1]) >= 0 {
				j++
			} else if rest[j] == ']' {
				return m, fmt.Errorf("unescaped ] in %s", name)
			}
			v.WriteByte(rest[j])
		}
		if j >= len(rest) {
			return m, errors.New("param value not closed")
		}
		m.params[name] = v.String()
		i = j + 1
	}
	if i >= len(rest) || rest[i] != ']' {
		return m, fmt.Errorf("SD not closed at %d: %q", i, rest)
	}
	i++
	if i < len(rest) {
		if rest[i] != ' ' {
			return m, errors.New("no space before MSG")
		}
		m.msg = rest[i+1:]
	}
	return m, nil
}

// unescape reverses appendEscaped on a body.
func unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, errors.New("trailing backslash")
		}
		i++
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'x':
			if i+2 >= len(s) {
				return nil, errors.New("short \\x")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return out, nil
}

// sdValue is s as a PARAM-VALUE carries it once unescaped: control
// characters and bytes that are not UTF-8 as U+FFFD.
func sdValue(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == utf8.RuneError && n == 1 {
			r = utf8.RuneError
		}
		b.WriteRune(r)
		s = s[n:]
	}
	return b.String()
}

func recordItem(device, source string, body []byte) Item {
	return Item{Device: device, Seq: 42, Index: 7, Received: time.Date(2026, 12, 7, 1, 2, 3, 456789123, time.UTC),
		Record: &offboxv1.Record{TimeNs: time.Date(2026, 12, 7, 1, 2, 3, 111222333, time.UTC).UnixNano(),
			Kind: offboxv1.Kind_KIND_LOG, Source: source, Body: body}}
}

func TestSyslogMessage(t *testing.T) {
	it := recordItem("router-1", "file:/var/log/auth.log", []byte("sshd[1]: Failed password for root"))
	got := string(appendSyslog(nil, &it, 16, DefaultMaxMessage))
	want := `<134>1 2026-12-07T01:02:03.111222Z router-1 offbox - log [offbox@32473 device="router-1" seq="42" index="7" ` +
		`source="file:/var/log/auth.log" time="2026-12-07T01:02:03.111222333Z" received="2026-12-07T01:02:03.456789123Z"] ` +
		`sshd[1]: Failed password for root`
	if got != want {
		t.Errorf("message:\n got %s\nwant %s", got, want)
	}

	a := Item{Device: "sw-1", Alert: &store.Alert{ID: 9, GroupID: "g", Kind: "brute_force", Severity: "critical",
		Device: "sw-1", Summary: "5 failures", LastReceived: time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC), Count: 5}}
	m, err := parse5424(appendSyslog(nil, &a, 16, DefaultMaxMessage))
	if err != nil {
		t.Fatal(err)
	}
	if m.pri != 16*8+2 || m.msgID != "alert" || m.sdID != SDIDAlert || m.params["id"] != "9" || m.params["kind"] != "brute_force" || m.msg != "5 failures" {
		t.Errorf("alert message = %+v", m)
	}
}

// hostile bodies and sources: escaped so the message stays one line of
// valid UTF-8, the SD stays closed, and the bytes come back exactly.
var hostile = []struct {
	source string
	body   []byte
}{
	{"file:/x", []byte("a\nb\rc\td")},
	{`src"with]quotes\and`, []byte(`] "quoted" \back\slash [x@1 a="b"]`)},
	{"file:/y", []byte("esc \x1b[31mred\x1b[0m bell\x07 del\x7f nul\x00")},
	{"file:/z", []byte("not utf-8: \xff\xfe \xc3 and C1 \xc2\x85 and é ✓")},
	{"file:/\n/evil", []byte("")},
	{strings.Repeat("s", 1000), []byte("long source")},
}

func TestSyslogEscaping(t *testing.T) {
	for i, h := range hostile {
		it := recordItem("d-1", h.source, h.body)
		out := appendSyslog(nil, &it, 16, DefaultMaxMessage)
		checkMessage(t, fmt.Sprint(i), out, &it, DefaultMaxMessage)
	}
}

func TestSyslogTruncates(t *testing.T) {
	body := bytes.Repeat([]byte("é\x01"), 3000) // 9000 bytes, 15000 escaped
	it := recordItem("d-1", "file:/big", body)
	out := appendSyslog(nil, &it, 16, 2048)
	if len(out) > 2048 || len(out) < 2040 {
		t.Errorf("truncated message is %d bytes, want close to 2048", len(out))
	}
	m := checkMessage(t, "big", out, &it, 2048)
	if m.params["truncated"] != "9000" {
		t.Errorf("truncated = %q, want 9000", m.params["truncated"])
	}
}

// checkMessage checks one formatted message against the item it carries.
func checkMessage(t testing.TB, name string, out []byte, it *Item, max int) message5424 {
	t.Helper()
	if len(out) > max {
		t.Fatalf("%s: %d bytes, more than %d", name, len(out), max)
	}
	if !utf8.Valid(out) {
		t.Fatalf("%s: not UTF-8: %q", name, out)
	}
	for _, c := range out {
		if c < 0x20 || c == 0x7f {
			t.Fatalf("%s: control byte %#x in %q", name, c, out)
		}
	}
	m, err := parse5424(out)
	if err != nil {
		t.Fatalf("%s: %v in %q", name, err, out)
	}
	src := it.Record.GetSource()
	if len(src) > maxSource {
		src = cutUTF8(src, maxSource)
	}
	if m.params["device"] != it.Device || m.params["seq"] != strconv.FormatUint(it.Seq, 10) ||
		m.params["index"] != strconv.Itoa(it.Index) {
		t.Errorf("%s: device/seq/index = %q/%q/%q", name, m.params["device"], m.params["seq"], m.params["index"])
	}
	if want := sdValue(src); m.params["source"] != want {
		t.Errorf("%s: source = %q, want %q", name, m.params["source"], want)
	}
	body, err := unescape(m.msg)
	if err != nil {
		t.Fatalf("%s: body %q: %v", name, m.msg, err)
	}
	if _, cut := m.params["truncated"]; cut {
		if !bytes.HasPrefix(it.Record.GetBody(), body) {
			t.Errorf("%s: truncated body is not a prefix of the record's", name)
		}
	} else if !bytes.Equal(body, it.Record.GetBody()) {
		t.Errorf("%s: body = %q, want %q", name, body, it.Record.GetBody())
	}
	return m
}

func FuzzSyslogMessage(f *testing.F) {
	for _, h := range hostile {
		f.Add("d-1", h.source, h.body, 2048)
	}
	f.Add("", "", []byte{}, 1024)
	f.Fuzz(func(t *testing.T, device, source string, body []byte, max int) {
		max = 1024 + abs(max)%(64<<10)
		// A device id is a certificate CN of letters, digits and ._:@-.
		device = strings.Map(func(r rune) rune {
			if r < 0x80 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._:@-", r)) {
				return r
			}
			return -1
		}, device)
		if len(device) > 128 {
			device = device[:128]
		}
		it := recordItem(device, source, body)
		checkMessage(t, "fuzz", appendSyslog(nil, &it, 16, max), &it, max)
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}
