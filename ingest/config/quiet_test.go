package config

import (
	"strings"
	"testing"
	"time"
)

// TestSourceQuietConfig: the source_quiet keys reach detection, default
// sanely, and a bad value is refused naming its key.
func TestSourceQuietConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(write(t, dir, "c.yaml", "db: /tmp/x.db\ndetect:\n  source_quiet_multiple: 4.5\n  source_quiet_min_samples: 8\n  source_quiet_min_silence: 90s\n  source_quiet_max_sources: 500\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.DetectConfig()
	if err != nil {
		t.Fatal(err)
	}
	if d.SourceQuietMultiple != 4.5 || d.SourceQuietMinSamples != 8 || d.SourceQuietMinSilence != 90*time.Second || d.MaxQuietSources != 500 {
		t.Errorf("detect config %+v", d)
	}
	dc := Default()
	def, err := dc.DetectConfig()
	if err != nil {
		t.Fatal(err)
	}
	if def.SourceQuietMultiple != 10 || def.SourceQuietMinSamples != 20 || def.SourceQuietMinSilence != 10*time.Minute || def.MaxQuietSources != 100000 {
		t.Errorf("defaults %+v", def)
	}
	for body, want := range map[string]string{
		"source_quiet_multiple: 1":       "detect.source_quiet_multiple 1: at least 2",
		"source_quiet_min_samples: 1":    "detect.source_quiet_min_samples 1: at least 2",
		"source_quiet_min_silence: 10ms": "detect.source_quiet_min_silence 10ms: at least 1s",
		"source_quiet_max_sources: 0":    "detect.source_quiet_max_sources 0: must be positive",
	} {
		c, err := Load(write(t, dir, "bad.yaml", "db: /tmp/x.db\ndetect:\n  "+body+"\n"))
		if err == nil {
			_, err = c.DetectConfig()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
}
