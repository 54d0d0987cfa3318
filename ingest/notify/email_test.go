package notify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/yamlconf"
)

func TestEmailSinkCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "pw-open")
	if err := os.WriteFile(open, []byte("s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "pw-empty")
	if err := os.WriteFile(empty, []byte("\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := SinkConfig{Name: "mail", Type: TypeEmail, Email: Email{SMTP: "mail.example.net:587",
		From: "offbox <offbox@example.net>", To: []string{"soc@example.net"}}}
	for _, tc := range []struct {
		name   string
		change func(*SinkConfig)
		want   []string // substrings of the error, each with its key path; none: valid
	}{
		{"valid", func(*SinkConfig) {}, nil},
		{"valid full", func(c *SinkConfig) {
			c.TLS, c.Username, c.PasswordFile, c.DigestWindow = TLSImplicit, "offbox", pw, 10*time.Second
			c.To = append(c.To, "Jörg <joerg@example.org>")
			c.MinSeverity = "warning"
		}, nil},
		{"plain, written", func(c *SinkConfig) { c.TLS, c.SMTP = TLSNone, "relay.lan" }, nil},
		{"ipv6", func(c *SinkConfig) { c.SMTP = "[2001:db8::1]:25" }, nil},
		{"missing smtp", func(c *SinkConfig) { c.SMTP = "" }, []string{"smtp|alerting.sinks mail: smtp: required"}},
		{"url instead of smtp", func(c *SinkConfig) { c.URL = "smtp://mail.example.net" }, []string{"url|url: an email sink takes smtp"}},
		{"bad port", func(c *SinkConfig) { c.SMTP = "mail.example.net:99999" }, []string{`smtp|smtp "mail.example.net:99999": port "99999": want 1 to 65535`}},
		{"empty port", func(c *SinkConfig) { c.SMTP = "mail.example.net:" }, []string{"smtp|empty port"}},
		{"bare ipv6", func(c *SinkConfig) { c.SMTP = "2001:db8::1" }, []string{"smtp|needs brackets"}},
		{"smtp url", func(c *SinkConfig) { c.SMTP = "smtp://mail.example.net" }, []string{`smtp|smtp "smtp://mail.example.net"`}},
		{"bad tls", func(c *SinkConfig) { c.TLS = "ssl" }, []string{`tls|alerting.sinks mail: tls "ssl": want starttls (the default), implicit or none`}},
		{"username without password", func(c *SinkConfig) { c.Username = "offbox" }, []string{"password_file|password_file: required with username"}},
		{"password without username", func(c *SinkConfig) { c.PasswordFile = pw }, []string{"username|username: required with password_file"}},
		{"password in clear", func(c *SinkConfig) { c.TLS, c.Username, c.PasswordFile = TLSNone, "u", pw }, []string{"username|tls none would send the password in clear"}},
		{"password file readable by all", func(c *SinkConfig) { c.Username, c.PasswordFile = "u", open }, []string{"password_file|readable by everyone"}},
		{"password file missing", func(c *SinkConfig) { c.Username, c.PasswordFile = "u", filepath.Join(dir, "nope") }, []string{"password_file|no such file"}},
		{"password file empty", func(c *SinkConfig) { c.Username, c.PasswordFile = "u", empty }, []string{"password_file|empty first line"}},
		{"ca with tls none", func(c *SinkConfig) { c.TLS, c.CA = TLSNone, pw }, []string{"ca|ca: set, but tls is none"}},
		{"missing from", func(c *SinkConfig) { c.From = "" }, []string{"from|from: required"}},
		{"bad from", func(c *SinkConfig) { c.From = "offbox at example" }, []string{`from|from "offbox at example"`}},
		{"from without domain", func(c *SinkConfig) { c.From = "offbox@" }, []string{"from|from"}},
		{"from with a line break", func(c *SinkConfig) { c.From = "a@example.net\r\nBcc: b@example.net" }, []string{"from|line break"}},
		{"non-ascii address", func(c *SinkConfig) { c.To = []string{"Jörg <jörg@example.net>"} }, []string{"to[0]|not ASCII"}},
		{"missing to", func(c *SinkConfig) { c.To = nil }, []string{"to|to: required"}},
		{"bad to", func(c *SinkConfig) { c.To = []string{"soc@example.net", "not an address"} }, []string{`to[1]|to[1] "not an address"`}},
		{"to twice", func(c *SinkConfig) { c.To = []string{"soc@example.net", "SOC <soc@example.net>"} }, []string{"to[1]|to: soc@example.net listed twice"}},
		{"too many to", func(c *SinkConfig) {
			c.To = nil
			for i := range maxRecipients + 1 {
				c.To = append(c.To, strings.Repeat("a", i+1)+"@example.net")
			}
		}, []string{"to|101 recipients, at most 100"}},
		{"negative window", func(c *SinkConfig) { c.DigestWindow = -time.Second }, []string{"digest_window|digest_window -1s"}},
		{"window too long", func(c *SinkConfig) { c.DigestWindow = 2 * time.Hour }, []string{"digest_window|digest_window 2h0m0s: want 0 (1m) up to 1h0m0s"}},
		{"email keys on a webhook", func(c *SinkConfig) {
			c.Type, c.URL = TypeWebhook, "https://h/"
			c.Email = Email{To: []string{"a@example.net"}, DigestWindow: time.Second}
		}, []string{"to|to: only an email sink takes to, not webhook", "digest_window|only an email sink takes digest_window"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tc.change(&c)
			err := c.Check()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				key, msg, _ := strings.Cut(w, "|")
				if !hasFieldError(err, key, msg) {
					t.Errorf("Check() = %q, want a problem at %s containing %q", err, key, msg)
				}
			}
		})
	}
}

// hasFieldError reports whether err holds a yamlconf.FieldError at path
// whose message contains msg.
func hasFieldError(err error, path, msg string) bool {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		var fe *yamlconf.FieldError
		if errors.As(e, &fe) && fe.Path == path && strings.Contains(fe.Error(), msg) {
			return true
		}
	}
	return false
}

func TestEmailSMTPAddrDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ smtp, tls, want string }{
		{"mail.example.net", "", "mail.example.net:587"},
		{"mail.example.net", TLSImplicit, "mail.example.net:465"},
		{"mail.example.net", TLSNone, "mail.example.net:25"},
		{"mail.example.net:2525", TLSImplicit, "mail.example.net:2525"},
		{"[::1]:25", "", "[::1]:25"},
		{"[::1]", "", "[::1]:587"},
	} {
		e := Email{SMTP: tc.smtp, TLS: tc.tls}
		if _, got, err := e.smtpAddr(); err != nil || got != tc.want {
			t.Errorf("smtp %q tls %q: %q, %v; want %q", tc.smtp, tc.tls, got, err, tc.want)
		}
	}
}

func TestSinkDescribe(t *testing.T) {
	t.Parallel()
	mail := SinkConfig{Name: "mail", Type: TypeEmail, MinSeverity: "warning", Email: Email{SMTP: "mail.example.net",
		Username: "offbox", PasswordFile: "/etc/offbox-ingest/smtp-password", From: "offbox@example.net",
		To: []string{"a@example.net", "b@example.net"}}}
	want := "mail: email from offbox@example.net to a@example.net, b@example.net via mail.example.net:587 " +
		"(starttls, server verified against the system CAs, AUTH PLAIN as offbox (password from /etc/offbox-ingest/smtp-password)), " +
		"digest window 1m0s, min_severity warning"
	if got := mail.Describe(); got != want {
		t.Errorf("Describe() =\n%s\nwant\n%s", got, want)
	}
	hook := SinkConfig{Name: "hook", Type: TypeWebhook, URL: "https://u:secret@h/x"}
	if got := hook.Describe(); got != "hook: webhook to https://u:xxxxx@h/x" {
		t.Errorf("Describe() = %q", got)
	}
	am := SinkConfig{Name: "am", Type: TypeAlertmanager, URL: "http://am:9093"}
	if got := am.Describe(); got != "am: alertmanager to http://am:9093/api/v2/alerts" {
		t.Errorf("Describe() = %q", got)
	}
}
