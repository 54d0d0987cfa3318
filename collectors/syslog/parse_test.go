package syslog

import (
	"testing"
)

var parseCases = []struct {
	name string
	in   string
	want Message
}{
	{"3164 glibc local", "<13>Nov 22 18:00:00 sshd[123]: Accepted publickey for root",
		Message{Format: FormatRFC3164, Facility: 1, Severity: 5, Timestamp: "Nov 22 18:00:00", App: "sshd", ProcID: "123"}},
	{"3164 with host", "<38>Nov  2 08:01:02 gw1 dropbear[99]: Password auth succeeded for 'root'\n",
		Message{Format: FormatRFC3164, Facility: 4, Severity: 6, Timestamp: "Nov  2 08:01:02", Hostname: "gw1", App: "dropbear", ProcID: "99"}},
	{"3164 host tag no pid", "<0>Jan 01 00:00:00 host kernel: oops",
		Message{Format: FormatRFC3164, Facility: 0, Severity: 0, Timestamp: "Jan 01 00:00:00", Hostname: "host", App: "kernel"}},
	{"3164 rfc3339 time", "<191>2026-11-22T18:00:00.123Z host app: x",
		Message{Format: FormatRFC3164, Facility: 23, Severity: 7, Timestamp: "2026-11-22T18:00:00.123Z", Hostname: "host", App: "app"}},
	{"3164 no timestamp", "<13>just a message",
		Message{Format: FormatRFC3164, Facility: 1, Severity: 5}},
	{"5424 full", `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event`,
		Message{Format: FormatRFC5424, Facility: 20, Severity: 5, Timestamp: "2003-10-11T22:14:15.003Z", Hostname: "mymachine.example.com",
			App: "evntslog", MsgID: "ID47", SD: `[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]`}},
	{"5424 nil fields", "<34>1 - - - - - -",
		Message{Format: FormatRFC5424, Facility: 4, Severity: 2}},
	{"5424 escaped sd", `<34>1 2026-01-01T00:00:00Z h a 1 m [x@1 k="a\]b\"c"][y@2] msg`,
		Message{Format: FormatRFC5424, Facility: 4, Severity: 2, Timestamp: "2026-01-01T00:00:00Z", Hostname: "h", App: "a", ProcID: "1", MsgID: "m", SD: `[x@1 k="a\]b\"c"][y@2]`}},
	// Malformed: kept, flagged.
	{"no pri", "hello world", Message{Format: FormatRaw, Facility: -1, Severity: -1, Malformed: BadPRI}},
	{"pri too big", "<192>Nov 22 18:00:00 a: b", Message{Format: FormatRaw, Facility: -1, Severity: -1, Malformed: BadPRI}},
	{"pri leading zero", "<013>Nov 22 18:00:00 a: b", Message{Format: FormatRaw, Facility: -1, Severity: -1, Malformed: BadPRI}},
	{"pri unterminated", "<13", Message{Format: FormatRaw, Facility: -1, Severity: -1, Malformed: BadPRI}},
	{"empty", "", Message{Format: FormatRaw, Facility: -1, Severity: -1, Malformed: BadPRI}},
	{"pri only", "<13>", Message{Format: FormatRFC3164, Facility: 1, Severity: 5, Malformed: TruncatedHeader}},
	{"3164 cut in timestamp", "<13>Nov 22 18:0", Message{Format: FormatRFC3164, Facility: 1, Severity: 5, Malformed: TruncatedHeader}},
	{"3164 timestamp only", "<13>Nov 22 18:00:00", Message{Format: FormatRFC3164, Facility: 1, Severity: 5, Timestamp: "Nov 22 18:00:00", Malformed: TruncatedHeader}},
	{"5424 cut", "<13>1 2026-01-01T00:00:00Z host", Message{Format: FormatRFC5424, Facility: 1, Severity: 5, Malformed: TruncatedHeader}},
	{"5424 no sd", "<13>1 2026-01-01T00:00:00Z host app 1 id", Message{Format: FormatRFC5424, Facility: 1, Severity: 5,
		Timestamp: "2026-01-01T00:00:00Z", Hostname: "host", App: "app", ProcID: "1", MsgID: "id", Malformed: TruncatedHeader}},
	{"5424 open sd", "<13>1 2026-01-01T00:00:00Z host app 1 id [x@1 a=\"b", Message{Format: FormatRFC5424, Facility: 1, Severity: 5,
		Timestamp: "2026-01-01T00:00:00Z", Hostname: "host", App: "app", ProcID: "1", MsgID: "id", Malformed: TruncatedHeader}},
	{"binary", "<13>Nov 22 18:00:00 app: \x00\x01\xff\xfe", Message{Format: FormatRFC3164, Facility: 1, Severity: 5,
		Timestamp: "Nov 22 18:00:00", App: "app", Malformed: Binary}},
	{"binary no pri", "\x00\x01\x02", Message{Format: FormatRaw, Facility: -1, Severity: -1, Malformed: BadPRI}},
	{"trailing nul is not binary", "<13>Nov 22 18:00:00 app: x\x00", Message{Format: FormatRFC3164, Facility: 1, Severity: 5,
		Timestamp: "Nov 22 18:00:00", App: "app"}},
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		if got := Parse([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: Parse(%q)\n got %+v\nwant %+v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestAttrs(t *testing.T) {
	t.Parallel()
	m := Parse([]byte("<13>Nov 22 18:00:00 sshd[123]: x"))
	got := map[string]string{}
	for _, a := range m.Attrs(nil) {
		got[a.Key] = a.Value
	}
	want := map[string]string{"format": "rfc3164", "facility": "1", "severity": "5", "timestamp": "Nov 22 18:00:00", "app": "sshd", "procid": "123"}
	if len(got) != len(want) {
		t.Fatalf("attrs %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("attr %s = %q, want %q", k, got[k], v)
		}
	}
}

// checkInvariants holds for any input: the PRI fields are both set or
// both -1, raw means bad PRI, and the fields are substrings of the input.
func checkInvariants(t *testing.T, in []byte, m Message) {
	if (m.Facility < 0) != (m.Severity < 0) || m.Facility > 23 || m.Severity > 7 {
		t.Fatalf("%q: facility %d severity %d", in, m.Facility, m.Severity)
	}
	if (m.Format == FormatRaw) != (m.Malformed == BadPRI) {
		t.Fatalf("%q: format %s malformed %s", in, m.Format, m.Malformed)
	}
	for _, f := range []string{m.Timestamp, m.Hostname, m.App, m.ProcID, m.MsgID, m.SD} {
		if len(f) > len(in) {
			t.Fatalf("%q: field %q longer than the input", in, f)
		}
	}
}

func FuzzParseRFC3164(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkInvariants(t, b, ParseRFC3164(b))
		checkInvariants(t, b, Parse(b))
	})
}

func FuzzParseRFC5424(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ParseRFC5424(b)
		checkInvariants(t, b, m)
		if m.Malformed == "" && m.Format != FormatRFC5424 {
			t.Fatalf("%q: format %s", b, m.Format)
		}
	})
}
