package forward

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/forward/forwardtest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

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
	m, err := forwardtest.Parse(appendSyslog(nil, &a, 16, DefaultMaxMessage))
	if err != nil {
		t.Fatal(err)
	}
	if m.PRI != 16*8+2 || m.MsgID != "alert" || m.SDID != SDIDAlert || m.Params["id"] != "9" || m.Params["kind"] != "brute_force" || m.Msg != "5 failures" {
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
	if m.Params["truncated"] != "9000" {
		t.Errorf("truncated = %q, want 9000", m.Params["truncated"])
	}
}

// checkMessage checks one formatted message against the item it carries.
func checkMessage(t testing.TB, name string, out []byte, it *Item, max int) forwardtest.Message {
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
	m, err := forwardtest.Parse(out)
	if err != nil {
		t.Fatalf("%s: %v in %q", name, err, out)
	}
	src := it.Record.GetSource()
	if len(src) > maxSource {
		src = cutUTF8(src, maxSource)
	}
	if m.Params["device"] != it.Device || m.Params["seq"] != strconv.FormatUint(it.Seq, 10) ||
		m.Params["index"] != strconv.Itoa(it.Index) {
		t.Errorf("%s: device/seq/index = %q/%q/%q", name, m.Params["device"], m.Params["seq"], m.Params["index"])
	}
	if want := sdValue(src); m.Params["source"] != want {
		t.Errorf("%s: source = %q, want %q", name, m.Params["source"], want)
	}
	body, err := forwardtest.Unescape(m.Msg)
	if err != nil {
		t.Fatalf("%s: body %q: %v", name, m.Msg, err)
	}
	if _, cut := m.Params["truncated"]; cut {
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
