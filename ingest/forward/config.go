package forward

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/offbox/offbox/internal/yamlconf"
	"github.com/offbox/offbox/transport/tlsconf"
	"golang.org/x/net/http/httpguts"
)

// Sink types, transports and HTTP formats.
const (
	TypeSyslog = "syslog"
	TypeHTTP   = "http"

	TransportTLS = "tls"
	TransportTCP = "tcp"
	TransportUDP = "udp"

	FormatNDJSON    = "ndjson"
	FormatESBulk    = "es_bulk"
	FormatSplunkHEC = "splunk_hec"
)

// Defaults of SinkConfig's zero values.
const (
	DefaultBatchRecords  = 500
	DefaultTimeout       = 10 * time.Second
	DefaultMaxMessage    = 8192 // bytes of one syslog message over TCP/TLS (rsyslog's default $MaxMessageSize)
	DefaultMaxMessageUDP = 2048 // over UDP (RFC 5426 SHOULD)
	maxBatchRecords      = 10000
	maxMessageLimit      = 1 << 20
	minMessage           = 480 // RFC 5424 6.1: every receiver takes this much
)

// SinkConfig is one forward sink, as written under forward: in the
// collector's configuration. The zero value of each optional field is its
// default.
type SinkConfig struct {
	Name   string `yaml:"name"`   // unique; its cursor is stored under it, so renaming a sink starts it from the beginning
	Type   string `yaml:"type"`   // syslog or http
	Alerts bool   `yaml:"alerts"` // also forward every alert once, when first stored

	// syslog
	Address    string `yaml:"address"`     // HOST:PORT of the receiver
	Transport  string `yaml:"transport"`   // tls (default), tcp or udp; tcp and udp only when written
	Facility   int    `yaml:"facility"`    // syslog facility number 0-23; 0 means 16 (local0)
	MaxMessage int    `yaml:"max_message"` // bytes of one message, longer ones are cut; 0: 8192 (udp 2048)

	// http
	URL     string            `yaml:"url"`     // http or https
	Format  string            `yaml:"format"`  // ndjson (default), es_bulk or splunk_hec
	Headers map[string]string `yaml:"headers"` // extra request headers, such as Authorization
	Gzip    bool              `yaml:"gzip"`    // gzip the request bodies
	Index   string            `yaml:"index"`   // es_bulk: the _index of each action line; splunk_hec: the event's index

	// TLS of either type
	CA         string `yaml:"ca"`          // PEM of the CAs that sign the receiver's certificate; "": the system's
	Cert       string `yaml:"cert"`        // client certificate (PEM), when the receiver asks for one
	Key        string `yaml:"key"`         // its key
	ServerName string `yaml:"server_name"` // the name to verify; "": the host of address or url

	BatchRecords int           `yaml:"batch_records"` // most records in one send (and one cursor save); 0: 500
	Timeout      time.Duration `yaml:"timeout"`       // of one connection or send; 0: 10s
}

func (c *SinkConfig) batchRecords() int {
	if c.BatchRecords <= 0 {
		return DefaultBatchRecords
	}
	return c.BatchRecords
}

func (c *SinkConfig) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c *SinkConfig) transport() string {
	if c.Transport == "" {
		return TransportTLS
	}
	return c.Transport
}

func (c *SinkConfig) facility() int {
	if c.Facility == 0 {
		return 16
	}
	return c.Facility
}

func (c *SinkConfig) maxMessage() int {
	switch {
	case c.MaxMessage > 0:
		return c.MaxMessage
	case c.transport() == TransportUDP:
		return DefaultMaxMessageUDP
	}
	return DefaultMaxMessage
}

func (c *SinkConfig) format() string {
	if c.Format == "" {
		return FormatNDJSON
	}
	return c.Format
}

// usesTLS reports whether the sink connects over TLS.
func (c *SinkConfig) usesTLS() bool {
	if c.Type == TypeHTTP {
		u, err := url.Parse(c.URL)
		return err == nil && u.Scheme == "https"
	}
	return c.transport() == TransportTLS
}

// CheckSinks checks every sink and that no two share a name; without
// files, no file the sinks name is read. Problems are yamlconf.FieldErrors
// with paths relative to the list ("[1].address").
func CheckSinks(sinks []SinkConfig, files bool) error {
	var errs []error
	seen := make(map[string]bool)
	for i := range sinks {
		at := fmt.Sprintf("[%d]", i)
		if err := sinks[i].check(files); err != nil {
			errs = append(errs, yamlconf.Under(at, err))
		}
		if n := sinks[i].Name; n != "" {
			if seen[n] {
				errs = append(errs, yamlconf.Fieldf(at+".name", "forward %s: name: used by more than one sink", n))
			}
			seen[n] = true
		}
	}
	return errors.Join(errs...)
}

func (c *SinkConfig) check(files bool) error {
	var errs []error
	name := c.Name
	if name == "" {
		name = "(unnamed)"
	}
	bad := func(key, format string, args ...any) {
		errs = append(errs, yamlconf.Fieldf(key, "forward %s: "+format, append([]any{name}, args...)...))
	}
	if p := yamlconf.NameProblem(c.Name); p != "" {
		bad("name", "%s", p)
	}
	switch c.Type {
	case TypeSyslog:
		if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
			bad("address", "address %q: want HOST:PORT", c.Address)
		}
		switch c.Transport {
		case "", TransportTLS, TransportTCP, TransportUDP:
		default:
			bad("transport", "transport %q: want tls, tcp or udp", c.Transport)
		}
		if c.Facility < 0 || c.Facility > 23 {
			bad("facility", "facility %d: want 0 to 23", c.Facility)
		}
		if c.MaxMessage != 0 && (c.MaxMessage < minMessage || c.MaxMessage > maxMessageLimit) {
			bad("max_message", "max_message %d: want %d to %d", c.MaxMessage, minMessage, maxMessageLimit)
		}
		if c.transport() == TransportUDP && c.MaxMessage > 65507 {
			bad("max_message", "max_message %d: a UDP datagram holds at most 65507", c.MaxMessage)
		}
		for k, v := range map[string]string{"url": c.URL, "format": c.Format, "index": c.Index} {
			if v != "" {
				bad(k, "%s: only an http sink takes it", k)
			}
		}
		if len(c.Headers) > 0 || c.Gzip {
			bad("headers", "headers and gzip: only an http sink takes them")
		}
	case TypeHTTP:
		if c.URL == "" {
			bad("url", "url: required")
		} else if u, err := url.Parse(c.URL); err != nil {
			bad("url", "url: not a valid URL")
		} else if u.Scheme != "http" && u.Scheme != "https" {
			bad("url", "url %q: scheme must be http or https", u.Redacted())
		} else if u.Host == "" {
			bad("url", "url %q: no host", u.Redacted())
		}
		switch c.Format {
		case "", FormatNDJSON, FormatESBulk, FormatSplunkHEC:
		default:
			bad("format", "format %q: want ndjson, es_bulk or splunk_hec", c.Format)
		}
		keys := make([]string, 0, len(c.Headers))
		for k := range c.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !httpguts.ValidHeaderFieldName(k) {
				bad("headers."+k, "headers: %q is not a valid header name", k)
			} else if reservedHeader(k) {
				bad("headers."+k, "headers: %s is set by offbox", k)
			}
			if strings.ContainsAny(c.Headers[k], "\r\n\x00") {
				bad("headers."+k, "headers: %s: value contains a line break or NUL", k)
			}
		}
		for k, v := range map[string]any{"address": c.Address, "transport": c.Transport} {
			if v != "" {
				bad(k, "%s: only a syslog sink takes it", k)
			}
		}
		if c.Facility != 0 || c.MaxMessage != 0 {
			bad("facility", "facility and max_message: only a syslog sink takes them")
		}
	case "":
		bad("type", "type: required (syslog or http)")
	default:
		bad("type", "type %q: want syslog or http", c.Type)
	}
	if (c.Cert == "") != (c.Key == "") {
		bad("cert", "cert and key: give both or neither")
	}
	if c.Type != "" && !c.usesTLS() {
		for k, v := range map[string]string{"ca": c.CA, "cert": c.Cert, "key": c.Key, "server_name": c.ServerName} {
			if v != "" {
				bad(k, "%s: set, but the sink does not use TLS", k)
			}
		}
	}
	if files && c.usesTLS() {
		for k, v := range map[string]string{"ca": c.CA, "cert": c.Cert, "key": c.Key} {
			if v == "" {
				continue
			}
			if f, err := os.Open(v); err != nil {
				bad(k, "%s: %v", k, err)
			} else {
				f.Close()
			}
		}
		if c.CA != "" {
			if _, err := tlsconf.LoadCAPool(c.CA); err != nil {
				bad("ca", "ca: %v", err)
			}
		}
	}
	if c.BatchRecords < 0 || c.BatchRecords > maxBatchRecords {
		bad("batch_records", "batch_records %d: want 1 to %d", c.BatchRecords, maxBatchRecords)
	}
	if c.Timeout < 0 {
		bad("timeout", "timeout %s: must not be negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// reservedHeader: headers the sink sets itself or that net/http owns.
func reservedHeader(k string) bool {
	switch strings.ToLower(k) {
	case "content-type", "content-length", "content-encoding", "host", "transfer-encoding", "connection":
		return true
	}
	return false
}

// Describe is the sink in a few words for check-config's summary: type,
// transport or format, where, and what it sends. A URL is shown without
// credentials or query.
func (c *SinkConfig) Describe() string {
	var s string
	switch c.Type {
	case TypeSyslog:
		s = "syslog " + c.transport() + " " + c.Address
	case TypeHTTP:
		where := c.URL
		if u, err := url.Parse(c.URL); err == nil {
			where = u.Scheme + "://" + u.Host + u.Path
		}
		s = "http " + c.format() + " " + where
		if c.Gzip {
			s += " gzip"
		}
	default:
		s = c.Type
	}
	if c.Alerts {
		return s + ", records and alerts"
	}
	return s + ", records"
}
