package authlog

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

type parseCase struct {
	name string
	line string
	want Event // Kind "" = not an event
}

func utc(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

var nov22 = utc(2026, time.November, 22, 18, 0, 1, 0)

// parseCases are per-source checks of every field, including Time and
// Program; they also seed FuzzParse.
var parseCases = []parseCase{
	// Headers.
	{"3164 pri", "<38>Nov 22 18:00:01 host sshd[1]: Failed password for root from 203.0.113.7 port 4242 ssh2",
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "password", Count: 1, Program: "sshd", Time: nov22}},
	{"3164 auth.log", "Nov  2 07:08:09 web-1 sshd[77]: Accepted publickey for deploy from 2001:db8::5 port 4242 ssh2: ED25519 SHA256:x",
		Event{Kind: AuthSuccess, User: "deploy", Source: "2001:db8::5", Method: "publickey", Count: 1, Program: "sshd", Time: utc(2026, time.November, 2, 7, 8, 9, 0)}},
	{"3164 december read in january", "Dec 31 23:59:59 web-1 sshd[77]: Invalid user admin from 192.0.2.1 port 22",
		Event{Kind: AuthFailure, User: "admin", Source: "192.0.2.1", Method: "ssh", Count: 1, Program: "sshd", Time: utc(2025, time.December, 31, 23, 59, 59, 0)}},
	{"3164 no host", "<38>Nov 22 18:00:01 sshd[1]: Failed password for root from 203.0.113.7 port 4242 ssh2",
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "password", Count: 1, Program: "sshd", Time: nov22}},
	{"5424", "<86>1 2026-11-22T18:00:01.123Z vm1 sshd 4242 - - Accepted password for alice from 10.0.0.1 port 5555 ssh2",
		Event{Kind: AuthSuccess, User: "alice", Source: "10.0.0.1", Method: "password", Count: 1, Program: "sshd", Time: utc(2026, time.November, 22, 18, 0, 1, 123e6)}},
	{"5424 sd and bom", "<86>1 2026-11-22T18:00:01Z vm1 sudo 42 - [meta sequenceId=\"1\" x=\"a\\]b\"] \xEF\xBB\xBFalice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/id",
		Event{Kind: AuthSuccess, User: "alice", Method: "sudo", Count: 1, Program: "sudo", Time: nov22}},
	{"rsyslog iso", "2026-11-22T18:00:01.123456+01:00 core1 sshd[9]: Failed publickey for bob from 198.51.100.2 port 1 ssh2: RSA SHA256:x",
		Event{Kind: AuthFailure, User: "bob", Source: "198.51.100.2", Method: "publickey", Count: 1, Program: "sshd", Time: utc(2026, time.November, 22, 17, 0, 1, 123456000)}},
	{"logread", "Sun Nov 22 18:00:01 2026 authpriv.info dropbear[1234]: Bad password attempt for 'root' from 192.168.1.5:50000",
		Event{Kind: AuthFailure, User: "root", Source: "192.168.1.5", Method: "password", Count: 1, Program: "dropbear", Time: nov22}},
	{"bare", "Failed password for root from 203.0.113.7 port 4242 ssh2",
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "password", Count: 1, Program: "sshd"}},

	// OpenSSH.
	{"sshd invalid user failed", "sshd[1]: Failed password for invalid user test user from 203.0.113.7 port 4242 ssh2",
		Event{Kind: AuthFailure, User: "test user", Source: "203.0.113.7", Method: "password", Count: 1, Program: "sshd"}},
	{"sshd kbd-int", "sshd[1]: Accepted keyboard-interactive/pam for alice from 203.0.113.7 port 4242 ssh2",
		Event{Kind: AuthSuccess, User: "alice", Source: "203.0.113.7", Method: "keyboard-interactive", Count: 1, Program: "sshd"}},
	{"sshd closed authenticating", "sshd-session[1]: Connection closed by authenticating user root 203.0.113.7 port 4242 [preauth]",
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "ssh", Count: 1, Program: "sshd-session"}},
	{"sshd max attempts", "sshd[1]: error: maximum authentication attempts exceeded for invalid user ubnt from 203.0.113.7 port 4242 ssh2 [preauth]",
		Event{Kind: AuthFailure, User: "ubnt", Source: "203.0.113.7", Method: "ssh", Count: 1, Program: "sshd"}},
	{"sshd PAM error", "sshd[1]: error: PAM: Authentication failure for root from scanner.example.net",
		Event{Kind: AuthFailure, User: "root", Source: "scanner.example.net", Method: "pam", Count: 1, Program: "sshd"}},
	{"pam_unix sshd", "sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root",
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "pam", Count: 1, Program: "sshd"}},
	{"PAM more", "sshd[1]: PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root",
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "pam", Count: 5, Program: "sshd"}},
	{"repeated", "Nov 22 18:00:01 h sshd[1]: message repeated 7 times: [ Failed password for root from 203.0.113.7 port 4242 ssh2]",
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "password", Count: 7, Program: "sshd", Time: nov22}},
	{"session opened", "sshd[1]: pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0)", Event{}},
	{"disconnected from user", "sshd[1]: Disconnected from user root 203.0.113.7 port 4242", Event{}},
	{"preauth close without user", "sshd[1]: Connection closed by 203.0.113.7 port 4242 [preauth]", Event{}},
	{"received disconnect", "sshd[1]: Received disconnect from 203.0.113.7 port 4242:11: Bye Bye [preauth]", Event{}},
	{"failed to start", "systemd[1]: Failed to start ssh.service - OpenBSD Secure Shell server.", Event{}},

	// dropbear.
	{"dropbear pubkey", "dropbear[9]: Pubkey auth succeeded for 'root' with ssh-rsa key SHA256:abc from 192.168.1.2:40000",
		Event{Kind: AuthSuccess, User: "root", Source: "192.168.1.2", Method: "publickey", Count: 1, Program: "dropbear"}},
	{"dropbear nonexistent", "dropbear[9]: Login attempt for nonexistent user from 192.168.1.2:40000",
		Event{Kind: AuthFailure, Source: "192.168.1.2", Method: "ssh", Count: 1, Program: "dropbear"}},
	{"dropbear exit before auth", "dropbear[9]: Exit before auth from <192.168.1.2:40000>: (user 'root', 10 fails): Max auth tries reached - user 'root'", Event{}},

	// sudo, su, login.
	{"sudo incorrect", "sudo[5]: alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash",
		Event{Kind: AuthFailure, User: "alice", Method: "sudo", Count: 3, Program: "sudo"}},
	{"sudo not in sudoers", "sudo:  mallory : user NOT in sudoers ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh",
		Event{Kind: AuthFailure, User: "mallory", Method: "sudo", Count: 1, Program: "sudo"}},
	{"su failed", "su[5]: FAILED SU (to root) alice on pts/0",
		Event{Kind: AuthFailure, User: "alice", Method: "su", Count: 1, Program: "su"}},
	{"su ok", "su[5]: (to root) alice on pts/0",
		Event{Kind: AuthSuccess, User: "alice", Method: "su", Count: 1, Program: "su"}},
	{"login failed", "login[5]: FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure",
		Event{Kind: AuthFailure, User: "root", Method: "login", Count: 1, Program: "login"}},
	{"login root", "login[5]: ROOT LOGIN  on '/dev/tty1'",
		Event{Kind: AuthSuccess, User: "root", Method: "login", Count: 1, Program: "login"}},

	// shadow-utils.
	{"passwd", "passwd[5]: pam_unix(passwd:chauthtok): password changed for alice",
		Event{Kind: PasswordChange, User: "alice", Count: 1, Program: "passwd"}},
	{"usermod password", "usermod[5]: change user 'bob' password",
		Event{Kind: PasswordChange, User: "bob", Count: 1, Program: "usermod"}},
	{"useradd uid 0", "useradd[5]: new user: name=toor, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0",
		Event{Kind: AccountAdded, User: "toor", Count: 1, Program: "useradd", UID: "0"}},
	{"userdel", "userdel[5]: delete user 'bob'",
		Event{Kind: AccountRemoved, User: "bob", Count: 1, Program: "userdel"}},
	{"usermod group", "usermod[5]: add 'bob' to group 'sudo'",
		Event{Kind: AccountChanged, User: "bob", Count: 1, Program: "usermod"}},
	{"new group", "useradd[5]: new group: name=bob, GID=1001", Event{}},

	// auditd.
	{"audit", `type=USER_AUTH msg=audit(1795370401.123:456): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct="root" exe="/usr/sbin/sshd" hostname=203.0.113.7 addr=203.0.113.7 terminal=ssh res=failed'`,
		Event{Kind: AuthFailure, User: "root", Source: "203.0.113.7", Method: "pam", Count: 1, Program: "sshd", Time: time.Unix(1795370401, 123e6).UTC()}},
	{"audit session", `type=USER_START msg=audit(1795370401.123:457): pid=1 uid=0 msg='op=PAM:session_open grantors=pam_unix acct="root" exe="/usr/sbin/sshd" hostname=? addr=203.0.113.7 terminal=ssh res=success'`, Event{}},

	// Network vendors.
	{"cisco failed", "<189>12: *Nov 22 18:00:01.123: %SEC_LOGIN-4-LOGIN_FAILED: Login failed [user: admin] [Source: 10.1.1.9] [localport: 22] [Reason: Login Authentication Failed] at 18:00:01 UTC Sun Nov 22 2026",
		Event{Kind: AuthFailure, User: "admin", Source: "10.1.1.9", Method: "ssh", Count: 1, Program: "SEC_LOGIN-4-LOGIN_FAILED"}},
	{"cisco ssh2", "<189>Nov 22 18:00:01 rtr 13: %SSH-5-SSH2_USERAUTH: User 'admin' authentication for SSH2 Session from 10.1.1.9 (tty = 0) using crypto cipher 'aes256-ctr', hmac 'hmac-sha2-256' Succeeded",
		Event{Kind: AuthSuccess, User: "admin", Source: "10.1.1.9", Method: "ssh", Count: 1, Program: "SSH-5-SSH2_USERAUTH", Time: nov22}},
	{"junos sshd", "<38>Nov 22 18:00:01 mx1 sshd[77]: SSHD_LOGIN_FAILED: Login failed for user 'root' from host '10.2.2.2'",
		Event{Kind: AuthFailure, User: "root", Source: "10.2.2.2", Method: "ssh", Count: 1, Program: "sshd", Time: nov22}},
	{"junos 5424", `<38>1 2026-11-22T18:00:01Z mx1 sshd 77 SSHD_LOGIN_FAILED [junos@2636.1.1.1.2.18 username="root" source-address="10.2.2.2"] Login failed for user 'root' from host '10.2.2.2'`,
		Event{Kind: AuthFailure, User: "root", Source: "10.2.2.2", Method: "ssh", Count: 1, Program: "sshd", Time: nov22}},
	{"junos ui auth", "mgd[77]: UI_AUTH_EVENT: Authenticated user 'lab' at permission level 'super-user'",
		Event{Kind: AuthSuccess, User: "lab", Method: "login", Count: 1, Program: "mgd"}},
	{"mikrotik", "<134>Nov 22 18:00:01 MikroTik system,error,critical login failure for user admin from 192.168.88.9 via winbox",
		Event{Kind: AuthFailure, User: "admin", Source: "192.168.88.9", Method: "winbox", Count: 1, Program: "routeros", Time: nov22}},
	{"mikrotik logged out", "<134>Nov 22 18:00:01 MikroTik system,info,account user admin logged out from 192.168.88.9 via ssh", Event{}},
	{"fortios", `<185>date=2026-11-22 time=18:05:11 devname="FGT" logid="0100032002" type="event" subtype="system" tz="-0500" logdesc="Admin login failed" user="admin" ui="https(10.3.3.3)" method="https" srcip=10.3.3.3 action="login" status="failed" msg="Administrator admin login failed from https(10.3.3.3) because of invalid password"`,
		Event{Kind: AuthFailure, User: "admin", Source: "10.3.3.3", Method: "web", Count: 1, Program: "fortios", Time: utc(2026, time.November, 22, 23, 5, 11, 0)}},
	{"luci", "<86>Nov 22 18:00:01 OpenWrt luci: accepted login on / for root from 192.168.1.100",
		Event{Kind: AuthSuccess, User: "root", Source: "192.168.1.100", Method: "web", Count: 1, Program: "luci", Time: nov22}},
	{"freeradius", "Sun Nov 22 18:00:01 2026 : Auth: (123) Login incorrect (pap: Cleartext password does not match \"known good\" password): [bob/<via Auth-Type = PAP>] (from client localhost port 0 cli 10.4.4.4)",
		Event{Kind: AuthFailure, User: "bob", Source: "10.4.4.4", Method: "radius", Count: 1, Program: "radiusd", Time: nov22}},

	{"trailing newline", "passwd[5]: pam_unix(passwd:chauthtok): password changed for alice\r\n",
		Event{Kind: PasswordChange, User: "alice", Count: 1, Program: "passwd"}},
	{"injected user name", "sshd[1]: Failed password for invalid user x from 10.9.9.9 port 22 ssh2 from 203.0.113.7 port 4242 ssh2",
		Event{Kind: AuthFailure, User: "x from 10.9.9.9 port 22 ssh2", Source: "203.0.113.7", Method: "password", Count: 1, Program: "sshd"}},
	{"injected key comment", "sshd[1]: Failed publickey for bob from 203.0.113.7 port 4242 ssh2: from 10.9.9.9 port 22 ssh2",
		Event{Kind: AuthFailure, User: "bob", Source: "203.0.113.7", Method: "publickey", Count: 1, Program: "sshd"}},
	{"rhel4 pam tag", "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root",
		Event{Kind: AuthFailure, User: "root", Source: "218.188.2.4", Method: "pam", Count: 1, Program: "sshd", Time: utc(2026, time.June, 14, 15, 16, 1, 0)}},
	{"cisco after a percent sign", "<189>12: *Nov 22 18:00:01: CPU 100% %SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: a] [Source: 10.1.1.9] [localport: 23] at 18:00:01 UTC Sun Nov 22 2026",
		Event{Kind: AuthSuccess, User: "a", Source: "10.1.1.9", Method: "telnet", Count: 1, Program: "SEC_LOGIN-5-LOGIN_SUCCESS"}},

	// Junk.
	{"empty", "", Event{}},
	{"binary", "\x00\x01\xff\xfeFailed password for \x00 from", Event{}},
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range parseCases {
		ref := refTime
		if tc.name == "3164 december read in january" {
			ref = utc(2026, time.January, 1, 0, 0, 10, 0)
		}
		got, ok := Parse([]byte(tc.line), ref)
		if wantOK := tc.want.Kind != ""; ok != wantOK {
			t.Errorf("%s: Parse ok = %v, want %v (got %+v)\n\t%q", tc.name, ok, wantOK, got, tc.line)
			continue
		}
		if !got.Time.Equal(tc.want.Time) {
			t.Errorf("%s: Time = %v, want %v", tc.name, got.Time, tc.want.Time)
		}
		got.Time, tc.want.Time = time.Time{}, time.Time{}
		if got != tc.want {
			t.Errorf("%s:\n\tgot  %+v\n\twant %+v", tc.name, got, tc.want)
		}
	}
}

// TestParseCleansFields checks that whatever a line carries, the fields are
// printable.
func TestParseCleansFields(t *testing.T) {
	t.Parallel()
	ev, ok := Parse([]byte("sshd[1]: Failed password for ro\x1bot\xff from 203.0.113.7 port 1 ssh2"), refTime)
	if !ok {
		t.Fatal("not parsed")
	}
	if want := "ro\uFFFDot\uFFFD"; ev.User != want {
		t.Errorf("User = %q, want %q", ev.User, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.line))
	}
	for _, c := range loadCorpus(f) {
		f.Add(c.line)
	}
	for _, c := range loadCorpusFile(f, "appliance.tsv") {
		f.Add(c.line)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, ok := Parse(line, refTime)
		all, allOK := ParseAll(line, refTime)
		if all.Kind == ConfigChange || all.Kind == Restart {
			if !allOK || ok || all.Count != 1 || !utf8.ValidString(all.User) || !utf8.ValidString(all.Path) ||
				!utf8.ValidString(all.Version) || len(all.Version) > 4*maxField || !utf8.ValidString(all.Model) {
				t.Errorf("ParseAll = %v %+v, Parse ok=%v", allOK, all, ok)
			}
		} else if allOK != ok || !sameEvent(all, ev) {
			t.Errorf("ParseAll = %v %+v, Parse = %v %+v", allOK, all, ok, ev)
		}
		if !ok {
			if ev != (Event{}) {
				t.Fatalf("ok=false with a non-zero event %+v", ev)
			}
			return
		}
		if ev.Count < 1 {
			t.Errorf("Count = %d", ev.Count)
		}
		switch ev.Kind {
		case AuthFailure, AuthSuccess, PasswordChange, AccountAdded, AccountRemoved, AccountChanged:
		default:
			t.Errorf("Kind = %q", ev.Kind)
		}
		for name, s := range map[string]string{"User": ev.User, "Source": ev.Source, "Method": ev.Method, "Program": ev.Program} {
			if !utf8.ValidString(s) || len(s) > maxField+3*maxField {
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

func BenchmarkParse(b *testing.B) {
	corpus := loadCorpus(b)
	var size int
	for _, c := range corpus {
		size += len(c.line)
	}
	b.SetBytes(int64(size / len(corpus)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		Parse(corpus[i%len(corpus)].line, refTime)
	}
}

func BenchmarkParseNegative(b *testing.B) {
	var neg [][]byte
	for _, c := range loadCorpus(b) {
		if c.kind == "none" {
			neg = append(neg, c.line)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Parse(neg[i%len(neg)], refTime)
	}
}

// TestEventOwnsItsStrings: Parse reads the line in place, so what it
// returns must not change when the caller reuses the line's buffer.
func TestEventOwnsItsStrings(t *testing.T) {
	line := []byte("Nov 22 18:00:00 gw sshd[42]: Failed password for invalid user admin from 203.0.113.9 port 2222 ssh2")
	ev, ok := Parse(line, refTime)
	if !ok {
		t.Fatal("not parsed")
	}
	want := ev
	for i := range line {
		line[i] = 'Z'
	}
	if ev != want || ev.User != "admin" || ev.Source != "203.0.113.9" || ev.Program != "sshd" {
		t.Fatalf("after the buffer was reused the event reads %+v", ev)
	}
}

// sameEvent compares events with Time.Equal: each parse of a stamp with an
// offset makes its own zone, so == on the times would differ.
func sameEvent(a, b Event) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

// FuzzIndexAround holds indexAround to the strings.Index it replaces.
func FuzzIndexAround(f *testing.F) {
	for _, s := range []string{"a via b", "via b", "a via", "a  via  b", "trivia via x", "x : y", " : y", ":", "  :  ", "a:b : c", "vvia via"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, word := range []string{"via", ":"} {
			want := strings.Index(s, " "+word+" ")
			if want >= 0 {
				want++
			}
			if got := indexAround(s, word, ' ', ' '); got != want {
				t.Errorf("indexAround(%q, %q) = %d, want %d", s, word, got, want)
			}
		}
	})
}
