package authlog

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// TestApplianceCorpus checks every line of testdata/appliance.tsv, the
// login and configuration lines of appliances that send syslog: ParseAll
// must give exactly the labelled event (kind, user, source, method,
// count), or none, and Parse the same except for config_change, which it
// never returns. Logouts, session ends and duplicates of a login are
// labelled none there.
func TestApplianceCorpus(t *testing.T) {
	corpus := loadCorpusFile(t, "appliance.tsv")
	if len(corpus) < 60 {
		t.Fatalf("appliance corpus has %d lines, want at least 60", len(corpus))
	}
	var events int
	for _, c := range corpus {
		ev, ok := ParseAll(c.line, refTime)
		want := c.kind != "none"
		allOnly := c.kind == string(ConfigChange) || c.kind == string(Restart)
		if pev, pok := Parse(c.line, refTime); allOnly && pok {
			t.Errorf("appliance.tsv:%d: Parse returned %+v for a %s", c.lineNo, pev, c.kind)
		} else if !allOnly && (pok != ok || !sameEvent(pev, ev)) {
			t.Errorf("appliance.tsv:%d: Parse gave %v %+v, ParseAll %v %+v", c.lineNo, pok, pev, ok, ev)
		}
		if want {
			events++
		}
		switch {
		case !ok && !want:
		case !ok && want:
			t.Errorf("appliance.tsv:%d: missed %s user=%q source=%q\n\t%q", c.lineNo, c.kind, c.user, c.source, c.line)
		case ok && !want:
			t.Errorf("appliance.tsv:%d: false event %+v\n\t%q", c.lineNo, ev, c.line)
		case string(ev.Kind) != c.kind || ev.User != c.user || ev.Source != c.source ||
			ev.Method != c.method || ev.Version != c.version || ev.Count != c.count:
			t.Errorf("appliance.tsv:%d: got %s user=%q source=%q method=%q version=%q count=%d, want %s user=%q source=%q method=%q version=%q count=%d\n\t%q",
				c.lineNo, ev.Kind, ev.User, ev.Source, ev.Method, ev.Version, ev.Count, c.kind, c.user, c.source, c.method, c.version, c.count, c.line)
		}
	}
	t.Logf("appliance corpus: %d lines, %d events, %d negatives", len(corpus), events, len(corpus)-events)
}

// TestApplianceCorpusCoversEveryVendor guards the corpus itself: each
// message id the appliance parsers claim to read appears in it, both as a
// login and, where the vendor has one, as the logout that must not be one.
func TestApplianceCorpusCoversEveryVendor(t *testing.T) {
	var all strings.Builder
	for _, c := range loadCorpusFile(t, "appliance.tsv") {
		all.Write(c.line)
		all.WriteByte('\n')
	}
	s := all.String()
	for _, want := range []string{
		"%ASA-6-605004", "%ASA-6-605005", "%ASA-6-113015", "%ASA-6-113004", "%FWSM-",
		"%AUTHPRIV-4-SYSTEM_MSG: Failed password", "%AUTHPRIV-6-SYSTEM_MSG: Accepted", "pam_aaa:",
		"SSH/5/SSH_USER_LOGIN(", "SSH_USER_LOGIN_FAIL(", "SSH_USER_LOGOUT",
		",SYSTEM,auth,", ",auth-fail,", ",auth-success,", " logged in via Web ", " logged in via CLI ", " logged out via ",
		"webConfigurator authentication error", "Web GUI authentication error", "Successful login for user", "User logged out for user",
		"id=firewall ", "login denied", "login allowed", "logged out",
		"%SYS-5-RESTART", "Version 15.0(1)M1", "#012Cisco IOS Software", "/kernel: JUNOS ", "UI_LOGIN_EVENT:", "UI_LOGIN_EVENT [", "UI_LOGOUT_EVENT",
		`logid="0100032009"`, `logid="0100032200"`, "The system is starting up", "CFG_FILE_CHANGE",
		"%SYS-5-CONFIG_I", "VSHD_SYSLOG_CONFIG_I", "UI_COMMIT:", "UI_COMMIT [", "UI_COMMIT_COMPLETED", "cfgpath=", ",CONFIG,", "Configuration Change: ", "system,info filter rule changed by ", "(winbox):admin@",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("appliance corpus has no line with %q", want)
		}
	}
}

// TestConfigChangePath: the configuration path a change names is kept, so
// an alert says what was changed as well as who changed it.
func TestConfigChangePath(t *testing.T) {
	for _, tc := range []struct{ line, user, path string }{
		{`date=2026-11-22 time=18:00:11 logid="0100044547" type="event" subtype="system" user="admin" ui="GUI(192.0.2.44)" action="Edit" cfgpath="firewall.policy" cfgobj="7"`, "admin", "firewall.policy"},
		{`1,2026/11/22 18:00:11,012801012345,CONFIG,0,0,2026/11/22 18:00:11,10.20.30.40,,set,admin,Web,Succeeded, deviceconfig system,1241,0x0`, "admin", "deviceconfig system"},
		{`%SYS-5-CONFIG_I: Configured from console by admin on vty0 (192.0.2.44)`, "admin", ""},
	} {
		ev, ok := ParseAll([]byte(tc.line), refTime)
		if !ok || ev.Kind != ConfigChange || ev.User != tc.user || ev.Path != tc.path {
			t.Errorf("ParseAll(%q) = %v %+v, want config_change user=%q path=%q", tc.line, ok, ev, tc.user, tc.path)
		}
	}
}

// BenchmarkParseAppliance measures ParseAll over the appliance corpus,
// events and negatives alike.
func BenchmarkParseAppliance(b *testing.B) {
	corpus := loadCorpusFile(b, "appliance.tsv")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ParseAll(corpus[i%len(corpus)].line, refTime)
	}
}

// TestApplianceStampWithYear: the ASA, VRP and NX-OS stamps carry their
// year, and the event keeps the time they give.
func TestApplianceStampWithYear(t *testing.T) {
	want := time.Date(2025, time.December, 31, 23, 59, 58, 0, time.UTC)
	for _, line := range []string{
		`<166>Dec 31 2025 23:59:58: %ASA-6-605004: Login denied from 192.0.2.44/52786 to outside:10.0.0.1/ssh for user "admin"`,
		`<188>Dec 31 2025 23:59:58 CE6850-A %%01SSH/4/SSH_USER_LOGIN_FAIL(s)[1]:The SSH user failed to login. (ServiceType=stelnet, UserName=root, UserAddress=203.0.113.7)`,
		`2025 Dec 31 23:59:58 n9k-leaf1 %AUTHPRIV-4-SYSTEM_MSG: Failed password for admin from 192.0.2.44 port 55012 ssh2 - sshd[14021]`,
		`<84>2025 Dec 31 23:59:58 UTC: %AUTHPRIV-4-SYSTEM_MSG: Failed password for admin from 192.0.2.44 port 55012 ssh2 - sshd[14021]`,
	} {
		ev, ok := Parse([]byte(line), refTime)
		if !ok || !ev.Time.Equal(want) {
			t.Errorf("Parse(%q): ok=%v Time=%v, want %v", line, ok, ev.Time, want)
		}
	}
}

// applianceMarkers start the messages each appliance parser reads; the
// fuzz target below puts random text after them, so every parser is
// reached on every input rather than only when the fuzzer finds its marker.
var applianceMarkers = []string{
	"%ASA-6-605004: Login denied from ", "%ASA-6-113015: AAA user authentication Rejected : ", "%ASA-6-113004: AAA user authentication Successful : ",
	"%AUTHPRIV-4-SYSTEM_MSG: ", "%VSHD-5-VSHD_SYSLOG_CONFIG_I: Configured from ", "%SYS-5-CONFIG_I: Configured from ",
	"%SYS-5-RESTART: System restarted --", "%SEC_LOGIN-4-LOGIN_FAILED: Login failed ", "%%01SSH/5/SSH_USER_LOGIN(l)[0]:",
	"%%01CONFIGURATION/6/CFG_FILE_CHANGE(l)[9]:", "mgd[1]: UI_LOGIN_EVENT: User '", "mgd[1]: UI_COMMIT: User '", "/kernel: JUNOS ",
	`logid="0100032009" type="event" `, `logid="0100044547" action="Edit" cfgpath=`, `logid="0100032001" action="login" status="success" `,
	"1,2026/11/22 18:03:00,0128,SYSTEM,general,0,2026/11/22 18:03:00,,general,,0,0,general,informational,\"",
	"1,2026/11/22 18:03:00,0128,CONFIG,0,0,2026/11/22 18:03:00,", "php-fpm[1]: /index.php: ", "id=firewall sn=1 msg=\"",
	"system,info ", "system,error,critical login failure for user ", "dropbear[1]: ",
}

// FuzzApplianceMessages: whatever follows a vendor's marker, ParseAll
// returns a clean event or none, Parse never returns a configuration
// change or a restart, and only a restart carries a version.
func FuzzApplianceMessages(f *testing.F) {
	for i := range applianceMarkers {
		f.Add(uint8(i), "admin from 192.0.2.44 Version 15.0(1)M1, (TerUser=\"x\", SrcAddr=192.0.2.1)")
	}
	for _, c := range loadCorpusFile(f, "appliance.tsv") {
		f.Add(uint8(0), string(c.line))
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		line := []byte("<189>Nov 22 18:00:00 dev " + applianceMarkers[int(which)%len(applianceMarkers)] + body)
		ev, ok := ParseAll(line, refTime)
		pev, pok := Parse(line, refTime)
		if pok && (pev.Kind == ConfigChange || pev.Kind == Restart) {
			t.Fatalf("Parse returned %+v", pev)
		}
		if !ok {
			if ev != (Event{}) || pok {
				t.Fatalf("ParseAll none with %+v, Parse %v", ev, pok)
			}
			return
		}
		if ev.Version != "" && ev.Kind != Restart || ev.Count != 1 {
			t.Errorf("event %+v", ev)
		}
		for name, s := range map[string]string{"User": ev.User, "Source": ev.Source, "Method": ev.Method, "Program": ev.Program,
			"Path": ev.Path, "Version": ev.Version, "Model": ev.Model} {
			if !utf8.ValidString(s) || len(s) > 4*maxField {
				t.Errorf("%s = %q: invalid or too long", name, s)
			}
			for _, r := range s {
				if unicode.IsControl(r) {
					t.Errorf("%s = %q has a control character", name, s)
				}
			}
		}
	})
}
