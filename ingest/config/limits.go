package config

import (
	"fmt"
	"math"
	"path"
	"time"

	"github.com/offbox/offbox/internal/yamlconf"
)

// Limits are the per-device rate limits: a device over one is read more
// slowly and told so (a Throttle message); nothing it sends is refused or
// lost. 0 turns a limit off; both are off by default. A devices rule may
// set either for the devices it matches.
type Limits struct {
	RecordsPerSecond float64 `yaml:"records_per_second"` // records a second, per device; 0: no limit
	BytesPerSecond   float64 `yaml:"bytes_per_second"`   // signed batch bytes a second, per device; 0: no limit
	BurstSeconds     float64 `yaml:"burst_seconds"`      // what may pass at once, as seconds at the rate; 0: 2
}

// DefaultBurstSeconds is Limits.BurstSeconds when it is 0.
const DefaultBurstSeconds = 2

// Burst is BurstSeconds as a duration, with its default.
func (l Limits) Burst() time.Duration {
	if l.BurstSeconds == 0 {
		return DefaultBurstSeconds * time.Second
	}
	return time.Duration(l.BurstSeconds * float64(time.Second))
}

// LimitsFor is the limits of device: Limits, overridden by every devices
// rule that matches it and sets one, in order.
func (c *Config) LimitsFor(device string) Limits {
	l := c.Limits
	for _, r := range c.Devices {
		if ok, _ := path.Match(r.Match, device); !ok {
			continue
		}
		if r.RecordsPerSecond != nil {
			l.RecordsPerSecond = *r.RecordsPerSecond
		}
		if r.BytesPerSecond != nil {
			l.BytesPerSecond = *r.BytesPerSecond
		}
	}
	return l
}

func (c *Config) checkLimits() []error {
	var errs []error
	rate := func(key string, v *float64) {
		if v != nil && (*v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0)) {
			errs = append(errs, yamlconf.Fieldf(key, "%s %v: want 0 (no limit) or more", key, *v))
		}
	}
	rate("limits.records_per_second", &c.Limits.RecordsPerSecond)
	rate("limits.bytes_per_second", &c.Limits.BytesPerSecond)
	if b := c.Limits.BurstSeconds; b < 0 || b > 3600 || math.IsNaN(b) {
		errs = append(errs, yamlconf.Fieldf("limits.burst_seconds", "limits.burst_seconds %v: want 0 (the default, 2) to 3600", b))
	}
	for i, r := range c.Devices {
		rate(fmt.Sprintf("devices[%d].records_per_second", i), r.RecordsPerSecond)
		rate(fmt.Sprintf("devices[%d].bytes_per_second", i), r.BytesPerSecond)
	}
	return errs
}
