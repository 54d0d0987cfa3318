package authlog

import (
	"strings"
	"testing"
)

// TestApplianceCorpus checks every line of testdata/appliance.tsv, the
// login lines of appliances that send syslog: each must give exactly the
// labelled event (kind, user, source, method, count), or none. Logouts,
// session ends and duplicates of a login are labelled none there.
func TestApplianceCorpus(t *testing.T) {
	corpus := loadCorpusFile(t, "appliance.tsv")
	if len(corpus) < 60 {
		t.Fatalf("appliance corpus has %d lines, want at least 60", len(corpus))
	}
	var events int
	for _, c := range corpus {
		ev, ok := Parse(c.line, refTime)
		want := c.kind != "none"
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
			ev.Method != c.method || ev.Count != c.count:
			t.Errorf("appliance.tsv:%d: got %s user=%q source=%q method=%q count=%d, want %s user=%q source=%q method=%q count=%d\n\t%q",
				c.lineNo, ev.Kind, ev.User, ev.Source, ev.Method, ev.Count, c.kind, c.user, c.source, c.method, c.count, c.line)
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
	} {
		if !strings.Contains(s, want) {
			t.Errorf("appliance corpus has no line with %q", want)
		}
	}
}
