package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/collectors/boot"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/journal"
	"github.com/offbox/offbox/collectors/logread"
	"github.com/offbox/offbox/collectors/syslog"
	"github.com/offbox/offbox/collectors/watch"
	"github.com/offbox/offbox/internal/yamlconf"
)

// config is the agent's configuration file (see packaging/offbox.yaml); flags of
// `offbox run` override it. Zero values mean the defaults.
type config struct {
	Server            string         `yaml:"server" json:"server"`
	ServerName        string         `yaml:"server_name" json:"server_name"`
	TLS               tlsFiles       `yaml:"tls" json:"tls"`
	Renew             renewSection   `yaml:"renew" json:"renew"`
	Tail              []string       `yaml:"tail" json:"tail"`
	StartAt           string         `yaml:"start_at" json:"start_at"`
	MaxLineBytes      int            `yaml:"max_line_bytes" json:"max_line_bytes"`
	Heartbeat         time.Duration  `yaml:"heartbeat" json:"heartbeat"`
	Batch             batchConfig    `yaml:"batch" json:"batch"`
	MemoryBudgetBytes int64          `yaml:"memory_budget_bytes" json:"memory_budget_bytes"`
	MaxProcs          int            `yaml:"max_procs" json:"max_procs"`
	Window            int            `yaml:"window" json:"window"`
	HostRoot          string         `yaml:"host_root" json:"host_root"`
	Boot              bootSection    `yaml:"boot" json:"boot"`
	Clock             clockSection   `yaml:"clock" json:"clock"`
	Watch             watchSection   `yaml:"watch" json:"watch"`
	Journal           journalSection `yaml:"journal" json:"journal"`
	Syslog            syslogSection  `yaml:"syslog" json:"syslog"`
	Logread           logreadSection `yaml:"logread" json:"logread"`
}

// journalSection configures collectors/journal (journalctl --follow
// --output=export, resumed at the acknowledged cursor). Off by default.
type journalSection struct {
	Enabled   bool     `yaml:"enabled" json:"enabled"`     // default false
	Command   string   `yaml:"command" json:"command"`     // "": journalctl from PATH
	Args      []string `yaml:"args" json:"args"`           // more journalctl arguments
	File      string   `yaml:"file" json:"file"`           // --file
	Directory string   `yaml:"directory" json:"directory"` // --directory
	StartAt   string   `yaml:"start_at" json:"start_at"`   // without a checkpoint: beginning (default) or end
}

// syslogSection configures collectors/syslog; it listens only where told.
type syslogSection struct {
	Unix            []string `yaml:"unix" json:"unix"` // datagram socket paths, e.g. /dev/log
	UDP             []string `yaml:"udp" json:"udp"`   // host:port
	TCP             []string `yaml:"tcp" json:"tcp"`   // host:port
	MaxMessageBytes int      `yaml:"max_message_bytes" json:"max_message_bytes"`
	MaxConnections  int      `yaml:"max_connections" json:"max_connections"` // TCP connections open at once; 0: 256
}

// logreadSection configures collectors/logread (OpenWrt's logread -f). Off
// by default.
type logreadSection struct {
	Enabled bool     `yaml:"enabled" json:"enabled"` // default false
	Command []string `yaml:"command" json:"command"` // argv; nil: [logread, -f]
}

// bootSection configures collectors/boot (one BOOT record at start).
type bootSection struct {
	Enabled         *bool    `yaml:"enabled" json:"enabled"`                   // nil: true
	FirmwareFile    string   `yaml:"firmware_file" json:"firmware_file"`       // under host_root
	FirmwareCommand []string `yaml:"firmware_command" json:"firmware_command"` // argv
}

// clockSection configures collectors/clock (NTP offset, one CLOCK record
// per interval, and the clock summary of each heartbeat).
type clockSection struct {
	Enabled  *bool         `yaml:"enabled" json:"enabled"` // nil: true
	Servers  []string      `yaml:"servers" json:"servers"` // host or host:port
	Name     string        `yaml:"name" json:"name"`       // "": ntp.internal when Servers is empty
	Port     int           `yaml:"port" json:"port"`       // of the servers Name resolves to; 0: 123
	Interval time.Duration `yaml:"interval" json:"interval"`
	Samples  int           `yaml:"samples" json:"samples"` // per server per poll
	Window   int           `yaml:"window" json:"window"`   // samples kept per server
	Timeout  time.Duration `yaml:"timeout" json:"timeout"` // per NTP query
}

// watchSection configures collectors/watch (config files, shadow, passwd).
type watchSection struct {
	Enabled          *bool         `yaml:"enabled" json:"enabled"`       // nil: true
	Paths            []string      `yaml:"paths" json:"paths"`           // nil: watch.DefaultPaths(); [] watches no file
	DiffPaths        []string      `yaml:"diff_paths" json:"diff_paths"` // globs whose records carry a diff
	MaxDiffBytes     int           `yaml:"max_diff_bytes" json:"max_diff_bytes"`
	Shadow           string        `yaml:"shadow" json:"shadow"` // "": /etc/shadow; "-": off
	Passwd           string        `yaml:"passwd" json:"passwd"` // "": /etc/passwd; "-": off
	Rescan           time.Duration `yaml:"rescan" json:"rescan"`
	PasswordAgeEvery time.Duration `yaml:"password_age_every" json:"password_age_every"`
}

// enabled reads an enabled key whose default is true.
func enabled(b *bool) bool { return b == nil || *b }

type tlsFiles struct {
	CA   string `yaml:"ca" json:"ca"`
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// renewSection configures certificate renewal (agent.Renewal): before the
// device certificate expires, a new key is made and certified by the
// collector (its Enrollment.Renew), announced in the chain under the old
// key, and written over tls.cert and tls.key.
type renewSection struct {
	Enabled *bool         `yaml:"enabled" json:"enabled"` // default true
	Check   time.Duration `yaml:"check" json:"check"`     // how often the certificate's remaining life is looked at; default 1h
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
		{int64(c.Watch.Rescan), []string{"watch", "rescan"}},
		{int64(c.Watch.PasswordAgeEvery), []string{"watch", "password_age_every"}},
		{int64(c.Syslog.MaxMessageBytes), []string{"syslog", "max_message_bytes"}},
		{int64(c.Syslog.MaxConnections), []string{"syslog", "max_connections"}},
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
	if err := c.validateBoot(); err != nil {
		return err
	}
	if err := c.validateClock(); err != nil {
		return err
	}
	if err := c.validateWatch(); err != nil {
		return err
	}
	return c.validateLogSources()
}

// The collectors' constructors do their own checks; these run them one key
// at a time where they can, so that a mistake is reported at its line and
// under its YAML name, and then on the whole section. Only the firmware
// command is left unchecked when boot is disabled: it never runs then.

func (c *config) validateBoot() error {
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
	if len(b.FirmwareCommand) > 0 {
		if _, err := exec.LookPath(b.FirmwareCommand[0]); err != nil {
			return fieldErr(err.Error(), "boot", "firmware_command", "0")
		}
	}
	if _, err := boot.New(c.bootConfig()); err != nil {
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
	if k.Port < 0 || k.Port > 65535 {
		return fieldErr(fmt.Sprintf("%d is not a port", k.Port), "clock", "port")
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
func (c *config) validateLogSources() error {
	j := c.Journal
	switch j.StartAt {
	case "", "beginning", "end":
	default:
		return fieldErr(fmt.Sprintf("%q: want beginning or end", j.StartAt), "journal", "start_at")
	}
	if j.File != "" && j.Directory != "" {
		return fieldErr("set file or directory, not both", "journal", "directory")
	}
	if j.Enabled {
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
		if _, err := logread.New(c.logreadConfig(nil)); err != nil {
			return fieldErr(bare(err, "logread"), "logread", "command")
		}
	}
	return nil
}

func (c *config) journalConfig(log *slog.Logger) journal.Config {
	j := c.Journal
	return journal.Config{Command: j.Command, Args: j.Args, File: j.File, Directory: j.Directory, StartAt: j.StartAt, Logger: log}
}

func (c *config) syslogConfig(log *slog.Logger) syslog.Config {
	s := c.Syslog
	return syslog.Config{Unix: s.Unix, UDP: s.UDP, TCP: s.TCP, MaxMessageBytes: s.MaxMessageBytes,
		MaxConnections: s.MaxConnections, Logger: log}
}

func (c *config) logreadConfig(log *slog.Logger) logread.Config {
	return logread.Config{Command: c.Logread.Command, Logger: log}
}

// syslogEnabled reports whether the syslog section listens anywhere.
func (c *config) syslogEnabled() bool {
	return len(c.Syslog.Unix)+len(c.Syslog.UDP)+len(c.Syslog.TCP) > 0
}

// bare is a collector's error without its package prefix, for a message
// that already names the key.
func bare(err error, pkg string) string { return strings.TrimPrefix(err.Error(), pkg+": ") }

// bootConfig, clockConfig and watchConfig turn the file's sections into the
// collectors' configs; zero values stay zero, so the packages' defaults
// apply.
func (c *config) bootConfig() boot.Config {
	return boot.Config{Root: c.HostRoot, FirmwareFile: c.Boot.FirmwareFile, FirmwareCommand: c.Boot.FirmwareCommand}
}

func (c *config) clockConfig(log *slog.Logger) clock.Config {
	k := c.Clock
	return clock.Config{Servers: k.Servers, Name: k.Name, NamePort: k.Port, Interval: k.Interval,
		Samples: k.Samples, Window: k.Window, Timeout: k.Timeout, Root: c.HostRoot, Logger: log}
}

func (c *config) watchConfig(log *slog.Logger) watch.Config {
	w := c.Watch
	return watch.Config{Root: c.HostRoot, Paths: w.Paths, DiffPaths: w.DiffPaths, MaxDiffBytes: w.MaxDiffBytes,
		Shadow: w.Shadow, Passwd: w.Passwd, RescanEvery: w.Rescan, AgeEvery: w.PasswordAgeEvery, Logger: log}
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

// runFlags are the flags of `offbox run` (and the subset `offbox inspect`
// takes); set ones override the file.
type runFlags struct {
	fs         *flag.FlagSet
	configPath string
	dryRun     bool
	c          config // flag values; only those set are applied
	tail       globList
	ntpServers globList
	noBoot     bool
	noClock    bool
	noWatch    bool
	syslogUnix globList
	syslogUDP  globList
	syslogTCP  globList
	journal    bool
	logread    bool
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
	f.hostFlags()
	fs.BoolVar(&f.noBoot, "no-boot", false, "send no BOOT record at start (boot.enabled: false)")
	fs.BoolVar(&f.noClock, "no-clock", false, "measure no clock offset (clock.enabled: false)")
	fs.BoolVar(&f.noWatch, "no-watch", false, "watch no files or accounts (watch.enabled: false)")
	fs.BoolVar(&f.journal, "journal", false, "follow the systemd journal (journal.enabled)")
	fs.BoolVar(&f.logread, "logread", false, "follow OpenWrt's logread -f (logread.enabled)")
	fs.Var(&f.syslogUnix, "syslog-unix", "syslog datagram socket `path` to create (repeatable; replaces syslog.unix)")
	fs.Var(&f.syslogUDP, "syslog-udp", "syslog UDP `host:port` (repeatable; replaces syslog.udp)")
	fs.Var(&f.syslogTCP, "syslog-tcp", "syslog TCP `host:port` (repeatable; replaces syslog.tcp)")
	fs.IntVar(&f.c.Syslog.MaxConnections, "syslog-max-connections", 0, "syslog TCP connections open at once; more are refused and counted (syslog.max_connections; default 256)")
	return f
}

// newInspectFlags are the flags of `offbox inspect`.
func newInspectFlags() *runFlags {
	f := &runFlags{fs: flag.NewFlagSet("inspect", flag.ContinueOnError)}
	f.fs.StringVar(&f.configPath, "config", "", "configuration file (YAML); flags override it")
	f.hostFlags()
	return f
}

// hostFlags are the flags run and inspect share: where the host is and
// which NTP servers to measure against.
func (f *runFlags) hostFlags() {
	f.fs.StringVar(&f.c.HostRoot, "host-root", "", "`dir` where /proc, /sys and /etc are read (default /)")
	f.fs.Var(&f.ntpServers, "ntp-server", "NTP server `host[:port]` (repeatable; replaces clock.servers)")
	f.fs.StringVar(&f.c.Clock.Name, "ntp-name", "", "DNS `name` whose every address is an NTP server (default ntp.internal when no server is set)")
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
	off := func(b **bool) { v := false; *b = &v }
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
		case "ntp-server":
			c.Clock.Servers = f.ntpServers
		case "ntp-name":
			c.Clock.Name = f.c.Clock.Name
		case "no-boot":
			if f.noBoot {
				off(&c.Boot.Enabled)
			}
		case "no-clock":
			if f.noClock {
				off(&c.Clock.Enabled)
			}
		case "no-watch":
			if f.noWatch {
				off(&c.Watch.Enabled)
			}
		case "journal":
			c.Journal.Enabled = f.journal
		case "logread":
			c.Logread.Enabled = f.logread
		case "syslog-unix":
			c.Syslog.Unix = f.syslogUnix
		case "syslog-udp":
			c.Syslog.UDP = f.syslogUDP
		case "syslog-tcp":
			c.Syslog.TCP = f.syslogTCP
		case "syslog-max-connections":
			c.Syslog.MaxConnections = f.c.Syslog.MaxConnections
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
	row("max_procs", or(strconv.Itoa(c.MaxProcs), "1"))
	row("host_root", or(c.HostRoot, "/"))
	row("boot", c.bootSummary())
	row("clock", c.clockSummary(or))
	row("watch", c.watchSummary(or))
	row("journal", c.journalSummary())
	row("syslog", c.syslogSummary(or))
	row("logread", c.logreadSummary())
	row("config_hash", c.hash())
	return b.String()
}

// The defaults of the collectors, as their packages document them, for the
// summary (a zero value in the file means these).
const (
	defaultNTPName     = "ntp.internal"
	defaultNTPPort     = 123
	defaultNTPInterval = 64 * time.Second
	defaultNTPSamples  = 4
	defaultNTPWindow   = 8
	defaultNTPTimeout  = 2 * time.Second
	defaultRescan      = 30 * time.Second
	defaultAgeEvery    = 24 * time.Hour
	defaultMaxDiff     = 16 << 10
	defaultSyslogMax   = 64 << 10
)

func (c *config) bootSummary() string {
	switch b := c.Boot; {
	case !enabled(b.Enabled):
		return "off"
	case b.FirmwareFile != "":
		return "on, firmware version from file " + b.FirmwareFile
	case len(b.FirmwareCommand) > 0:
		return fmt.Sprintf("on, firmware version from command %q", b.FirmwareCommand)
	default:
		return "on, firmware version from the built-in rules"
	}
}

func (c *config) clockSummary(or func(v, def string) string) string {
	k := c.Clock
	if !enabled(k.Enabled) {
		return "off"
	}
	var src []string
	if len(k.Servers) > 0 {
		src = append(src, "servers "+strings.Join(k.Servers, ", "))
	}
	switch {
	case k.Name != "":
		src = append(src, fmt.Sprintf("every address of %s port %s", k.Name, or(strconv.Itoa(k.Port), strconv.Itoa(defaultNTPPort))))
	case len(k.Servers) == 0:
		src = append(src, fmt.Sprintf("every address of %s (default) port %s", defaultNTPName, or(strconv.Itoa(k.Port), strconv.Itoa(defaultNTPPort))))
	}
	return fmt.Sprintf("on, %s; every %s, %s samples, window %s, timeout %s", strings.Join(src, " and "),
		or(k.Interval.String(), defaultNTPInterval.String()), or(strconv.Itoa(k.Samples), strconv.Itoa(defaultNTPSamples)),
		or(strconv.Itoa(k.Window), strconv.Itoa(defaultNTPWindow)), or(k.Timeout.String(), defaultNTPTimeout.String()))
}

func (c *config) watchSummary(or func(v, def string) string) string {
	w := c.Watch
	if !enabled(w.Enabled) {
		return "off"
	}
	paths, which := w.Paths, "configured"
	if paths == nil {
		paths, which = watch.DefaultPaths(), "default"
	}
	root := c.HostRoot
	if root == "" {
		root = "/"
	}
	files := 0
	for _, p := range paths {
		m, _ := filepath.Glob(filepath.Join(root, p))
		files += len(m)
	}
	diff := "none"
	if len(w.DiffPaths) > 0 {
		diff = strings.Join(w.DiffPaths, ", ")
	}
	acct := func(v, def string) string {
		if v == "-" {
			return "off"
		}
		return or(v, def)
	}
	return fmt.Sprintf("on, %d %s paths (%d files now), diffs for %s (max %s bytes), shadow %s, passwd %s, rescan every %s, password age every %s",
		len(paths), which, files, diff, or(strconv.Itoa(w.MaxDiffBytes), strconv.Itoa(defaultMaxDiff)),
		acct(w.Shadow, "/etc/shadow"), acct(w.Passwd, "/etc/passwd"),
		or(w.Rescan.String(), defaultRescan.String()), or(w.PasswordAgeEvery.String(), defaultAgeEvery.String()))
}

func (c *config) journalSummary() string {
	j := c.Journal
	if !j.Enabled {
		return "off"
	}
	from := "the system journal"
	switch {
	case j.File != "":
		from = "file " + j.File
	case j.Directory != "":
		from = "directory " + j.Directory
	}
	cmd := j.Command
	if cmd == "" {
		cmd = "journalctl"
	}
	start := j.StartAt
	if start == "" {
		start = "beginning (default)"
	}
	return fmt.Sprintf("on, %s via %s %q, without checkpoint from the %s", from, cmd, j.Args, start)
}

func (c *config) syslogSummary(or func(v, def string) string) string {
	if !c.syslogEnabled() {
		return "off"
	}
	s := c.Syslog
	return fmt.Sprintf("on, unix %q, udp %q, tcp %q, max message %s bytes, max %s TCP connections", s.Unix, s.UDP, s.TCP,
		or(strconv.Itoa(s.MaxMessageBytes), strconv.Itoa(defaultSyslogMax)),
		or(strconv.Itoa(s.MaxConnections), strconv.Itoa(syslog.DefaultMaxConnections)))
}

func (c *config) logreadSummary() string {
	if !c.Logread.Enabled {
		return "off"
	}
	cmd := c.Logread.Command
	if len(cmd) == 0 {
		cmd = []string{"logread", "-f"}
	}
	return fmt.Sprintf("on, command %q", cmd)
}
