// What check-config prints: the configuration in effect, each default
// taken from the package that owns it.

package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/journal"
	"github.com/offbox/offbox/collectors/logread"
	"github.com/offbox/offbox/collectors/syslog"
	"github.com/offbox/offbox/collectors/watch"
)

// summary describes c for check-config.
func (c *config) summary() string { return c.summaryOf(true) }

// summaryOf is summary; without files it counts no files (check-config
// -syntax-only describes a configuration meant for another machine).
func (c *config) summaryOf(files bool) string {
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "  %-12s %s\n", k, v) }
	row("server", fmt.Sprintf("%s (TLS name %s)", c.Server, c.serverName()))
	row("tls", fmt.Sprintf("ca %s, cert %s, key %s", c.TLS.CA, c.TLS.Cert, c.TLS.Key))
	if len(c.Paths) == 0 {
		row("tail", "nothing (heartbeats only)")
	}
	for _, g := range c.Paths {
		if !files {
			row("tail", g)
			continue
		}
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
		or(c.Batch.IdleDelay.String(), agent.DefaultBatchIdleDelay.String())))
	row("memory", fmt.Sprintf("budget %s bytes, window %s batches",
		or(strconv.FormatInt(c.MemoryBudgetBytes, 10), strconv.Itoa(agent.DefaultMemoryBudget)),
		or(strconv.Itoa(c.Window), strconv.Itoa(agent.DefaultWindow))))
	row("max_procs", or(strconv.Itoa(c.MaxProcs), "1"))
	row("host_root", or(c.HostRoot, "/"))
	row("boot", c.bootSummary())
	row("clock", c.clockSummary(or))
	row("watch", c.watchSummary(or, files))
	row("journal", c.journalSummary())
	row("syslog", c.syslogSummary(or))
	row("logread", c.logreadSummary())
	row("relay", c.relaySummary()) // relay.go
	row("config_hash", c.hash())
	return b.String()
}

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
		src = append(src, fmt.Sprintf("every address of %s port %s", k.Name, or(strconv.Itoa(k.NamePort), strconv.Itoa(clock.DefaultPort))))
	case len(k.Servers) == 0:
		src = append(src, fmt.Sprintf("every address of %s (default) port %s", clock.DefaultName, or(strconv.Itoa(k.NamePort), strconv.Itoa(clock.DefaultPort))))
	}
	return fmt.Sprintf("on, %s; every %s, %s samples, window %s, timeout %s", strings.Join(src, " and "),
		or(k.Interval.String(), clock.DefaultInterval.String()), or(strconv.Itoa(k.Samples), strconv.Itoa(clock.DefaultSamples)),
		or(strconv.Itoa(k.Window), strconv.Itoa(clock.DefaultWindow)), or(k.Timeout.String(), clock.DefaultTimeout.String()))
}

func (c *config) watchSummary(or func(v, def string) string, files bool) string {
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
	found := 0
	for _, p := range paths {
		if !files {
			break
		}
		m, _ := filepath.Glob(filepath.Join(root, p))
		found += len(m)
	}
	now := fmt.Sprintf(" (%d files now)", found)
	if !files {
		now = ""
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
	return fmt.Sprintf("on, %d %s paths%s, diffs for %s (max %s bytes), shadow %s, passwd %s, rescan every %s, password age every %s",
		len(paths), which, now, diff, or(strconv.Itoa(w.MaxDiffBytes), strconv.Itoa(watch.DefaultMaxDiffBytes)),
		acct(w.Shadow, watch.DefaultShadow), acct(w.Passwd, watch.DefaultPasswd),
		or(w.RescanEvery.String(), watch.DefaultRescanEvery.String()), or(w.AgeEvery.String(), watch.DefaultAgeEvery.String()))
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
		cmd = journal.DefaultCommand
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
		or(strconv.Itoa(s.MaxMessageBytes), strconv.Itoa(syslog.DefaultMaxMessageBytes)),
		or(strconv.Itoa(s.MaxConnections), strconv.Itoa(syslog.DefaultMaxConnections)))
}

func (c *config) logreadSummary() string {
	if !c.Logread.Enabled {
		return "off"
	}
	cmd := c.Logread.Command
	if len(cmd) == 0 {
		cmd = logread.DefaultCommand()
	}
	return fmt.Sprintf("on, command %q", cmd)
}
