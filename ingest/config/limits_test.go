package config

import (
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestLimitsFor(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Limits = Limits{RecordsPerSecond: 1000, BytesPerSecond: 1 << 20}
	c.Devices = []DeviceRule{
		{Match: "sw-*", RecordsPerSecond: ptr(500.0)},
		{Match: "sw-core-*", BytesPerSecond: ptr(0.0)},
		{Match: "relay-*", Labels: map[string]string{"role": "relay"}},
	}
	tests := []struct {
		device string
		want   Limits
	}{
		{"router-1", Limits{RecordsPerSecond: 1000, BytesPerSecond: 1 << 20}},
		{"sw-1", Limits{RecordsPerSecond: 500, BytesPerSecond: 1 << 20}},
		{"sw-core-1", Limits{RecordsPerSecond: 500, BytesPerSecond: 0}}, // both rules, in order
		{"relay-1", Limits{RecordsPerSecond: 1000, BytesPerSecond: 1 << 20}},
	}
	for _, tc := range tests {
		if got := c.LimitsFor(tc.device); got != tc.want {
			t.Errorf("LimitsFor(%s) = %+v, want %+v", tc.device, got, tc.want)
		}
	}
	if b := (Limits{}).Burst(); b != 2*time.Second {
		t.Errorf("default burst %v, want 2s", b)
	}
	if b := (Limits{BurstSeconds: 0.5}).Burst(); b != 500*time.Millisecond {
		t.Errorf("burst_seconds 0.5 = %v, want 500ms", b)
	}
}

func TestCheckLimits(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"off":              {func(c *Config) {}, ""},
		"set":              {func(c *Config) { c.Limits = Limits{RecordsPerSecond: 2000, BytesPerSecond: 1e6, BurstSeconds: 1} }, ""},
		"negative records": {func(c *Config) { c.Limits.RecordsPerSecond = -1 }, "limits.records_per_second"},
		"negative bytes":   {func(c *Config) { c.Limits.BytesPerSecond = -1 }, "limits.bytes_per_second"},
		"negative burst":   {func(c *Config) { c.Limits.BurstSeconds = -2 }, "limits.burst_seconds"},
		"huge burst":       {func(c *Config) { c.Limits.BurstSeconds = 86400 }, "limits.burst_seconds"},
		"negative override": {func(c *Config) {
			c.Devices = []DeviceRule{{Match: "a"}, {Match: "b", BytesPerSecond: ptr(-5.0)}}
		}, "devices[1].bytes_per_second"},
	}
	for name, tc := range tests {
		c := Default()
		tc.mutate(&c)
		errs := c.checkLimits()
		if tc.want == "" {
			if len(errs) != 0 {
				t.Errorf("%s: %v, want no error", name, errs)
			}
			continue
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
			t.Errorf("%s: %v, want one error naming %s", name, errs, tc.want)
		}
	}
}
