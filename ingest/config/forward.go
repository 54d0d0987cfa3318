package config

import (
	"github.com/offbox/offbox/ingest/forward"
	"github.com/offbox/offbox/internal/yamlconf"
)

// Forward is the forward: section, its sinks (ingest/forward).
type Forward = []forward.SinkConfig

// checkForward reports the problems of the forward sinks; without files,
// their ca, cert and key files are not read.
func (c *Config) checkForward(files bool) []error {
	if err := forward.CheckSinks(c.Forward, files); err != nil {
		return []error{yamlconf.Under("forward", err)}
	}
	return nil
}
