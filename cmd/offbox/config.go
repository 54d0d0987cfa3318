package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/offbox/offbox/collectors/boot"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/filetail"
	"github.com/offbox/offbox/collectors/journal"
	"github.com/offbox/offbox/collectors/logread"
	"github.com/offbox/offbox/collectors/syslog"
	"github.com/offbox/offbox/collectors/watch"
	"github.com/offbox/offbox/internal/yamlconf"
	"github.com/offbox/offbox/transport/tlsconf"
)

// config is the agent's configuration file (see packaging/offbox.yaml); flags of
// `offbox run` override it. Zero values mean the defaults. Each collector's
// section is that package's Config, whose yaml tags name its keys and whose
// zero values are its exported defaults; this file only composes them. The
// JSON form (same keys, same order) is what the config hash is taken from.
type config struct {
	Server            string           `yaml:"server" json:"server"`
	ServerName        string           `yaml:"server_name" json:"server_name"`
	TLS               tlsconf.Files    `yaml:"tls" json:"tls"`
	Renew             renewSection     `yaml:"renew" json:"renew"`
	Files             `yaml:",inline"` // tail, start_at, max_line_bytes
	Heartbeat         time.Duration    `yaml:"heartbeat" json:"heartbeat"`
	Batch             batchConfig      `yaml:"batch" json:"batch"`
	MemoryBudgetBytes int64            `yaml:"memory_budget_bytes" json:"memory_budget_bytes"`
	MaxProcs          int              `yaml:"max_procs" json:"max_procs"`
	Window            int              `yaml:"window" json:"window"`
	HostRoot          string           `yaml:"host_root" json:"host_root"`
	Boot              bootSection      `yaml:"boot" json:"boot"`
	Clock             clockSection     `yaml:"clock" json:"clock"`
	Watch             watchSection     `yaml:"watch" json:"watch"`
	Journal           journalSection   `yaml:"journal" json:"journal"`
	Syslog            syslog.Config    `yaml:"syslog" json:"syslog"` // listens only where told
	Logread           logreadSection   `yaml:"logread" json:"logread"`
	Relay             relaySection     `yaml:"relay" json:"-"` // relay.go; hashed only when used (relayHash)
}

// Files configures collectors/filetail; its keys sit at the top level of the
// file. (An alias, so that the embedded field is named for what it holds.)
type Files = filetail.Config

// journalSection configures collectors/journal (journalctl --follow
// --output=export, resumed at the acknowledged cursor). Off by default.
type journalSection struct {
	Enabled        bool `yaml:"enabled" json:"enabled"` // default false
	journal.Config `yaml:",inline"`
}

// logreadSection configures collectors/logread (OpenWrt's logread -f). Off
// by default.
type logreadSection struct {
	Enabled        bool `yaml:"enabled" json:"enabled"` // default false
	logread.Config `yaml:",inline"`
}

// bootSection configures collectors/boot (one BOOT record at start).
type bootSection struct {
	Enabled     *bool `yaml:"enabled" json:"enabled"` // nil: true
	boot.Config `yaml:",inline"`
}

// clockSection configures collectors/clock (NTP offset, one CLOCK record
// per interval, and the clock summary of each heartbeat).
type clockSection struct {
	Enabled      *bool `yaml:"enabled" json:"enabled"` // nil: true
	clock.Config `yaml:",inline"`
}

// watchSection configures collectors/watch (config files, shadow, passwd).
type watchSection struct {
	Enabled      *bool `yaml:"enabled" json:"enabled"` // nil: true
	watch.Config `yaml:",inline"`
}

// enabled reads an enabled key whose default is true.
func enabled(b *bool) bool { return b == nil || *b }

// renewSection configures certificate renewal (agent.Renewal): before the
// device certificate expires, a new key is made and certified by the
// collector (its Enrollment.Renew), announced in the chain under the old
// key, and written over tls.cert and tls.key.
type renewSection struct {
	Enabled *bool         `yaml:"enabled" json:"enabled"` // default true
	Check   time.Duration `yaml:"check" json:"check"`     // how often the certificate's remaining life is looked at; default 1h
}

// batchConfig is agent.Config's Batch* fields, grouped in the file.
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
func loadConfig(path string) (*config, error) { return loadConfigChecked(path, true) }

// loadConfigChecked is loadConfig; without files the values are checked
// alone (check).
func loadConfigChecked(path string, files bool) (*config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c config
	if err := yamlconf.Decode(path, data, &c); err != nil {
		return nil, err
	}
	if err := c.check(files); err != nil {
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
func (c *config) validate() error { return c.check(true) }

// check is validate; without files it also leaves this machine alone (for
// check-config -syntax-only, on a build box): host_root is not looked at and
// no program is looked for in PATH.
func (c *config) check(files bool) error {
	if !files && c.HostRoot != "" {
		// The collectors' constructors look at their root; the sections
		// are checked as if for this machine's, which they never read.
		cc := *c
		cc.HostRoot = ""
		return cc.check(false)
	}
	if c.Server != "" {
		if _, _, err := net.SplitHostPort(c.Server); err != nil {
			return fieldErr(fmt.Sprintf("%q is not host:port", c.Server), "server")
		}
	}
	for i, g := range c.Paths {
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
		{int64(c.Renew.Check), []string{"renew", "check"}},
		{int64(c.Batch.MaxBytes), []string{"batch", "max_bytes"}},
		{int64(c.Batch.MaxRecords), []string{"batch", "max_records"}},
		{int64(c.Batch.MaxDelay), []string{"batch", "max_delay"}},
		{int64(c.Batch.IdleDelay), []string{"batch", "idle_delay"}},
		{c.MemoryBudgetBytes, []string{"memory_budget_bytes"}},
		{int64(c.MaxProcs), []string{"max_procs"}},
		{int64(c.Window), []string{"window"}},
		{int64(c.Clock.Interval), []string{"clock", "interval"}},
		{int64(c.Clock.Samples), []string{"clock", "samples"}},
		{int64(c.Clock.Window), []string{"clock", "window"}},
		{int64(c.Clock.Timeout), []string{"clock", "timeout"}},
		{int64(c.Watch.MaxDiffBytes), []string{"watch", "max_diff_bytes"}},
		{int64(c.Watch.RescanEvery), []string{"watch", "rescan"}},
		{int64(c.Watch.AgeEvery), []string{"watch", "password_age_every"}},
		{int64(c.Syslog.MaxMessageBytes), []string{"syslog", "max_message_bytes"}},
		{int64(c.Syslog.MaxConnections), []string{"syslog", "max_connections"}},
	}
	for _, f := range ints {
		if f.v < 0 {
			return fieldErr("must not be negative", f.path...)
		}
	}
	if c.HostRoot != "" && files {
		if fi, err := os.Stat(c.HostRoot); err != nil || !fi.IsDir() {
			return fieldErr(fmt.Sprintf("%q is not a directory", c.HostRoot), "host_root")
		}
	}
	if err := c.validateBoot(files); err != nil {
		return err
	}
	if err := c.validateClock(); err != nil {
		return err
	}
	if err := c.validateWatch(); err != nil {
		return err
	}
	if err := c.validateRelay(files); err != nil {
		return err
	}
	return c.validateLogSources(files)
}

// The collectors' constructors do their own checks; these run them one key
// at a time where they can, so that a mistake is reported at its line and
// under its YAML name, and then on the whole section. Only the firmware
// command is left unchecked when boot is disabled: it never runs then.

func (c *config) validateBoot(files bool) error {
	b := c.Boot
	switch {
	case b.FirmwareFile != "" && len(b.FirmwareCommand) > 0:
		return fieldErr("set firmware_file or firmware_command, not both", "boot", "firmware_command")
	case b.FirmwareFile != "" && !filepath.IsAbs(b.FirmwareFile):
		return fieldErr(fmt.Sprintf("%q is not an absolute path (it is read under host_root)", b.FirmwareFile), "boot", "firmware_file")
	case len(b.FirmwareCommand) > 0 && b.FirmwareCommand[0] == "":
		return fieldErr("empty program name", "boot", "firmware_command", "0")
	}
	if !enabled(b.Enabled) {
		return nil
	}
	if len(b.FirmwareCommand) > 0 && files {
		if _, err := exec.LookPath(b.FirmwareCommand[0]); err != nil {
			return fieldErr(err.Error(), "boot", "firmware_command", "0")
		}
	}
	bc := c.bootConfig()
	if !files {
		bc.FirmwareCommand = nil // New looks for the program
	}
	if _, err := boot.New(bc); err != nil {
		return fieldErr(bare(err, "boot"), "boot")
	}
	return nil
}

func (c *config) validateClock() error {
	k := c.Clock
	for i, s := range k.Servers {
		if _, err := clock.New(clock.Config{Servers: []string{s}}); err != nil {
			return fieldErr(bare(err, "clock"), "clock", "servers", strconv.Itoa(i))
		}
	}
	if k.Name != "" {
		if _, err := clock.New(clock.Config{Name: k.Name}); err != nil {
			return fieldErr(bare(err, "clock"), "clock", "name")
		}
	}
	if k.NamePort < 0 || k.NamePort > 65535 {
		return fieldErr(fmt.Sprintf("%d is not a port", k.NamePort), "clock", "port")
	}
	if _, err := clock.New(c.clockConfig(nil)); err != nil {
		return fieldErr(bare(err, "clock"), "clock")
	}
	return nil
}

func (c *config) validateWatch() error {
	w := c.Watch
	// One key at a time: a watch.Config that watches only that key.
	one := func(set func(*watch.Config)) error {
		wc := watch.Config{Root: c.HostRoot, Paths: []string{}, Shadow: "-", Passwd: "-"}
		set(&wc)
		_, err := watch.New(wc)
		return err
	}
	for i, p := range w.Paths {
		if err := one(func(wc *watch.Config) { wc.Paths = []string{p} }); err != nil {
			return fieldErr(bare(err, "watch"), "watch", "paths", strconv.Itoa(i))
		}
	}
	for i, p := range w.DiffPaths {
		if err := one(func(wc *watch.Config) { wc.DiffPaths = []string{p} }); err != nil {
			return fieldErr(bare(err, "watch"), "watch", "diff_paths", strconv.Itoa(i))
		}
	}
	if err := one(func(wc *watch.Config) { wc.Shadow = w.Shadow }); err != nil {
		return fieldErr(bare(err, "watch"), "watch", "shadow")
	}
	if err := one(func(wc *watch.Config) { wc.Passwd = w.Passwd }); err != nil {
		return fieldErr(bare(err, "watch"), "watch", "passwd")
	}
	if _, err := watch.New(c.watchConfig(nil)); err != nil {
		return fieldErr(bare(err, "watch"), "watch")
	}
	return nil
}

// validateLogSources checks the journal, syslog and logread sections
// without opening anything: the syslog sockets are bound at start.
func (c *config) validateLogSources(files bool) error {
	j := c.Journal
	switch j.StartAt {
	case "", "beginning", "end":
	default:
		return fieldErr(fmt.Sprintf("%q: want beginning or end", j.StartAt), "journal", "start_at")
	}
	if j.File != "" && j.Directory != "" {
		return fieldErr("set file or directory, not both", "journal", "directory")
	}
	if j.Enabled && files { // New looks for the journalctl program
		if _, err := journal.New(c.journalConfig(nil)); err != nil {
			return fieldErr(bare(err, "journal"), "journal")
		}
	}
	s := c.Syslog
	for i, p := range s.Unix {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("%q is not an absolute path", p), "syslog", "unix", strconv.Itoa(i))
		}
	}
	for _, l := range []struct {
		key   string
		addrs []string
	}{{"udp", s.UDP}, {"tcp", s.TCP}} {
		for i, a := range l.addrs {
			if err := syslog.CheckAddr(a); err != nil {
				return fieldErr(bare(err, "syslog"), "syslog", l.key, strconv.Itoa(i))
			}
		}
	}
	if s.MaxMessageBytes > 16<<20 {
		return fieldErr("at most 16777216", "syslog", "max_message_bytes")
	}
	if c.Logread.Enabled {
		if len(c.Logread.Command) > 0 && c.Logread.Command[0] == "" {
			return fieldErr("empty program name", "logread", "command", "0")
		}
	}
	if c.Logread.Enabled && files { // New looks for the program
		if _, err := logread.New(c.logreadConfig(nil)); err != nil {
			return fieldErr(bare(err, "logread"), "logread", "command")
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
	b = append(b, c.relayHash()...)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
