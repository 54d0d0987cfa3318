// Package config is offbox-ingest's configuration: the YAML file (strict:
// an unknown key or a wrong type is an error naming the file and line), the
// defaults, and the checks that make a bad configuration fail before
// anything listens. packaging/offbox-ingest.yaml documents every key and is loaded by the
// tests, so it cannot drift. This package never opens the database, the
// network or the key files; it only checks that what they need is there
// (and CheckSyntax, for a file meant for another machine, not even that).
// Each problem names its key, so that Source.Locate gives its line.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/offbox/offbox/internal/yamlconf"
)

// Config is the collector's configuration. Load starts from Default, so a
// key left out keeps its default.
type Config struct {
	Listen        string        `yaml:"listen"`          // host:port agents connect to
	TLS           TLS           `yaml:"tls"`             // the device CA and the collector's certificate
	DB            string        `yaml:"db"`              // SQLite database file; its directory must exist
	Store         string        `yaml:"store"`           // a postgres:// URL: collectors sharing that PostgreSQL database; instead of db
	Retention     time.Duration `yaml:"retention"`       // drop batches received longer ago than this; 0: keep them
	SQLiteSync    string        `yaml:"sqlite_sync"`     // full: durable at every commit; normal: may lose the last commits on power loss
	MaxBatchBytes int           `yaml:"max_batch_bytes"` // largest batch accepted, bytes
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`  // on SIGTERM, how long in-flight batches may take to commit and be acknowledged
	LogLevel      string        `yaml:"log_level"`       // debug, info, warn or error
	API           API           `yaml:"api"`             // the query API
	Detect        Detect        `yaml:"detect"`          // detection thresholds
	Alerting      Alerting      `yaml:"alerting"`        // alert delivery
	Devices       []DeviceRule  `yaml:"devices"`         // labels and settings by device id
	Enroll        Enroll        `yaml:"enroll"`          // device enrollment (enroll.go)
	Limits        Limits        `yaml:"limits"`          // per-device rate limits (limits.go)
	Metrics       Metrics       `yaml:"metrics"`         // Prometheus metrics listener (metrics.go)
	Forward       Forward       `yaml:"forward"`         // sinks sending stored records on to log platforms (forward.go)
	Search        Search        `yaml:"search"`          // search indexing (search.go)
	// MaxConnections caps the agents' listener (connections.go).
	MaxConnections int `yaml:"max_connections"` // open at once; more are reset and counted; 0: 16384
}

// TLS names the PEM files: the CA that signs device certificates, and the
// collector's own certificate and key. They are re-read on change.
type TLS struct {
	CA   string `yaml:"ca"`
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Defaults.
const (
	DefaultListen        = "127.0.0.1:7443"
	DefaultMaxBatchBytes = 8 << 20
	maxMaxBatchBytes     = 256 << 20 // beyond this a batch is not a batch
)

// Default is the configuration with nothing set.
func Default() Config {
	return Config{
		Listen:        DefaultListen,
		SQLiteSync:    "full",
		MaxBatchBytes: DefaultMaxBatchBytes,
		ShutdownGrace: 15 * time.Second,
		LogLevel:      "info",
		Detect:        defaultDetect(),
		Search:        Search{Index: true},
	}
}

// Load reads path over the defaults.
func Load(path string) (Config, error) {
	c, _, err := LoadSource(path)
	return c, err
}

// Source is the file a Config was read from: its name and the line of each
// key, so that a problem Check finds can be reported at its line.
type Source struct {
	Name  string
	lines map[string]int
}

// LoadSource is Load that also returns the file's Source.
func LoadSource(path string) (Config, Source, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		return c, Source{Name: path}, fmt.Errorf("config: %w", err)
	}
	src := Source{Name: path, lines: yamlconf.Lines(data)}
	if err := yamlconf.Decode(path, data, &c); err != nil {
		return c, src, err
	}
	return c, src, nil
}

// Locate puts the file and the line of its key in front of every problem
// in err (from Check or CheckSyntax): "offbox-ingest.yaml:12: tls.ca: …".
// skip lists the keys a command-line flag set, whose values are not the
// file's: their problems are left as they are.
func (s Source) Locate(err error, skip ...string) error {
	if s.Name == "" {
		return err
	}
	return yamlconf.Locate(s.Name, s.lines, err, skip...)
}

// Check reports every problem that would stop the collector, so one run
// names them all: missing settings, bad values, files that cannot be read,
// a database directory that does not exist. Each problem is a
// yamlconf.FieldError naming its key, for Source.Locate.
func (c *Config) Check() error { return c.check(true) }

// CheckSyntax is Check without looking at this machine: values are parsed
// and checked (durations, enumerations, URL, CIDR and address syntax) but
// no file is opened or looked at, no name resolved, nothing connected to.
// A build box checks a configuration meant for another machine with it.
func (c *Config) CheckSyntax() error { return c.check(false) }

func (c *Config) check(files bool) error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, yamlconf.Fieldf(key, format, args...)) }
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad("listen", "listen %q: want HOST:PORT", c.Listen)
	}
	for _, f := range []struct{ key, path string }{{"tls.ca", c.TLS.CA}, {"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}} {
		if f.path == "" {
			bad(f.key, "%s: required (-%s)", f.key, strings.TrimPrefix(f.key, "tls."))
			continue
		}
		if !files {
			continue
		}
		if err := readable(f.path); err != nil {
			bad(f.key, "%s: %v", f.key, err)
		}
	}
	switch {
	case c.Store != "" && c.DB != "":
		bad("store", "db and store are both set: db is the SQLite file, store a PostgreSQL URL; keep one")
	case c.Store != "":
		if err := CheckStoreURL(c.Store); err != nil {
			bad("store", "store: %v", err)
		}
	case c.DB == "":
		bad("db", "db: required (-db), or store: a postgres:// URL")
	case !files:
	default:
		if fi, err := os.Stat(filepath.Dir(c.DB)); err != nil {
			bad("db", "db %s: directory: %v", c.DB, err)
		} else if !fi.IsDir() {
			bad("db", "db %s: %s is not a directory", c.DB, filepath.Dir(c.DB))
		}
	}
	if s := strings.ToLower(c.SQLiteSync); s != "full" && s != "normal" {
		bad("sqlite_sync", "sqlite_sync %q: want full or normal", c.SQLiteSync)
	}
	if c.MaxBatchBytes <= 0 || c.MaxBatchBytes > maxMaxBatchBytes {
		bad("max_batch_bytes", "max_batch_bytes %d: want 1 to %d", c.MaxBatchBytes, maxMaxBatchBytes)
	}
	if c.Retention != 0 && c.Retention < MinRetention {
		bad("retention", "retention %s: want 0 (keep everything) or at least %s", c.Retention, MinRetention)
	}
	if c.ShutdownGrace < 0 {
		bad("shutdown_grace", "shutdown_grace %s: must not be negative", c.ShutdownGrace)
	}
	if _, err := c.Level(); err != nil {
		errs = append(errs, yamlconf.Field("log_level", err))
	}
	errs = append(errs, c.checkAlerting(files)...)
	errs = append(errs, c.Enroll.check(files)...)
	errs = append(errs, c.checkLimits()...)
	errs = append(errs, c.checkForward(files)...)
	errs = append(errs, c.checkAPI(files)...)
	errs = append(errs, c.checkMetrics()...)
	errs = append(errs, c.checkConnections()...)
	if files {
		errs = append(errs, c.checkKeyFiles()...)
	}
	return errors.Join(errs...)
}

// MinRetention is the shortest retention accepted: records must outlive
// detection, delivery and an operator's first look.
const MinRetention = time.Hour

// IsStoreURL reports whether s names a PostgreSQL database rather than a
// SQLite file.
func IsStoreURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// CheckStoreURL checks that s is a PostgreSQL URL (postgres://user@host/db);
// errors never repeat a password.
func CheckStoreURL(s string) error {
	if !IsStoreURL(s) {
		return errors.New("want a postgres:// URL (postgres://USER@HOST:PORT/DATABASE)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a valid URL") // url's error quotes the URL, password included
	}
	if strings.TrimPrefix(u.Path, "/") == "" {
		return errors.New("names no database (postgres://USER@HOST:PORT/DATABASE)")
	}
	return nil
}

// Level is LogLevel as a slog level.
func (c *Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// readable opens a file to find out early that it is missing or unreadable.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
