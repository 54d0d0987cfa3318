package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExampleLoads: the documented example is a valid file that sets every
// key (so a key added to Config without documenting it fails here).
func TestExampleLoads(t *testing.T) {
	t.Parallel()
	c, err := Load("../../packaging/offbox-ingest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "0.0.0.0:7443", TLS: TLS{CA: "/etc/offbox-ingest/ca.pem", Cert: "/etc/offbox-ingest/ingest.pem",
		Key: "/etc/offbox-ingest/ingest-key.pem"}, DB: "/var/lib/offbox-ingest/offbox.db", SQLiteSync: "full",
		MaxBatchBytes: 8 << 20, ShutdownGrace: 15 * time.Second, LogLevel: "info"}
	if c != want {
		t.Errorf("packaging/offbox-ingest.yaml = %+v, want %+v", c, want)
	}
	b, _ := os.ReadFile("../../packaging/offbox-ingest.yaml")
	for _, key := range []string{"listen:", "tls:", "ca:", "cert:", "key:", "db:", "sqlite_sync:", "max_batch_bytes:", "shutdown_grace:", "log_level:"} {
		if !strings.Contains(string(b), key) {
			t.Errorf("packaging/offbox-ingest.yaml does not document %s", key)
		}
	}
}

func TestDefaultsKeptForMissingKeys(t *testing.T) {
	t.Parallel()
	c, err := Load(write(t, t.TempDir(), "c.yaml", "db: /tmp/x.db\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.SQLiteSync != "full" || c.MaxBatchBytes != DefaultMaxBatchBytes || c.DB != "/tmp/x.db" {
		t.Errorf("config = %+v", c)
	}
}

func TestUnknownKeyNamesFileAndLine(t *testing.T) {
	t.Parallel()
	p := write(t, t.TempDir(), "bad.yaml", "listen: 127.0.0.1:1\ndb: x\nsqlite_synk: full\n")
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p+":3") {
		t.Fatalf("err = %v, want it to name %s:3", err, p)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pem := write(t, dir, "x.pem", "x")
	good := Default()
	good.TLS = TLS{CA: pem, Cert: pem, Key: pem}
	good.DB = filepath.Join(dir, "db.sqlite")
	if err := good.Check(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := map[string]struct {
		mutate func(*Config)
		want   string
	}{
		"no db":           {func(c *Config) { c.DB = "" }, "db: required"},
		"db dir missing":  {func(c *Config) { c.DB = filepath.Join(dir, "nope", "x.db") }, "no such file"},
		"db dir is file":  {func(c *Config) { c.DB = filepath.Join(pem, "x.db") }, "not a directory"},
		"no ca":           {func(c *Config) { c.TLS.CA = "" }, "tls.ca: required"},
		"missing key":     {func(c *Config) { c.TLS.Key = filepath.Join(dir, "nokey.pem") }, "tls.key"},
		"bad listen":      {func(c *Config) { c.Listen = "7443" }, "listen"},
		"bad sync":        {func(c *Config) { c.SQLiteSync = "off" }, "sqlite_sync"},
		"zero max batch":  {func(c *Config) { c.MaxBatchBytes = 0 }, "max_batch_bytes"},
		"huge max batch":  {func(c *Config) { c.MaxBatchBytes = 1 << 30 }, "max_batch_bytes"},
		"bad level":       {func(c *Config) { c.LogLevel = "loud" }, "log_level"},
		"negative grace":  {func(c *Config) { c.ShutdownGrace = -time.Second }, "shutdown_grace"},
		"sync upper case": {func(c *Config) { c.SQLiteSync = "NORMAL" }, ""},
	}
	for name, tt := range tests {
		c := good
		tt.mutate(&c)
		err := c.Check()
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tt.want)
		}
	}
}
