package config

import "github.com/offbox/offbox/internal/yamlconf"

// Connection caps of the ingest and query API listeners (the metrics
// listener's is metrics.max_connections): more open at once are reset as
// soon as they are accepted, and counted.
const (
	DefaultMaxConnections    = 16384 // agents: the 10,000 of the fan-in target, and room
	DefaultAPIMaxConnections = 256
	maxMaxConnections        = 1 << 20
	maxAPIMaxConnections     = 65536
)

// IngestMaxConnections is max_connections with its default.
func (c *Config) IngestMaxConnections() int {
	if c.MaxConnections == 0 {
		return DefaultMaxConnections
	}
	return c.MaxConnections
}

// APIMaxConnections is api.max_connections with its default.
func (c *Config) APIMaxConnections() int {
	if c.API.MaxConnections == 0 {
		return DefaultAPIMaxConnections
	}
	return c.API.MaxConnections
}

// MetricsMaxConnections is metrics.max_connections with its default.
func (c *Config) MetricsMaxConnections() int {
	if c.Metrics.MaxConnections == 0 {
		return DefaultMetricsMaxConnections
	}
	return c.Metrics.MaxConnections
}

// checkConnections reports bad connection caps.
func (c *Config) checkConnections() []error {
	var errs []error
	if n := c.MaxConnections; n < 0 || n > maxMaxConnections {
		errs = append(errs, yamlconf.Fieldf("max_connections", "max_connections %d: want 0 (default %d) to %d", n, DefaultMaxConnections, maxMaxConnections))
	}
	if n := c.API.MaxConnections; n < 0 || n > maxAPIMaxConnections {
		errs = append(errs, yamlconf.Fieldf("api.max_connections", "api.max_connections %d: want 0 (default %d) to %d", n, DefaultAPIMaxConnections, maxAPIMaxConnections))
	}
	return errs
}
