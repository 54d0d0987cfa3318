package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/internal/yamlconf"
)

// config is the agent's configuration file (see example.yaml); flags of
// `offbox run` override it. Zero values mean the defaults.
type config struct {
	Server            string        `yaml:"server" json:"server"`
	ServerName        string        `yaml:"server_name" json:"server_name"`
	TLS               tlsFiles      `yaml:"tls" json:"tls"`
	Tail              []string      `yaml:"tail" json:"tail"`
	StartAt           string        `yaml:"start_at" json:"start_at"`
	MaxLineBytes      int           `yaml:"max_line_bytes" json:"max_line_bytes"`
	Heartbeat         time.Duration `yaml:"heartbeat" json:"heartbeat"`
	Batch             batchConfig   `yaml:"batch" json:"batch"`
	MemoryBudgetBytes int64         `yaml:"memory_budget_bytes" json:"memory_budget_bytes"`
	Window            int           `yaml:"window" json:"window"`
	HostRoot          string        `yaml:"host_root" json:"host_root"`
}

type tlsFiles struct {
	CA   string `yaml:"ca" json:"ca"`
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

type batchConfig struct {
	MaxBytes   int           `yaml:"max_bytes" json:"max_bytes"`
	MaxRecords int           `yaml:"max_records" json:"max_records"`
	MaxDelay   time.Duration `yaml:"max_delay" json:"max_delay"`
	IdleDelay  time.Duration `yaml:"idle_delay" json:"idle_delay"`
}

// fieldError is a problem with one key, named by its path in the file so
// that the loader can add the line.
type fieldError struct {
	path []string // e.g. batch, max_delay
	msg  string
}

func (e *fieldError) Error() string { return strings.Join(e.path, ".") + ": " + e.msg }

func fieldErr(msg string, path ...string) error { return &fieldError{path: path, msg: msg} }

// loadConfig reads, decodes (strictly: unknown keys, wrong types are errors
// with file:line) and validates the file at path.
func loadConfig(path string) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c config
	if err := yamlconf.Decode(path, data, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, locate(path, data, err)
	}
	return &c, nil
}

// locate names the file and, for a fieldError, the line of its key.
func locate(path string, data []byte, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		if line := keyLine(data, fe.path); line > 0 {
			return fmt.Errorf("config %s:%d: %v", path, line, err)
		}
	}
	return fmt.Errorf("config %s: %w", path, err)
}

// keyLine finds the line of the key at path in a YAML mapping document
// (a list index in path picks an item), or 0.
func keyLine(data []byte, path []string) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n, line := doc.Content[0], 0
	for _, p := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

// validate checks what can be checked without connecting: syntax of the
// server address and globs, enumerations, signs. Whether the TLS files
// load is checked by check-config and at start.
func (c *config) validate() error {
	if c.Server != "" {
		if _, _, err := net.SplitHostPort(c.Server); err != nil {
			return fieldErr(fmt.Sprintf("%q is not host:port", c.Server), "server")
		}
	}
	for i, g := range c.Tail {
		if err := checkGlob(g); err != nil {
			return fieldErr(err.Error(), "tail", strconv.Itoa(i))
		}
	}
	switch c.StartAt {
	case "", "beginning", "end":
	default:
		return fieldErr(fmt.Sprintf("%q: want beginning or end", c.StartAt), "start_at")
	}
	ints := []struct {
		v    int64
		path []string
	}{
		{int64(c.MaxLineBytes), []string{"max_line_bytes"}},
		{int64(c.Heartbeat), []string{"heartbeat"}},
		{int64(c.Batch.MaxBytes), []string{"batch", "max_bytes"}},
		{int64(c.Batch.MaxRecords), []string{"batch", "max_records"}},
		{int64(c.Batch.MaxDelay), []string{"batch", "max_delay"}},
		{int64(c.Batch.IdleDelay), []string{"batch", "idle_delay"}},
		{c.MemoryBudgetBytes, []string{"memory_budget_bytes"}},
		{int64(c.Window), []string{"window"}},
	}
	for _, f := range ints {
		if f.v < 0 {
			return fieldErr("must not be negative", f.path...)
		}
	}
	if c.HostRoot != "" {
		if fi, err := os.Stat(c.HostRoot); err != nil || !fi.IsDir() {
			return fieldErr(fmt.Sprintf("%q is not a directory", c.HostRoot), "host_root")
		}
	}
	return nil
}

// checkGlob reports a malformed glob. filepath.Match reports a bad pattern
// only when matching gets that far, so the pattern is matched against
// itself too.
func checkGlob(g string) error {
	if g == "" {
		return errors.New("empty glob")
	}
	if _, err := filepath.Match(g, ""); err != nil {
		return fmt.Errorf("bad glob %q: %w", g, err)
	}
	if _, err := filepath.Match(g, g); err != nil {
		return fmt.Errorf("bad glob %q: %w", g, err)
	}
	return nil
}

// requireConnection checks what a real (not dry) run needs.
func (c *config) requireConnection() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"server", c.Server}, {"tls.ca", c.TLS.CA},
		{"tls.cert", c.TLS.Cert}, {"tls.key", c.TLS.Key}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (config file or flags)", strings.Join(missing, ", "))
	}
	return nil
}

// serverName is the TLS name the collector's certificate must carry.
func (c *config) serverName() string {
	if c.ServerName != "" {
		return c.ServerName
	}
	host, _, _ := net.SplitHostPort(c.Server)
	return host
}

// hash identifies the effective configuration in heartbeats, so a config
// change on the device shows at the collector.
func (c *config) hash() string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// runFlags are the flags of `offbox run`; set ones override the file.
type runFlags struct {
	fs         *flag.FlagSet
	configPath string
	dryRun     bool
	c          config // flag values; only those set are applied
	tail       globList
}

type globList []string

func (g *globList) String() string     { return strings.Join(*g, ",") }
func (g *globList) Set(v string) error { *g = append(*g, v); return nil }

func newRunFlags() *runFlags {
	f := &runFlags{fs: flag.NewFlagSet("run", flag.ContinueOnError)}
	fs := f.fs
	fs.StringVar(&f.configPath, "config", "", "configuration file (YAML); flags override it")
	fs.BoolVar(&f.dryRun, "dry-run", false, "connect to nothing, print every record as a line of JSON on stdout")
	fs.StringVar(&f.c.Server, "server", "", "collector service `host:port`")
	fs.StringVar(&f.c.ServerName, "server-name", "", "TLS `name` the collector's certificate must carry (default: the server's host)")
	fs.StringVar(&f.c.TLS.CA, "ca", "", "CA certificate `file` (PEM) that signed the collector's certificate")
	fs.StringVar(&f.c.TLS.Cert, "cert", "", "device certificate `file` (PEM); its CN is the device id")
	fs.StringVar(&f.c.TLS.Key, "key", "", "device private key `file` (PEM)")
	fs.Var(&f.tail, "tail", "file or `glob` to tail (repeatable; replaces the config's list)")
	fs.StringVar(&f.c.StartAt, "start-at", "", "where files without checkpoint start: beginning or end")
	fs.DurationVar(&f.c.Heartbeat, "heartbeat", 0, "heartbeat `interval` (default 15s)")
	fs.Int64Var(&f.c.MemoryBudgetBytes, "memory-budget", 0, "`bytes` of records held until acknowledged (default 8 MiB)")
	fs.StringVar(&f.c.HostRoot, "host-root", "", "`dir` where /proc and friends are read (default /)")
	return f
}

// effective loads the config file if any and applies the flags that were set.
func (f *runFlags) effective() (*config, error) {
	c := &config{}
	if f.configPath != "" {
		var err error
		if c, err = loadConfig(f.configPath); err != nil {
			return nil, err
		}
	}
	f.fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "server":
			c.Server = f.c.Server
		case "server-name":
			c.ServerName = f.c.ServerName
		case "ca":
			c.TLS.CA = f.c.TLS.CA
		case "cert":
			c.TLS.Cert = f.c.TLS.Cert
		case "key":
			c.TLS.Key = f.c.TLS.Key
		case "tail":
			c.Tail = f.tail
		case "start-at":
			c.StartAt = f.c.StartAt
		case "heartbeat":
			c.Heartbeat = f.c.Heartbeat
		case "memory-budget":
			c.MemoryBudgetBytes = f.c.MemoryBudgetBytes
		case "host-root":
			c.HostRoot = f.c.HostRoot
		}
	})
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// summary describes c for check-config.
func (c *config) summary() string {
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "  %-12s %s\n", k, v) }
	row("server", fmt.Sprintf("%s (TLS name %s)", c.Server, c.serverName()))
	row("tls", fmt.Sprintf("ca %s, cert %s, key %s", c.TLS.CA, c.TLS.Cert, c.TLS.Key))
	if len(c.Tail) == 0 {
		row("tail", "nothing (heartbeats only)")
	}
	for _, g := range c.Tail {
		m, _ := filepath.Glob(g)
		row("tail", fmt.Sprintf("%s (%d files now)", g, len(m)))
	}
	or := func(v, def string) string {
		if v == "" || v == "0" || v == "0s" {
			return def + " (default)"
		}
		return v
	}
	row("start_at", or(c.StartAt, "beginning"))
	row("heartbeat", or(c.Heartbeat.String(), agent.DefaultHeartbeat.String()))
	row("batch", fmt.Sprintf("max %s bytes, %s records, %s delay, %s when idle",
		or(strconv.Itoa(c.Batch.MaxBytes), strconv.Itoa(agent.DefaultBatchMaxBytes)),
		or(strconv.Itoa(c.Batch.MaxRecords), strconv.Itoa(agent.DefaultBatchMaxRecords)),
		or(c.Batch.MaxDelay.String(), agent.DefaultBatchMaxDelay.String()),
		or(c.Batch.IdleDelay.String(), "0s")))
	row("memory", fmt.Sprintf("budget %s bytes, window %s batches",
		or(strconv.FormatInt(c.MemoryBudgetBytes, 10), strconv.Itoa(agent.DefaultMemoryBudget)),
		or(strconv.Itoa(c.Window), strconv.Itoa(agent.DefaultWindow))))
	row("host_root", or(c.HostRoot, "/"))
	row("config_hash", c.hash())
	return b.String()
}
