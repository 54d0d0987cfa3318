// The flags of run and inspect: each declared once, beside the key of the
// configuration it overrides.

package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/syslog"
)

// runFlags are the flags of `offbox run` (and the subset `offbox inspect`
// takes); set ones override the file. Each flag is declared once, with the
// key it overrides: it parses into that key of c, and set copies the key
// over the file's value.
type runFlags struct {
	fs         *flag.FlagSet
	configPath string
	dryRun     bool
	once       bool
	pprof      string                   // -pprof: loopback HOST:PORT for Go profiles; "" off
	c          config                   // flag values; only those set are applied
	set        map[string]func(*config) // by flag name: apply the flag's value
}

type globList []string

func (g *globList) String() string     { return strings.Join(*g, ",") }
func (g *globList) Set(v string) error { *g = append(*g, v); return nil }

// key declares a flag that overrides the key that field points to (in the
// flag values, and in the config being built).
func key[T any](f *runFlags, name, usage string, field func(*config) *T) {
	p := field(&f.c)
	switch p := any(p).(type) {
	case *string:
		f.fs.StringVar(p, name, "", usage)
	case *bool:
		f.fs.BoolVar(p, name, false, usage)
	case *int:
		f.fs.IntVar(p, name, 0, usage)
	case *int64:
		f.fs.Int64Var(p, name, 0, usage)
	case *time.Duration:
		f.fs.DurationVar(p, name, 0, usage)
	case *[]string: // repeatable; replaces the file's list
		f.fs.Var((*globList)(p), name, usage)
	default:
		panic(fmt.Sprintf("flag -%s: no flag type for %T", name, p))
	}
	f.set[name] = func(c *config) { *field(c) = *p }
}

// off declares a boolean flag that, when true, sets an enabled key (default
// true) to false; -no-x=false leaves the file's value.
func off(f *runFlags, name, usage string, field func(*config) **bool) {
	v := f.fs.Bool(name, false, usage)
	f.set[name] = func(c *config) {
		if *v {
			no := false
			*field(c) = &no
		}
	}
}

func newFlags(name string) *runFlags {
	f := &runFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError), set: map[string]func(*config){}}
	f.fs.StringVar(&f.configPath, "config", "", "configuration `file` (YAML); flags override it")
	return f
}

func newRunFlags() *runFlags {
	f := newFlags("run")
	f.fs.BoolVar(&f.dryRun, "dry-run", false, "connect to nothing, print every record as a line of JSON on stdout (until SIGINT or SIGTERM, or see -once)")
	f.fs.BoolVar(&f.once, "once", false, "with -dry-run: read the -tail files to their end, print their lines and exit 0 (the other sources are not run)")
	f.fs.StringVar(&f.pprof, "pprof", "", "serve Go profiles on this loopback `HOST:PORT` (e.g. 127.0.0.1:6061; off by default)")
	key(f, "server", "collector service `host:port`", func(c *config) *string { return &c.Server })
	key(f, "server-name", "TLS `name` the collector's certificate must carry (default: the server's host)",
		func(c *config) *string { return &c.ServerName })
	key(f, "ca", "CA certificate `file` (PEM) that signed the collector's certificate", func(c *config) *string { return &c.TLS.CA })
	key(f, "cert", "device certificate `file` (PEM); its CN is the device id", func(c *config) *string { return &c.TLS.Cert })
	key(f, "key", "device private key `file` (PEM)", func(c *config) *string { return &c.TLS.Key })
	key(f, "tail", "file or `glob` to tail (repeatable; replaces the config's list)", func(c *config) *[]string { return &c.Paths })
	key(f, "start-at", "where files without checkpoint start: beginning or end", func(c *config) *string { return &c.StartAt })
	key(f, "heartbeat", fmt.Sprintf("heartbeat `interval` (default %s)", agent.DefaultHeartbeat),
		func(c *config) *time.Duration { return &c.Heartbeat })
	key(f, "memory-budget", fmt.Sprintf("`bytes` of records held until acknowledged (default %d MiB)", agent.DefaultMemoryBudget>>20),
		func(c *config) *int64 { return &c.MemoryBudgetBytes })
	f.hostFlags()
	off(f, "no-boot", "send no BOOT record at start (boot.enabled: false)", func(c *config) **bool { return &c.Boot.Enabled })
	off(f, "no-clock", "measure no clock offset (clock.enabled: false)", func(c *config) **bool { return &c.Clock.Enabled })
	off(f, "no-watch", "watch no files or accounts (watch.enabled: false)", func(c *config) **bool { return &c.Watch.Enabled })
	key(f, "journal", "follow the systemd journal (journal.enabled)", func(c *config) *bool { return &c.Journal.Enabled })
	key(f, "logread", "follow OpenWrt's logread -f (logread.enabled)", func(c *config) *bool { return &c.Logread.Enabled })
	key(f, "syslog-unix", "syslog datagram socket `path` to create (repeatable; replaces syslog.unix)",
		func(c *config) *[]string { return &c.Syslog.Unix })
	key(f, "syslog-udp", "syslog UDP `host:port` (repeatable; replaces syslog.udp)", func(c *config) *[]string { return &c.Syslog.UDP })
	key(f, "syslog-tcp", "syslog TCP `host:port` (repeatable; replaces syslog.tcp)", func(c *config) *[]string { return &c.Syslog.TCP })
	key(f, "syslog-max-connections", fmt.Sprintf("syslog TCP connections open at once; more are refused and counted (syslog.max_connections; default %d)", syslog.DefaultMaxConnections),
		func(c *config) *int { return &c.Syslog.MaxConnections })
	return f
}

// newInspectFlags are the flags of `offbox inspect`.
func newInspectFlags() *runFlags {
	f := newFlags("inspect")
	f.hostFlags()
	return f
}

// hostFlags are the flags run and inspect share: where the host is and
// which NTP servers to measure against.
func (f *runFlags) hostFlags() {
	key(f, "host-root", "`dir` where /proc, /sys and /etc are read (default /)", func(c *config) *string { return &c.HostRoot })
	key(f, "ntp-server", "NTP server `host[:port]` (repeatable; replaces clock.servers)",
		func(c *config) *[]string { return &c.Clock.Servers })
	key(f, "ntp-name", fmt.Sprintf("DNS `name` whose every address is an NTP server (default %s when no server is set)", clock.DefaultName),
		func(c *config) *string { return &c.Clock.Name })
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
		if set := f.set[fl.Name]; set != nil {
			set(c)
		}
	})
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}
