package notify

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/yamlconf"
	"github.com/offbox/offbox/transport/tlsconf"
	"golang.org/x/net/http/httpguts"
)

// Sink types.
const (
	TypeWebhook      = "webhook"
	TypeSlack        = "slack"
	TypeAlertmanager = "alertmanager"
	TypeEmail        = "email"
)

// DefaultTimeout is how long one HTTP attempt to a sink may take.
const DefaultTimeout = 10 * time.Second

// SinkConfig is one destination of alerts, as written under
// alerting.sinks in the collector's configuration. The zero value of each
// optional field is its default.
type SinkConfig struct {
	Name        string            `yaml:"name"`         // unique; deliveries are stored under it, so renaming a sink orphans its queue
	Type        string            `yaml:"type"`         // webhook, slack, alertmanager or email
	URL         string            `yaml:"url"`          // http or https; for alertmanager its base URL (/api/v2/alerts is added)
	Headers     map[string]string `yaml:"headers"`      // webhook only: extra request headers, such as Authorization
	MinSeverity string            `yaml:"min_severity"` // info (default), warning or critical
	Kinds       []string          `yaml:"kinds"`        // only these alert kinds; empty: all
	Timeout     time.Duration     `yaml:"timeout"`      // of one HTTP attempt (email: one SMTP session); 0: 10s (email: 30s)
	CA          string            `yaml:"ca"`           // PEM file of the CAs to trust for https (or the mail server's TLS); "": the system's

	Email `yaml:",inline"` // type email only: the mail server and the message (email.go)
}

// severityRank orders severities; an unknown severity ranks above critical
// so that a filter never holds back an alert it does not understand.
func severityRank(s string) int {
	switch s {
	case "", store.SeverityInfo:
		return 0
	case store.SeverityWarning:
		return 1
	case store.SeverityCritical:
		return 2
	}
	return 3
}

// Wants reports whether alerts like a are delivered to the sink: a's
// severity is at least MinSeverity and, when Kinds is set, a's kind is one
// of them. The detection runner queues an alert only for the sinks that want
// it.
func (c SinkConfig) Wants(a store.Alert) bool {
	if severityRank(a.Severity) < severityRank(c.MinSeverity) {
		return false
	}
	return len(c.Kinds) == 0 || slices.Contains(c.Kinds, a.Kind)
}

// timeout is Timeout with its default.
func (c *SinkConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Check reports every problem with the sink, each naming the sink and the
// key, so a bad configuration fails before the collector starts. Each
// problem is a yamlconf.FieldError whose path is the key within the sink
// ("url", "kinds[1]"), so the configuration can name its line.
func (c *SinkConfig) Check() error { return c.check(true) }

// CheckSyntax is Check without reading the ca file: the values alone, for
// a configuration meant for another machine.
func (c *SinkConfig) CheckSyntax() error { return c.check(false) }

func (c *SinkConfig) check(files bool) error {
	var errs []error
	name := c.Name
	if name == "" {
		name = "(unnamed)"
	}
	bad := func(key, format string, args ...any) {
		errs = append(errs, yamlconf.Fieldf(key, "alerting.sinks %s: "+format, append([]any{name}, args...)...))
	}
	if p := yamlconf.NameProblem(c.Name); p != "" {
		bad("name", "%s", p)
	}
	switch c.Type {
	case TypeWebhook, TypeSlack, TypeAlertmanager, TypeEmail:
	case "":
		bad("type", "type: required (webhook, slack, alertmanager or email)")
	default:
		bad("type", "type %q: want webhook, slack, alertmanager or email", c.Type)
	}
	https := false
	if c.Type == TypeEmail {
		if c.URL != "" {
			bad("url", "url: an email sink takes smtp (HOST:PORT of the mail server), not url")
		}
	} else if c.URL == "" {
		bad("url", "url: required")
	} else if u, err := url.Parse(c.URL); err != nil {
		bad("url", "url: %v", err)
	} else if u.Scheme != "http" && u.Scheme != "https" {
		bad("url", "url %q: scheme must be http or https", redact(u))
	} else if u.Host == "" {
		bad("url", "url %q: no host", redact(u))
	} else {
		https = u.Scheme == "https"
	}
	if len(c.Headers) > 0 && c.Type != TypeWebhook && c.Type != "" {
		bad("headers", "headers: only a webhook sink takes headers, not %s", c.Type)
	}
	for _, k := range sortedKeys(c.Headers) {
		if !httpguts.ValidHeaderFieldName(k) {
			bad("headers."+k, "headers: %q is not a valid header name", k)
		} else if reservedHeader(k) {
			bad("headers."+k, "headers: %s is set by offbox", k)
		}
		if strings.ContainsAny(c.Headers[k], "\r\n\x00") {
			bad("headers."+k, "headers: %s: value contains a line break or NUL", k)
		}
	}
	switch c.MinSeverity {
	case "", store.SeverityInfo, store.SeverityWarning, store.SeverityCritical:
	default:
		bad("min_severity", "min_severity %q: want info, warning or critical", c.MinSeverity)
	}
	for i, k := range c.Kinds {
		if k == "" {
			bad(fmt.Sprintf("kinds[%d]", i), "kinds[%d]: empty", i)
		} else if slices.Contains(c.Kinds[:i], k) {
			bad(fmt.Sprintf("kinds[%d]", i), "kinds: %q listed twice", k)
		}
	}
	if c.Timeout < 0 {
		bad("timeout", "timeout %s: must not be negative", c.Timeout)
	}
	if c.CA != "" {
		if c.Type == TypeEmail {
			if c.TLS == TLSNone {
				bad("ca", "ca: set, but tls is none")
			}
		} else if !https && c.URL != "" {
			bad("ca", "ca: set, but url is not https")
		}
		if files {
			if _, err := tlsconf.LoadCAPool(c.CA); err != nil {
				bad("ca", "ca: %v", err)
			}
		}
	}
	c.checkEmail(files, bad)
	return errors.Join(errs...)
}

// CheckSinks checks every sink and that no two share a name. Problems are
// yamlconf.FieldErrors with paths relative to the list ("[1].url").
func CheckSinks(sinks []SinkConfig) error { return checkSinks(sinks, true) }

// CheckSinksSyntax is CheckSinks without reading any file.
func CheckSinksSyntax(sinks []SinkConfig) error { return checkSinks(sinks, false) }

func checkSinks(sinks []SinkConfig, files bool) error {
	var errs []error
	seen := make(map[string]bool)
	for i := range sinks {
		at := fmt.Sprintf("[%d]", i)
		if err := sinks[i].check(files); err != nil {
			errs = append(errs, yamlconf.Under(at, err))
		}
		n := sinks[i].Name
		if n == "" {
			continue
		}
		if seen[n] {
			errs = append(errs, yamlconf.Fieldf(at+".name", "alerting.sinks %s: name: used by more than one sink", n))
		}
		seen[n] = true
	}
	return errors.Join(errs...)
}

// redact is u without its password, for messages.
func redact(u *url.URL) string { return u.Redacted() }

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// reservedHeader: headers the dispatcher sets itself or that net/http owns.
func reservedHeader(k string) bool {
	switch strings.ToLower(k) {
	case "content-type", "content-length", "host", "idempotency-key", "transfer-encoding", "connection":
		return true
	}
	return false
}
