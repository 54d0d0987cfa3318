package notify

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLS modes of an email sink.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, which the server must offer (the default)
	TLSImplicit = "implicit" // TLS from the first byte (submissions, port 465)
	TLSNone     = "none"     // no TLS at all: only when written, and never with a password
)

// Defaults and limits of email sinks.
const (
	DefaultDigestWindow = time.Minute
	DefaultEmailTimeout = 30 * time.Second

	maxDigestWindow = time.Hour
	maxRecipients   = 100
)

// Email is the part of a sink's configuration that only type email takes.
// A secret is never written in the configuration itself: the password is
// read from password_file, which must not be readable by everyone.
type Email struct {
	SMTP         string        `yaml:"smtp"`          // HOST[:PORT] of the mail server; port by tls: 587, 465, 25
	TLS          string        `yaml:"tls"`           // starttls (default), implicit, or none (plain text, only when written)
	Username     string        `yaml:"username"`      // for AUTH PLAIN; "": no authentication
	PasswordFile string        `yaml:"password_file"` // file whose first line is the password; required with username
	From         string        `yaml:"from"`          // the sender: addr@example.net or "Name <addr@example.net>"
	To           []string      `yaml:"to"`            // the recipients, at least one
	DigestWindow time.Duration `yaml:"digest_window"` // alerts due within this long of the first go out as one message; 0: 1m
}

// set reports whether any email key is set, for the check that other
// sink types take none.
func (e *Email) set() []string {
	var keys []string
	for k, v := range map[string]bool{"smtp": e.SMTP != "", "tls": e.TLS != "", "username": e.Username != "",
		"password_file": e.PasswordFile != "", "from": e.From != "", "to": len(e.To) > 0, "digest_window": e.DigestWindow != 0} {
		if v {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// tlsMode is TLS with its default.
func (e *Email) tlsMode() string {
	if e.TLS == "" {
		return TLSStartTLS
	}
	return e.TLS
}

// digestWindow is DigestWindow with its default.
func (e *Email) digestWindow() time.Duration {
	if e.DigestWindow <= 0 {
		return DefaultDigestWindow
	}
	return e.DigestWindow
}

// smtpAddr is the server's host and HOST:PORT, the port defaulted by the
// TLS mode.
func (e *Email) smtpAddr() (host, addr string, err error) {
	s := e.SMTP
	host, port := s, ""
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	} else if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		if host, port, err = net.SplitHostPort(s); err != nil {
			return "", "", err
		}
		if port == "" {
			return "", "", fmt.Errorf("empty port")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("port %q: want 1 to 65535", port)
		}
	} else if strings.Contains(s, ":") {
		return "", "", fmt.Errorf("an IPv6 address needs brackets: [%s]:587", s)
	}
	if host == "" {
		return "", "", fmt.Errorf("no host")
	}
	if strings.ContainsFunc(host, func(r rune) bool { return isControl(r) || r == ' ' || r == '/' || r == '@' }) {
		return "", "", fmt.Errorf("host %q: not a host name or address", host)
	}
	if port == "" {
		port = map[string]string{TLSStartTLS: "587", TLSImplicit: "465", TLSNone: "25"}[e.tlsMode()]
		if port == "" {
			port = "587"
		}
	}
	return host, net.JoinHostPort(host, port), nil
}

// parseAddress parses one address of from or to: an RFC 5322 mailbox
// with a domain, nothing else.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsFunc(s, isControl) {
		return nil, fmt.Errorf("contains a line break or control character")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	if strings.ContainsFunc(a.Address, func(r rune) bool { return r >= 0x80 }) {
		return nil, fmt.Errorf("%s: not ASCII (internationalised addresses are not supported; a display name may be anything)", a.Address)
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return nil, fmt.Errorf("no domain")
	}
	return a, nil
}

// checkEmail adds the problems of the email keys to bad: for type email
// every key's value, for any other type that none is set.
func (c *SinkConfig) checkEmail(files bool, bad func(key, format string, args ...any)) {
	e := &c.Email
	if c.Type != TypeEmail {
		if c.Type != "" {
			for _, k := range e.set() {
				bad(k, "%s: only an email sink takes %s, not %s", k, k, c.Type)
			}
		}
		return
	}
	if e.SMTP == "" {
		bad("smtp", "smtp: required (HOST:PORT of the mail server, such as mail.example.net:587)")
	} else if _, _, err := e.smtpAddr(); err != nil {
		bad("smtp", "smtp %q: %v", e.SMTP, err)
	}
	switch e.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		bad("tls", "tls %q: want starttls (the default), implicit or none", e.TLS)
	}
	switch {
	case e.Username != "" && e.PasswordFile == "":
		bad("password_file", "password_file: required with username (a file holding the password)")
	case e.Username == "" && e.PasswordFile != "":
		bad("username", "username: required with password_file")
	}
	if strings.ContainsFunc(e.Username, isControl) {
		bad("username", "username: contains a control character")
	}
	if e.Username != "" && e.TLS == TLSNone {
		bad("username", "username: tls none would send the password in clear; use starttls or implicit")
	}
	if files && e.PasswordFile != "" {
		if _, err := readPassword(e.PasswordFile); err != nil {
			bad("password_file", "password_file: %v", err)
		}
	}
	if e.From == "" {
		bad("from", "from: required (the sender address, such as offbox@example.net)")
	} else if _, err := parseAddress(e.From); err != nil {
		bad("from", "from %q: %v", e.From, err)
	}
	if len(e.To) == 0 {
		bad("to", "to: required (a list of at least one recipient address)")
	} else if len(e.To) > maxRecipients {
		bad("to", "to: %d recipients, at most %d (use a mailing list)", len(e.To), maxRecipients)
	}
	seen := map[string]bool{}
	for i, t := range e.To {
		key := fmt.Sprintf("to[%d]", i)
		a, err := parseAddress(t)
		if err != nil {
			bad(key, "%s %q: %v", key, t, err)
			continue
		}
		if seen[strings.ToLower(a.Address)] {
			bad(key, "to: %s listed twice", a.Address)
		}
		seen[strings.ToLower(a.Address)] = true
	}
	if e.DigestWindow < 0 || e.DigestWindow > maxDigestWindow {
		bad("digest_window", "digest_window %s: want 0 (1m) up to %s", e.DigestWindow, maxDigestWindow)
	}
}

// readPassword reads the first line of a password file, which must not be
// readable by everyone and must not be empty.
func readPassword(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o004 != 0 {
		return "", fmt.Errorf("%s is readable by everyone (mode %v): chmod o-r it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	pw = strings.TrimSuffix(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("%s: empty first line", path)
	}
	return pw, nil
}

// Describe is a one-line summary of the sink for check-config: where its
// alerts go and how. It holds no secret.
func (c *SinkConfig) Describe() string {
	filter := ""
	if c.MinSeverity != "" {
		filter += ", min_severity " + c.MinSeverity
	}
	if len(c.Kinds) > 0 {
		filter += ", kinds " + strings.Join(c.Kinds, ",")
	}
	if c.Type != TypeEmail {
		where := c.URL
		if c.Type == TypeAlertmanager {
			where = alertmanagerURL(c.URL)
		}
		if len(c.Headers) > 0 {
			filter += fmt.Sprintf(", %d extra headers", len(c.Headers))
		}
		return fmt.Sprintf("%s: %s to %s%s", c.Name, c.Type, redactURL(where), filter)
	}
	e := &c.Email
	_, addr, _ := e.smtpAddr()
	how := e.tlsMode()
	if how != TLSNone {
		if c.CA != "" {
			how += ", server verified against " + c.CA
		} else {
			how += ", server verified against the system CAs"
		}
	}
	if e.Username != "" {
		how += ", AUTH PLAIN as " + e.Username + " (password from " + e.PasswordFile + ")"
	}
	return fmt.Sprintf("%s: email from %s to %s via %s (%s), digest window %s%s",
		c.Name, e.From, strings.Join(e.To, ", "), addr, how, e.digestWindow(), filter)
}

// redactURL is s without a password in it, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(an invalid url)"
	}
	return redact(u)
}
