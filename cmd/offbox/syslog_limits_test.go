package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyslogMaxConnections: syslog.max_connections in the file reaches the
// collector's config, -syslog-max-connections overrides it, and a negative
// value is refused naming the key.
func TestSyslogMaxConnections(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "offbox.yaml")
	if err := os.WriteFile(path, []byte("server: a:1\nsyslog:\n  tcp: [\"127.0.0.1:1601\"]\n  max_connections: 32\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		want    int
		wantErr string
	}{
		{"file", nil, 32, ""},
		{"flag overrides", []string{"-syslog-max-connections", "1000"}, 1000, ""},
		{"negative", []string{"-syslog-max-connections", "-1"}, 0, "max_connections"},
	} {
		f := newRunFlags()
		if err := f.fs.Parse(append([]string{"-config", path}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		c, err := f.effective()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one naming %s", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.syslogConfig(nil).MaxConnections; got != tc.want {
			t.Errorf("%s: syslog MaxConnections %d, want %d", tc.name, got, tc.want)
		}
	}
}
