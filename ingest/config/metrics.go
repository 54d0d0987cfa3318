package config

import (
	"net"

	"github.com/offbox/offbox/internal/yamlconf"
)

// Metrics is the Prometheus metrics listener. On a loopback address it
// serves plain HTTP to loopback clients; on any other it is served only
// behind the query API's protections: its TLS certificate (api.tls), its
// address ranges (api.allow_cidrs, checked before TLS) and operator
// authentication (an operator certificate or token, as the API takes).
type Metrics struct {
	Listen         string `yaml:"listen"`          // HOST:PORT; "" (default): off
	MaxDevices     int    `yaml:"max_devices"`     // devices with per-device heartbeat gauges; 0: 1000
	MaxConnections int    `yaml:"max_connections"` // connections open at once; more are closed and counted; 0: 16
}

// Defaults and bounds of the metrics section.
const (
	DefaultMetricsMaxDevices     = 1000
	DefaultMetricsMaxConnections = 16
	maxMetricsMaxDevices         = 100000 // 5 series each
	maxMetricsMaxConnections     = 1024
)

// MetricsLoopback reports whether metrics.listen is a loopback address
// (plain HTTP, no authentication, loopback clients only).
func (c *Config) MetricsLoopback() bool {
	host, _, err := net.SplitHostPort(c.Metrics.Listen)
	return err == nil && loopbackListen(host)
}

// checkMetrics reports the problems of the metrics section.
func (c *Config) checkMetrics() []error {
	m := &c.Metrics
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, yamlconf.Fieldf(key, format, args...)) }
	if m.MaxDevices < 0 || m.MaxDevices > maxMetricsMaxDevices {
		bad("metrics.max_devices", "metrics.max_devices %d: want 0 (default %d) to %d", m.MaxDevices, DefaultMetricsMaxDevices, maxMetricsMaxDevices)
	}
	if m.MaxConnections < 0 || m.MaxConnections > maxMetricsMaxConnections {
		bad("metrics.max_connections", "metrics.max_connections %d: want 0 (default %d) to %d", m.MaxConnections, DefaultMetricsMaxConnections, maxMetricsMaxConnections)
	}
	if m.Listen == "" {
		return errs
	}
	host, port, err := net.SplitHostPort(m.Listen)
	if err != nil || port == "" {
		bad("metrics.listen", "metrics.listen %q: want HOST:PORT", m.Listen)
		return errs
	}
	if port != "0" {
		for _, o := range []struct{ key, addr string }{{"listen", c.Listen}, {"api.listen", c.API.Listen}} {
			if o.addr != "" && o.addr == m.Listen {
				bad("metrics.listen", "metrics.listen %q: %s listens there already; give metrics a port of its own", m.Listen, o.key)
			}
		}
	}
	if loopbackListen(host) {
		return errs
	}
	// Anywhere else, only behind the API's TLS, address ranges and
	// operator authentication.
	if c.API.TLS.Cert == "" || c.API.TLS.Key == "" {
		bad("metrics.listen", "metrics.listen %q is not loopback: it is served with the query API's TLS and operator authentication, so api.tls.cert and api.tls.key are required (plain HTTP metrics are allowed on 127.0.0.1, ::1 or localhost only)", m.Listen)
	}
	if len(c.API.AllowCIDRs) == 0 {
		bad("metrics.listen", "metrics.listen %q is not loopback: api.allow_cidrs is required, the address ranges allowed to scrape (and to use the API), such as 10.0.0.0/24", m.Listen)
	}
	return errs
}
