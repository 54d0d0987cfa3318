package main

import (
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/collectors/boot"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/filetail"
	"github.com/offbox/offbox/collectors/journal"
	"github.com/offbox/offbox/collectors/logread"
	"github.com/offbox/offbox/collectors/syslog"
	"github.com/offbox/offbox/collectors/watch"
)

// sources are the configured on-device collectors.
type sources struct {
	all   []collectors.Collector // boot, clock, watch, journal, syslog, logread, then the file tailer
	clock *clock.Collector       // nil when disabled
}

// buildCollectors makes the configured on-device sources.
func buildCollectors(c *config, log *slog.Logger) (*sources, error) {
	s := &sources{}
	if enabled(c.Boot.Enabled) {
		b, err := boot.New(c.bootConfig())
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, b)
	}
	if enabled(c.Clock.Enabled) {
		k, err := clock.New(c.clockConfig(log))
		if err != nil {
			return nil, err
		}
		s.all, s.clock = append(s.all, k), k
	}
	if enabled(c.Watch.Enabled) {
		w, err := watch.New(c.watchConfig(log))
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, w)
	}
	if c.Journal.Enabled {
		j, err := journal.New(c.journalConfig(log))
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, j)
	}
	if c.syslogEnabled() {
		sl, err := syslog.New(c.syslogConfig(log))
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, sl)
	}
	if c.Logread.Enabled {
		l, err := logread.New(c.logreadConfig(log))
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, l)
	}
	if len(c.Paths) > 0 {
		t, err := filetail.New(c.filetailConfig(log))
		if err != nil {
			return nil, err
		}
		s.all = append(s.all, t)
	}
	return s, nil
}

// buildFileTailer makes the file tailer alone (run -dry-run -once).
func buildFileTailer(c *config, log *slog.Logger) (*sources, error) {
	t, err := filetail.New(c.filetailConfig(log))
	if err != nil {
		return nil, err
	}
	return &sources{all: []collectors.Collector{t}}, nil
}

// heartbeatAttrs is agent.Config.HeartbeatAttrs: the clock collector's
// latest summary, when there is one.
func (s *sources) heartbeatAttrs() []collectors.Attr {
	if s.clock == nil {
		return nil
	}
	return clockAttrs(s.clock.Latest())
}

// clockAttrs are the heartbeat attributes of a clock summary: the same
// figures as a CLOCK record's attributes, prefixed clock_, and none before
// the first round (ok false).
func clockAttrs(k clock.Summary, ok bool) []collectors.Attr {
	if !ok {
		return nil
	}
	attrs := []collectors.Attr{
		{Key: "clock_time", Value: k.Time.UTC().Format(time.RFC3339)},
		{Key: "clock_ok", Value: strconv.FormatBool(k.OK)},
	}
	if k.OK {
		attrs = append(attrs,
			collectors.Attr{Key: "clock_offset_ns", Value: strconv.FormatInt(k.OffsetNS, 10)},
			collectors.Attr{Key: "clock_error_bound_ns", Value: strconv.FormatInt(k.ErrorBoundNS, 10)})
	}
	return append(attrs,
		collectors.Attr{Key: "clock_reachable", Value: strconv.Itoa(k.Reachable)},
		collectors.Attr{Key: "clock_servers", Value: strconv.Itoa(len(k.Servers))},
		collectors.Attr{Key: "clock_falsetickers", Value: strings.Join(k.Falsetickers, ",")},
		collectors.Attr{Key: "clock_no_majority", Value: strconv.FormatBool(k.NoMajority)})
}
