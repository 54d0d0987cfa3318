package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v3/common"
	"github.com/shirou/gopsutil/v3/load"
	"github.com/shirou/gopsutil/v3/mem"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/internal/version"
)

// heartbeats queues a heartbeat record every interval and flushes it, so
// the collector hears from the device even when nothing else happens.
func (a *Agent) heartbeats(ctx context.Context) {
	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := a.cfg.Now()
			a.q.TryEmit(collectors.Record{Time: now, Kind: collectors.KindHeartbeat, Source: agentSource,
				Attrs: a.heartbeatAttrs(ctx, now)})
			a.q.Flush()
			a.applianceHeartbeats(now) // relaybeat.go
		}
	}
}

// heartbeatAttrs are the figures each heartbeat carries: who and how long
// (boot id, version, config, uptimes), what the pipeline holds and lost,
// and what the agent and the host use. Config.HeartbeatAttrs adds more (the
// clock summary). A figure that cannot be read is left out and its reason
// is in the attribute unavailable.
func (a *Agent) heartbeatAttrs(ctx context.Context, now time.Time) []collectors.Attr {
	st := a.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	attrs := make([]collectors.Attr, 0, 24)
	attrs = append(attrs,
		collectors.Attr{Key: "agent_uptime_s", Value: strconv.FormatInt(int64(now.Sub(a.started)/time.Second), 10)},
		collectors.Attr{Key: "boot_id", Value: a.bootID},
		collectors.Attr{Key: "agent_version", Value: version.Version},
		collectors.Attr{Key: "config_hash", Value: a.cfg.ConfigHash},
		collectors.Attr{Key: "heartbeat_interval", Value: a.cfg.Heartbeat.String()},
		collectors.Attr{Key: "queue_bytes", Value: strconv.FormatInt(st.QueueBytes, 10)},
		collectors.Attr{Key: "sent_records", Value: u(st.SentRecords)},
		collectors.Attr{Key: "sent_batches", Value: u(st.SentBatches)},
		collectors.Attr{Key: "dropped_records", Value: u(st.DroppedRecords)},
		collectors.Attr{Key: "dropped_bytes", Value: u(st.DroppedBytes)},
		collectors.Attr{Key: "throttle_events", Value: u(st.Throttled)},
	)
	attrs = append(attrs, readResources(ctx, a.cfg.HostRoot)...)
	for _, c := range a.cfg.Collectors {
		if r, ok := c.(collectors.Reporter); ok {
			attrs = append(attrs, r.HeartbeatAttrs()...)
		}
	}
	if a.cfg.HeartbeatAttrs != nil {
		attrs = append(attrs, a.cfg.HeartbeatAttrs()...)
	}
	return attrs
}

// readResources reads the host's uptime, load and memory under hostRoot
// and the agent's own resident memory and CPU time. The agent's figures
// come from its own /proc, never from under hostRoot: a host /proc mounted
// into a container is another pid namespace, where the agent's pid names
// another process.
func readResources(ctx context.Context, hostRoot string) []collectors.Attr {
	var attrs []collectors.Attr
	var unavailable []string
	add := func(k, v string) { attrs = append(attrs, collectors.Attr{Key: k, Value: v}) }
	fail := func(what string, err error) { unavailable = append(unavailable, what+": "+err.Error()) }
	float := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

	if b, err := os.ReadFile(filepath.Join(hostRoot, "proc/uptime")); err != nil {
		fail("host uptime", err)
	} else if up, err := parseUptime(b); err != nil {
		fail("host uptime", err)
	} else {
		add("host_uptime_s", strconv.FormatInt(int64(up), 10))
	}

	// gopsutil reads /proc where the context's HOST_PROC says. Two of its
	// habits are guarded against: it reads a missing meminfo as all zeros,
	// and indexes a loadavg of fewer than three fields out of range.
	hostCtx := context.WithValue(ctx, common.EnvKey, common.EnvMap{common.HostProcEnvKey: filepath.Join(hostRoot, "proc")})
	if err := guard(func() error {
		l, err := load.AvgWithContext(hostCtx)
		if err == nil {
			add("load1", float(l.Load1, 2))
			add("load5", float(l.Load5, 2))
			add("load15", float(l.Load15, 2))
		}
		return err
	}); err != nil {
		fail("load", err)
	}
	if err := guard(func() error {
		m, err := mem.VirtualMemoryWithContext(hostCtx)
		switch {
		case err != nil:
			return err
		case m.Total == 0:
			return fmt.Errorf("no MemTotal in %s", filepath.Join(hostRoot, "proc/meminfo"))
		}
		add("mem_total_bytes", strconv.FormatUint(m.Total, 10))
		add("mem_available_bytes", strconv.FormatUint(m.Available, 10))
		return nil
	}); err != nil {
		fail("memory", err)
	}

	if rss, err := selfRSS(); err != nil {
		fail("agent rss", err)
	} else {
		add("agent_rss_bytes", strconv.FormatUint(rss, 10))
	}
	if cpu, err := selfCPU(); err != nil {
		fail("agent cpu", err)
	} else {
		add("agent_cpu_s", float(cpu, 2))
	}

	if len(unavailable) > 0 {
		add("unavailable", strings.Join(unavailable, "; "))
	}
	return attrs
}

// maxUptime bounds a believable uptime (about 31,700 years), so that the
// seconds fit an int64.
const maxUptime = 1e12

// guard runs f, turning a panic into an error: a malformed file under the
// host root must cost a heartbeat figure, never the agent.
func guard(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cannot parse: %v", p)
		}
	}()
	return f()
}

// parseUptime parses /proc/uptime ("86523.41 172011.88\n": seconds up and
// seconds all CPUs idled) into the seconds up.
func parseUptime(b []byte) (float64, error) {
	fields := bytes.Fields(b)
	if len(fields) == 0 {
		return 0, errors.New("empty")
	}
	v, err := strconv.ParseFloat(string(fields[0]), 64)
	if err != nil || !(v >= 0 && v < maxUptime) { // NaN fails both
		return 0, fmt.Errorf("bad uptime %q", fields[0])
	}
	return v, nil
}
