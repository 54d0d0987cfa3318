package notify

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/offbox/offbox/ingest/store"
)

// parsedMail is a message as a reader sees it: its header and the
// decoded text of each part by media type.
type parsedMail struct {
	Header  mail.Header
	Subject string // decoded
	Parts   map[string]string
	Order   []string // the parts' media types, in order
}

// parseMail reads msg as a mail reader would, failing t on anything a
// reader would stumble on.
func parseMail(t testing.TB, msg []byte) parsedMail {
	t.Helper()
	for i, line := range bytes.Split(msg, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes, over RFC 5322's 998", i+1, len(line))
		}
		if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("line %d is not ASCII: %q", i+1, line)
			}
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("reading the message: %v", err)
	}
	p := parsedMail{Header: m.Header, Parts: map[string]string{}}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("decoding the subject %q: %v", m.Header.Get("Subject"), err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: want multipart/alternative with a boundary (%v)", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // undoes the quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		pt, pp, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil || pp["charset"] != "utf-8" {
			t.Fatalf("part Content-Type %q: want a charset of utf-8 (%v)", part.Header.Get("Content-Type"), err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		p.Parts[pt] = strings.ReplaceAll(string(b), "\r\n", "\n")
		p.Order = append(p.Order, pt)
	}
	return p
}

// htmlTags is every element name in s, and every attribute name: what a
// reader's renderer would act on.
func htmlTags(t testing.TB, s string) (tags, attrs map[string]bool) {
	t.Helper()
	tags, attrs = map[string]bool{}, map[string]bool{}
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("HTML part: %v", z.Err())
			}
			return tags, attrs
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tok := z.Token()
			tags[tok.Data] = true
			for _, a := range tok.Attr {
				attrs[a.Key] = true
			}
		}
	}
}

// The elements and attributes the HTML part is made of; anything else came
// from log content.
var (
	mailTags  = []string{"html", "head", "meta", "title", "body", "p", "table", "tr", "th", "td", "strong", "code"}
	mailAttrs = []string{"charset", "style", "colspan"}
)

func checkHTMLShape(t testing.TB, s string) {
	t.Helper()
	tags, attrs := htmlTags(t, s)
	for tag := range tags {
		if !slices.Contains(mailTags, tag) {
			t.Errorf("the HTML part has a <%s> element: log content became markup", tag)
		}
	}
	for a := range attrs {
		if !slices.Contains(mailAttrs, a) {
			t.Errorf("the HTML part has a %s attribute: log content became markup", a)
		}
	}
}

func testHeader(t testing.TB) mailHeader {
	t.Helper()
	from, _ := parseAddress(`"offbox at ams" <offbox@example.net>`)
	to1, _ := parseAddress("soc@example.net")
	to2, _ := parseAddress("Jörg Ops <oncall@example.org>")
	return mailHeader{From: from, To: []*mail.Address{to1, to2}, Date: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		MessageID: "abc@ingest1"}
}

// hostileAlert carries in every value what log content could: line
// breaks that would add a header, markup, a bidi override, invalid UTF-8,
// an encoded word, and sizes far past the bounds.
func hostileAlert() store.Alert {
	a := alertN(1)
	a.ID = 42
	a.Severity = store.SeverityCritical
	a.Device = "sw-1\r\nBcc: thief@evil.example"
	a.Summary = "failed <script>alert(1)</script> for \"root\" & friends\r\n\r\n--boundary\r\nContent-Type: text/html\r\n\r\n<img src=x onerror=alert(2)> \u202eevil\u202c \xff=?utf-8?q?forged?="
	a.Fields = map[string]string{
		"user":         "</td></tr></table><a href=\"https://evil.example\">click</a>",
		"<b>key</b>":   "v\x00\x1b[31mred",
		"source":       "198.51.100.23",
		"bytes_nonasc": "Grüße, 日本語",
	}
	a.Labels = map[string]string{"site": "ams\"><svg onload=alert(3)>"}
	return a
}

func TestMailMessageHostileValues(t *testing.T) {
	t.Parallel()
	a := hostileAlert()
	msg, err := buildMessage(testHeader(t), []store.Alert{a}, Origin{Collector: "ingest1"})
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, msg)

	// Exactly our header fields: nothing added from the alert.
	var keys []string
	for k := range p.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"Auto-Submitted", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To", "X-Auto-Response-Suppress"}
	if !slices.Equal(keys, want) {
		t.Errorf("header fields %v, want %v", keys, want)
	}
	if got, want := p.Subject, `[offbox] critical auth_failure on sw-1\u000d\u000aBcc: thief@evil.example`; got != want {
		t.Errorf("subject %q, want %q", got, want)
	}
	from, err := p.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "offbox@example.net" || from[0].Name != "offbox at ams" {
		t.Errorf("From %v (%v)", from, err)
	}
	to, err := p.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "soc@example.net" || to[1].Address != "oncall@example.org" || to[1].Name != "Jörg Ops" {
		t.Errorf("To %v (%v)", to, err)
	}
	if !slices.Equal(p.Order, []string{"text/plain", "text/html"}) {
		t.Fatalf("parts %v, want text/plain then text/html (the last is the preferred one)", p.Order)
	}

	text := p.Parts["text/plain"]
	for _, w := range []string{
		"1 alert from collector ingest1.",
		"[critical] auth_failure on sw-1\\u000d\\u000aBcc: thief@evil.example\n",
		`Summary:  failed <script>alert(1)</script> for "root" & friends\u000d\u000a\u000d\u000a--boundary\u000d\u000aContent-Type: text/html`,
		`\u202eevil\u202c ` + "\uFFFD=?utf-8?q?forged?=",
		"    <b>key</b>: v\\u0000\\u001b[31mred\n",
		"    bytes_nonasc: Grüße, 日本語\n",
		"Alert:    42 (group auth_failure/router1/root)",
		"Evidence: router1/11/2",
		"Count:    2\n",
		"First:    2026-03-01 12:00:01.123 UTC (device time)",
	} {
		if !strings.Contains(text, w) {
			t.Errorf("text part lacks %q:\n%s", w, text)
		}
	}
	if strings.Count(text, "\n[critical]") != 1 {
		t.Errorf("text part: want one alert block:\n%s", text)
	}

	h := p.Parts["text/html"]
	checkHTMLShape(t, h)
	for _, w := range []string{
		"failed &lt;script&gt;alert(1)&lt;/script&gt; for &#34;root&#34; &amp; friends",
		"&lt;img src=x onerror=alert(2)&gt;",
		"&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;a href=&#34;https://evil.example&#34;&gt;click&lt;/a&gt;",
		"&lt;b&gt;key&lt;/b&gt;",
		"site=ams&#34;&gt;&lt;svg onload=alert(3)&gt;",
		"Grüße, 日本語",
		`\u202eevil`,
	} {
		if !strings.Contains(h, w) {
			t.Errorf("HTML part lacks %q:\n%s", w, h)
		}
	}
}

func TestMailSubjectEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, device, want string
	}{
		{"ascii", "sw-edge-1", "[offbox] warning auth_failure on sw-edge-1"},
		{"non-ascii", "Zürich-1", "[offbox] warning auth_failure on Zürich-1"},
		{"an encoded word in the value", "=?utf-8?q?x?=", "[offbox] warning auth_failure on =?utf-8?q?x?=\u00a0"},
		{"long", strings.Repeat("ü", 300), "[offbox] warning auth_failure on " + strings.Repeat("ü", (maxMailValue-1)/2) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := alertN(0)
			a.Device = tc.device
			msg, err := buildMessage(testHeader(t), []store.Alert{a}, Origin{})
			if err != nil {
				t.Fatal(err)
			}
			p := parseMail(t, msg)
			want := tc.want
			if len(want) > maxSubject {
				want = truncate(want, maxSubject)
			}
			if p.Subject != want {
				t.Errorf("subject %q, want %q", p.Subject, want)
			}
			if raw := p.Header.Get("Subject"); tc.name != "ascii" && !strings.HasPrefix(raw, "=?utf-8?q?") {
				t.Errorf("raw subject %q: want it RFC 2047-encoded", raw)
			}
		})
	}
}

func TestMailDigestMessage(t *testing.T) {
	t.Parallel()
	var as []store.Alert
	for i := range 5 {
		a := alertN(i)
		a.ID = int64(100 + i)
		as = append(as, a)
	}
	as[2].Severity = store.SeverityCritical
	msg, err := buildMessage(testHeader(t), as, Origin{Collector: "ingest1"})
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, msg)
	want := "[offbox] 5 alerts: warning auth_failure on router0; warning auth_failure on router1; critical auth_failure on router2; and 2 more"
	if p.Subject != want {
		t.Errorf("subject %q, want %q", p.Subject, want)
	}
	for _, part := range []string{"text/plain", "text/html"} {
		for i := range as {
			if w := fmt.Sprintf("failed login for root on router%d", i); !strings.Contains(p.Parts[part], w) {
				t.Errorf("%s lacks alert %d (%q)", part, i, w)
			}
		}
	}
	if !strings.HasPrefix(p.Parts["text/plain"], "5 alerts from collector ingest1.\n") {
		t.Errorf("text part starts %q", p.Parts["text/plain"][:40])
	}
	if n := strings.Count(p.Parts["text/html"], "<table"); n != 5 {
		t.Errorf("HTML part has %d alert tables, want 5", n)
	}
	if _, err := buildMessage(testHeader(t), nil, Origin{}); err == nil {
		t.Error("a message of no alert was built")
	}
	if _, err := buildMessage(testHeader(t), make([]store.Alert, maxDigest+1), Origin{}); err == nil {
		t.Errorf("a message of %d alerts was built, over maxDigest", maxDigest+1)
	}
}

// TestMailMessageBounded: a full digest of alerts each far past every
// bound is still a message of bounded size that shows the cuts.
func TestMailMessageBounded(t *testing.T) {
	t.Parallel()
	huge := func(i int) store.Alert {
		a := alertN(i)
		a.Summary = strings.Repeat("<&\"ü", 1<<18)
		a.Fields = map[string]string{}
		a.Labels = map[string]string{}
		for j := range 500 {
			a.Fields[fmt.Sprintf("%s%04d", strings.Repeat("k", 100), j)] = strings.Repeat("\r\n<x>", 2000)
			a.Labels[fmt.Sprintf("l%04d", j)] = strings.Repeat("v", 10000)
		}
		for j := range 1000 {
			a.Evidence = append(a.Evidence, store.AlertRef{Device: a.Device, Seq: uint64(j), Index: j})
		}
		return a
	}
	as := make([]store.Alert, maxDigest)
	for i := range as {
		as[i] = huge(i)
	}
	msg, err := buildMessage(testHeader(t), as, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg) > maxMessageBytes {
		t.Errorf("message of %d bytes, over %d", len(msg), maxMessageBytes)
	}
	p := parseMail(t, msg)
	checkHTMLShape(t, p.Parts["text/html"])
	text := p.Parts["text/plain"]
	for _, w := range []string{"(480 more)", "Evidence: router0/10/2, router0/0/0, router0/1/1", "(991 more)", "…\n"} {
		if !strings.Contains(text, w) {
			t.Errorf("text part lacks %q", w)
		}
	}
	t.Logf("a digest of %d alerts at every bound: %d bytes", maxDigest, len(msg))
}

func TestPrintable(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\r\nb\tc", `a\u000d\u000ab\u0009c`},
		{"\x1b[2J\x7f\u0085", `\u001b[2J\u007f\u0085`},
		{"rtl \u202e \u2066 \u200b zwsp \u2028", `rtl \u202e \u2066 \u200b zwsp \u2028`},
		{"bad \xff\xfe", "bad \uFFFD\uFFFD"},
		{"Grüße 日本", "Grüße 日本"},
	}
	for _, tc := range tests {
		if got := printable(tc.in, 100); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{strings.Repeat("ü", 10), 5, "üü…"},
		{"ab\ncd", 5, "ab…"},         // no half escape
		{"ab\ncd", 9, "ab\\u000ac…"}, // the escape grew it past n
		{"abcde", 5, "abcde"},
	} {
		if got := printable(tc.in, tc.n); got != tc.want {
			t.Errorf("printable(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestDigestOf(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dl := func(id int64, due time.Time) store.Delivery {
		return store.Delivery{AlertID: id, Sink: "mail", NextAttempt: due}
	}
	many := func(n int) []store.Delivery {
		var out []store.Delivery
		for i := range n {
			out = append(out, dl(int64(i+1), t0))
		}
		return out
	}
	ids := func(ds []store.Delivery) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.AlertID)
		}
		return out
	}
	tests := []struct {
		name     string
		due      []store.Delivery
		now      time.Time
		retrying map[int64]bool
		want     []int64
	}{
		{"nothing due", nil, t0, nil, nil},
		{"the first just due: wait for the window", []store.Delivery{dl(1, t0)}, t0, nil, nil},
		{"a burst inside the window: wait", []store.Delivery{dl(1, t0), dl(2, t0.Add(20*time.Second)), dl(3, t0.Add(50*time.Second))}, t0.Add(59 * time.Second), nil, nil},
		{"the window over: all in one", []store.Delivery{dl(1, t0), dl(2, t0.Add(20*time.Second)), dl(3, t0.Add(50*time.Second))}, t0.Add(time.Minute), nil, []int64{1, 2, 3}},
		{"a retry does not wait again, and takes the rest along", []store.Delivery{dl(1, t0), dl(2, t0.Add(time.Second))}, t0.Add(time.Second), map[int64]bool{2: true}, []int64{1, 2}},
		{"a full message goes at once", many(maxDigest), t0, nil, ids(many(maxDigest))},
		{"more than a full message: the first maxDigest", many(maxDigest + 7), t0, nil, ids(many(maxDigest))},
	}
	for _, tc := range tests {
		if got := ids(digestOf(tc.due, tc.now, time.Minute, tc.retrying)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: digestOf = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzMailMessage: whatever an alert holds, the message has exactly our
// header fields, two parts, ASCII lines within RFC 5322's length, and an
// HTML part made only of our markup.
func FuzzMailMessage(f *testing.F) {
	h := hostileAlert()
	f.Add(h.Summary, h.Device, "user", h.Fields["user"], "site", h.Labels["site"])
	f.Add("x", "=?utf-8?b?QQ==?=", "\r\n", "\x00", "<", ">")
	f.Add(strings.Repeat("é", 600), strings.Repeat("a", 1000), "k", "v", "", "")
	f.Fuzz(func(t *testing.T, summary, device, fk, fv, lk, lv string) {
		a := alertN(3)
		a.Summary, a.Device = summary, device
		a.Fields = map[string]string{fk: fv}
		a.Labels = map[string]string{lk: lv}
		msg, err := buildMessage(testHeader(t), []store.Alert{a, alertN(4)}, Origin{Collector: device})
		if err != nil {
			t.Fatal(err)
		}
		p := parseMail(t, msg)
		if len(p.Header) != 9 {
			t.Errorf("%d header fields, want 9: %v", len(p.Header), p.Header)
		}
		if len(p.Order) != 2 {
			t.Errorf("parts %v, want 2", p.Order)
		}
		if strings.ContainsAny(p.Subject, "\r\n") {
			t.Errorf("subject %q has a line break", p.Subject)
		}
		checkHTMLShape(t, p.Parts["text/html"])
	})
}

// An escalation says so in the subject, in the text and in the HTML, and
// only for the alert that is one.
func TestMailMessageEscalation(t *testing.T) {
	t.Parallel()
	one, err := buildMarkedMessage(testHeader(t), []store.Alert{alertN(1)}, []bool{true}, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	p := parseMail(t, one)
	if !strings.HasPrefix(p.Subject, "[offbox] ESCALATION ") {
		t.Errorf("subject %q does not start with [offbox] ESCALATION", p.Subject)
	}
	if !strings.Contains(p.Parts["text/plain"], "ESCALATION: still open") || !strings.Contains(p.Parts["text/html"], "<strong>ESCALATION</strong>") {
		t.Errorf("parts do not mark the escalation:\n%s\n%s", p.Parts["text/plain"], p.Parts["text/html"])
	}
	two, err := buildMarkedMessage(testHeader(t), []store.Alert{alertN(1), alertN(2)}, []bool{false, true}, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	p = parseMail(t, two)
	if got := strings.Count(p.Subject, "ESCALATION"); got != 1 {
		t.Errorf("digest subject %q names %d escalations, want 1", p.Subject, got)
	}
	if got := strings.Count(p.Parts["text/plain"], "ESCALATION:"); got != 1 {
		t.Errorf("digest text marks %d escalations, want 1", got)
	}
	plain, err := buildMessage(testHeader(t), []store.Alert{alertN(1)}, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "ESCALATION") {
		t.Error("an ordinary alert's message mentions an escalation")
	}
}
