// Each collector's Config as the configuration in effect gives it.

package main

import (
	"log/slog"
	"strings"

	"github.com/offbox/offbox/collectors/boot"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/filetail"
	"github.com/offbox/offbox/collectors/journal"
	"github.com/offbox/offbox/collectors/logread"
	"github.com/offbox/offbox/collectors/syslog"
	"github.com/offbox/offbox/collectors/watch"
)

// journalConfig, syslogConfig, logreadConfig, bootConfig, clockConfig and
// watchConfig are the file's sections with what the file does not say (the
// host root, the logger) filled in; zero values stay zero, so the packages'
// defaults apply.
func (c *config) journalConfig(log *slog.Logger) journal.Config {
	j := c.Journal.Config
	j.Logger = log
	return j
}

func (c *config) syslogConfig(log *slog.Logger) syslog.Config {
	s := c.Syslog
	s.Logger = log
	return s
}

func (c *config) logreadConfig(log *slog.Logger) logread.Config {
	l := c.Logread.Config
	l.Logger = log
	return l
}

// syslogEnabled reports whether the syslog section listens anywhere.
func (c *config) syslogEnabled() bool {
	return len(c.Syslog.Unix)+len(c.Syslog.UDP)+len(c.Syslog.TCP) > 0
}

// bare is a collector's error without its package prefix, for a message
// that already names the key.
func bare(err error, pkg string) string { return strings.TrimPrefix(err.Error(), pkg+": ") }

func (c *config) bootConfig() boot.Config {
	b := c.Boot.Config
	b.Root = c.HostRoot
	return b
}

func (c *config) clockConfig(log *slog.Logger) clock.Config {
	k := c.Clock.Config
	k.Root, k.Logger = c.HostRoot, log
	return k
}

func (c *config) watchConfig(log *slog.Logger) watch.Config {
	w := c.Watch.Config
	w.Root, w.Logger = c.HostRoot, log
	return w
}

// filetailConfig is the top-level tail keys with the logger.
func (c *config) filetailConfig(log *slog.Logger) filetail.Config {
	t := c.Files
	t.Logger = log
	return t
}
