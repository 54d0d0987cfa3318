package config

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/notify"
	"github.com/offbox/offbox/internal/yamlconf"
)

// Detect holds the detection thresholds (ingest/detect.Config); Default
// sets each to its documented default.
type Detect struct {
	GroupWindow         time.Duration       `yaml:"group_window"`          // occurrences of the same kind, device and key this close are one alert
	BruteForceThreshold int                 `yaml:"brute_force_threshold"` // failures from one source, or against one device, that make brute force
	BruteForceWindow    time.Duration       `yaml:"brute_force_window"`    // within this long; also the success-after-failures window
	WorkingHours        string              `yaml:"working_hours"`         // HH:MM-HH:MM; a success outside it is flagged
	WorkingDays         []string            `yaml:"working_days"`          // mon ... sun
	Timezone            string              `yaml:"timezone"`              // of the working hours: UTC, Local or an IANA name
	RebootLoopCount     int                 `yaml:"reboot_loop_count"`     // reboots within reboot_loop_window that make a loop
	RebootLoopWindow    time.Duration       `yaml:"reboot_loop_window"`    //
	ApprovedFirmware    map[string][]string `yaml:"approved_firmware"`     // model → allowed firmware_version values
	HeartbeatInterval   time.Duration       `yaml:"heartbeat_interval"`    // for devices that do not report theirs
	HeartbeatMisses     int                 `yaml:"heartbeat_misses"`      // missed heartbeats (+½ interval slack) before heartbeat_missing
	TimestampSkew       time.Duration       `yaml:"timestamp_skew"`        // |received − device time| that raises timestamp_mismatch
	ClockOffsetWarning  time.Duration       `yaml:"clock_offset_warning"`  //
	ClockOffsetCritical time.Duration       `yaml:"clock_offset_critical"` //
	PasswordMaxAgeDays  int                 `yaml:"password_max_age_days"` //

	SourceQuietMultiple   float64       `yaml:"source_quiet_multiple"`    // source_quiet after this many of a source's usual gaps of silence
	SourceQuietMinSamples int           `yaml:"source_quiet_min_samples"` // gaps learned before a source is judged
	SourceQuietMinSilence time.Duration `yaml:"source_quiet_min_silence"` // and never before this long
	SourceQuietMaxSources int           `yaml:"source_quiet_max_sources"` // sources tracked over all devices
}

// Alerting is where alerts are delivered.
type Alerting struct {
	Sinks    []notify.SinkConfig   `yaml:"sinks"`
	Escalate []notify.EscalateRule `yaml:"escalate"` // deliver an alert still open after a while once more
}

// DeviceRule gives the devices whose id matches Match (a shell glob, as
// path.Match) labels and settings. Every matching rule applies, in order;
// a later one overrides an earlier one's label of the same name.
type DeviceRule struct {
	Match             string            `yaml:"match"`
	Labels            map[string]string `yaml:"labels"`
	HeartbeatInterval time.Duration     `yaml:"heartbeat_interval"` // overrides what the device reports
	RecordsPerSecond  *float64          `yaml:"records_per_second"` // overrides limits.records_per_second (0: no limit)
	BytesPerSecond    *float64          `yaml:"bytes_per_second"`   // overrides limits.bytes_per_second (0: no limit)
}

func defaultDetect() Detect {
	return Detect{GroupWindow: 5 * time.Minute, BruteForceThreshold: 5, BruteForceWindow: 5 * time.Minute,
		WorkingHours: "07:00-19:00", WorkingDays: []string{"mon", "tue", "wed", "thu", "fri"}, Timezone: "UTC",
		RebootLoopCount: 3, RebootLoopWindow: 30 * time.Minute, HeartbeatInterval: 15 * time.Second,
		HeartbeatMisses: 2, TimestampSkew: 2 * time.Minute, ClockOffsetWarning: 100 * time.Millisecond,
		ClockOffsetCritical: time.Second, PasswordMaxAgeDays: 365,
		SourceQuietMultiple: 10, SourceQuietMinSamples: 20, SourceQuietMinSilence: 10 * time.Minute, SourceQuietMaxSources: 100000}
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// DetectConfig is the detection configuration: thresholds, working hours
// and the per-device heartbeat intervals of the device rules.
func (c *Config) DetectConfig() (detect.Config, error) {
	d := c.Detect
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, yamlconf.Fieldf("detect."+key, "detect."+format, args...))
	}
	out := detect.Config{GroupWindow: d.GroupWindow, BruteForceThreshold: d.BruteForceThreshold,
		BruteForceWindow: d.BruteForceWindow, RebootLoopCount: d.RebootLoopCount, RebootLoopWindow: d.RebootLoopWindow,
		ApprovedFirmware: d.ApprovedFirmware, HeartbeatInterval: d.HeartbeatInterval, HeartbeatMisses: d.HeartbeatMisses,
		TimestampSkew: d.TimestampSkew, ClockOffsetWarning: d.ClockOffsetWarning,
		ClockOffsetCritical: d.ClockOffsetCritical, PasswordMaxAgeDays: d.PasswordMaxAgeDays,
		SourceQuietMultiple: d.SourceQuietMultiple, SourceQuietMinSamples: d.SourceQuietMinSamples,
		SourceQuietMinSilence: d.SourceQuietMinSilence, MaxQuietSources: d.SourceQuietMaxSources}
	for name, v := range map[string]time.Duration{"group_window": d.GroupWindow, "brute_force_window": d.BruteForceWindow,
		"reboot_loop_window": d.RebootLoopWindow, "heartbeat_interval": d.HeartbeatInterval, "timestamp_skew": d.TimestampSkew,
		"clock_offset_warning": d.ClockOffsetWarning, "clock_offset_critical": d.ClockOffsetCritical} {
		if v <= 0 {
			bad(name, "%s %s: must be positive", name, v)
		}
	}
	for name, v := range map[string]int{"brute_force_threshold": d.BruteForceThreshold, "reboot_loop_count": d.RebootLoopCount,
		"heartbeat_misses": d.HeartbeatMisses, "password_max_age_days": d.PasswordMaxAgeDays} {
		if v <= 0 {
			bad(name, "%s %d: must be positive", name, v)
		}
	}
	if d.SourceQuietMultiple < 2 {
		bad("source_quiet_multiple", "source_quiet_multiple %g: at least 2 (a source is quiet after this many of its usual gaps)", d.SourceQuietMultiple)
	}
	if d.SourceQuietMinSamples < 2 {
		bad("source_quiet_min_samples", "source_quiet_min_samples %d: at least 2 gaps", d.SourceQuietMinSamples)
	}
	if d.SourceQuietMinSilence < time.Second {
		bad("source_quiet_min_silence", "source_quiet_min_silence %s: at least 1s", d.SourceQuietMinSilence)
	}
	if d.SourceQuietMaxSources < 1 {
		bad("source_quiet_max_sources", "source_quiet_max_sources %d: must be positive", d.SourceQuietMaxSources)
	}
	if d.HeartbeatInterval > 0 && d.HeartbeatInterval < time.Second {
		bad("heartbeat_interval", "heartbeat_interval %s: at least 1s", d.HeartbeatInterval)
	}
	if d.ClockOffsetCritical > 0 && d.ClockOffsetWarning > d.ClockOffsetCritical {
		bad("clock_offset_warning", "clock_offset_warning %s is above clock_offset_critical %s", d.ClockOffsetWarning, d.ClockOffsetCritical)
	}
	start, end, err := parseHours(d.WorkingHours)
	if err != nil {
		bad("working_hours", "working_hours %q: %v", d.WorkingHours, err)
	}
	out.WorkStart, out.WorkEnd = start, end
	out.WorkDays = []time.Weekday{}
	for i, day := range d.WorkingDays {
		wd, ok := weekdays[strings.ToLower(day)]
		if !ok {
			bad(fmt.Sprintf("working_days[%d]", i), "working_days: %q is not one of mon tue wed thu fri sat sun", day)
		}
		out.WorkDays = append(out.WorkDays, wd)
	}
	if out.Location, err = time.LoadLocation(d.Timezone); err != nil {
		bad("timezone", "timezone %q: %v", d.Timezone, err)
	}
	for model, versions := range d.ApprovedFirmware {
		if len(versions) == 0 {
			bad("approved_firmware."+model, "approved_firmware.%s: an empty list would refuse every version; remove the model instead", model)
		}
	}
	rules := c.Devices
	out.IntervalOf = func(device string) time.Duration {
		var iv time.Duration
		for _, r := range rules {
			if ok, _ := path.Match(r.Match, device); ok && r.HeartbeatInterval > 0 {
				iv = r.HeartbeatInterval
			}
		}
		return iv
	}
	return out, errors.Join(errs...)
}

// parseHours reads "HH:MM-HH:MM" as two times of day; the end may be
// before the start (a window across midnight).
func parseHours(s string) (start, end time.Duration, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, errors.New("want HH:MM-HH:MM")
	}
	if start, err = timeOfDay(a); err == nil {
		end, err = timeOfDay(b)
	}
	if err == nil && start == end {
		err = errors.New("an empty window: start and end are the same")
	}
	return start, end, err
}

func timeOfDay(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// DeviceLabels returns the labels the device rules give device (nil if none).
func (c *Config) DeviceLabels(device string) map[string]string {
	var out map[string]string
	for _, r := range c.Devices {
		if ok, _ := path.Match(r.Match, device); !ok {
			continue
		}
		for k, v := range r.Labels {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// checkAlerting reports the problems of the detect, alerting and devices
// sections; without files, a sink's ca file is not read.
func (c *Config) checkAlerting(files bool) []error {
	var errs []error
	if _, err := c.DetectConfig(); err != nil {
		errs = append(errs, err)
	}
	// The sinks' messages name "alerting.sinks NAME" themselves.
	check := notify.CheckSinks
	if !files {
		check = notify.CheckSinksSyntax
	}
	if err := check(c.Alerting.Sinks); err != nil {
		errs = append(errs, yamlconf.Under("alerting.sinks", err))
	}
	if err := notify.CheckEscalate(c.Alerting.Escalate, c.Alerting.Sinks); err != nil {
		errs = append(errs, yamlconf.Under("alerting.escalate", err))
	}
	for i, r := range c.Devices {
		at := fmt.Sprintf("devices[%d]", i)
		if r.Match == "" {
			errs = append(errs, yamlconf.Fieldf(at+".match", "%s.match: required (a glob such as sw-* or *)", at))
		} else if _, err := path.Match(r.Match, ""); err != nil {
			errs = append(errs, yamlconf.Fieldf(at+".match", "%s.match %q: %v", at, r.Match, err))
		}
		for k := range r.Labels {
			if k == "" || strings.ContainsAny(k, "=,") {
				errs = append(errs, yamlconf.Fieldf(at+".labels."+k, "%s.labels: name %q must be non-empty without '=' or ','", at, k))
			}
		}
		if r.HeartbeatInterval < 0 || (r.HeartbeatInterval > 0 && r.HeartbeatInterval < time.Second) {
			errs = append(errs, yamlconf.Fieldf(at+".heartbeat_interval", "%s.heartbeat_interval %s: at least 1s", at, r.HeartbeatInterval))
		}
	}
	return errs
}
