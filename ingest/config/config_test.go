package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/notify"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// exampleLine is a commented-out example in the packaged config: "#"
// followed by the indentation of a nested key.
var exampleLine = regexp.MustCompile(`(?m)^#( {2,}\S)`)

// TestExampleLoads: the documented example is a valid file that sets every
// key (so a key added to Config without documenting it fails here), once
// its commented-out examples are put back; as shipped it has no sinks, no
// device rules, no firmware list and no enrollment, so that it starts on a
// fresh install.
func TestExampleLoads(t *testing.T) {
	t.Parallel()
	shipped, err := Load("../../packaging/offbox-ingest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("../../packaging/offbox-ingest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	uncommented := exampleLine.ReplaceAll(data, []byte("$1"))
	if bytes.Equal(uncommented, data) {
		t.Fatal("packaging/offbox-ingest.yaml has no commented-out examples")
	}
	c, err := Load(write(t, t.TempDir(), "offbox-ingest.yaml", string(uncommented)))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Listen: "0.0.0.0:7443", TLS: TLS{CA: "/etc/offbox-ingest/ca.pem", Cert: "/etc/offbox-ingest/ingest.pem",
		Key: "/etc/offbox-ingest/ingest-key.pem"}, DB: "/var/lib/offbox-ingest/offbox.db", SQLiteSync: "full",
		MaxBatchBytes: 8 << 20, ShutdownGrace: 15 * time.Second, LogLevel: "info",
		API: API{Listen: "127.0.0.1:7480", AllowCIDRs: []string{"127.0.0.1/32"}, MaxConnections: 256}, Detect: defaultDetect(),
		Alerting: Alerting{Sinks: []notify.SinkConfig{
			{Name: "soc", Type: "webhook", URL: "https://soc.example.net/hooks/offbox",
				Headers: map[string]string{"Authorization": "Bearer change-me"}, MinSeverity: "warning", Kinds: []string{},
				Timeout: 10 * time.Second, CA: "/etc/offbox-ingest/soc-ca.pem"},
			{Name: "alertmanager", Type: "alertmanager", URL: "http://127.0.0.1:9093"},
			{Name: "soc-mail", Type: "email", Email: notify.Email{SMTP: "mail.example.net:587", TLS: "starttls",
				Username: "offbox", PasswordFile: "/etc/offbox-ingest/smtp-password", From: "offbox <offbox@example.net>",
				To: []string{"soc@example.net"}, DigestWindow: time.Minute}}},
			Escalate: []notify.EscalateRule{{After: 15 * time.Minute, MinSeverity: "warning", Sink: "soc"}}},
		Devices: []DeviceRule{{Match: "sw-*", Labels: map[string]string{"role": "switch", "site": "par1"}},
			{Match: "sw-core-*", Labels: map[string]string{"tier": "core"}, HeartbeatInterval: 30 * time.Second},
			{Match: "relay-*", RecordsPerSecond: ptr(50000.0), BytesPerSecond: ptr(0.0)}},
		Limits: Limits{BurstSeconds: 2}, Metrics: Metrics{Listen: "127.0.0.1:9464", MaxDevices: 1000, MaxConnections: 16},
		Search: Search{Index: true}, MaxConnections: 16384}
	want.Detect.ApprovedFirmware = map[string][]string{"OpenWrt One": {"24.10.0", "24.10.1"}}
	want.Enroll = Enroll{CAKey: "/etc/offbox-ingest/ca-key.pem", CertValidity: DefaultCertValidity, TokenTTL: DefaultTokenTTL}
	want.Forward = exampleForward
	if !reflect.DeepEqual(c, want) {
		t.Errorf("packaging/offbox-ingest.yaml with its examples = %+v, want %+v", c, want)
	}
	wantShipped := want
	wantShipped.Alerting, wantShipped.Devices, wantShipped.Enroll.CAKey = Alerting{}, nil, ""
	wantShipped.Forward = nil
	wantShipped.Detect = defaultDetect()
	wantShipped.Metrics.Listen = ""
	if !reflect.DeepEqual(shipped, wantShipped) {
		t.Errorf("packaging/offbox-ingest.yaml as shipped = %+v, want %+v", shipped, wantShipped)
	}
	// The documented detect values are the defaults.
	c.Detect.ApprovedFirmware = nil
	if !reflect.DeepEqual(c.Detect, Default().Detect) {
		t.Errorf("documented detect section %+v differs from the defaults %+v", c.Detect, Default().Detect)
	}
	b, _ := os.ReadFile("../../packaging/offbox-ingest.yaml")
	for _, key := range []string{"listen:", "tls:", "ca:", "cert:", "key:", "db:", "store:", "retention:", "sqlite_sync:", "max_batch_bytes:", "shutdown_grace:", "log_level:",
		"api:", "allow_cidrs:", "client_ca:", "detect:", "group_window:", "brute_force_threshold:", "brute_force_window:", "working_hours:", "working_days:",
		"timezone:", "reboot_loop_count:", "reboot_loop_window:", "approved_firmware:", "heartbeat_interval:",
		"heartbeat_misses:", "timestamp_skew:", "clock_offset_warning:", "clock_offset_critical:", "password_max_age_days:",
		"alerting:", "sinks:", "escalate:", "after:", "sink:", "name:", "type:", "url:", "headers:", "min_severity:", "kinds:", "timeout:",
		"enroll:", "ca_key:", "cert_validity:", "token_ttl:",
		"devices:", "match:", "labels:", "limits:", "records_per_second:", "bytes_per_second:", "burst_seconds:"} {
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
		"bad hours":       {func(c *Config) { c.Detect.WorkingHours = "9-5" }, "detect.working_hours"},
		"empty hours":     {func(c *Config) { c.Detect.WorkingHours = "09:00-09:00" }, "empty window"},
		"night shift":     {func(c *Config) { c.Detect.WorkingHours = "22:00-06:00" }, ""},
		"bad day":         {func(c *Config) { c.Detect.WorkingDays = []string{"monday"} }, "detect.working_days"},
		"bad timezone":    {func(c *Config) { c.Detect.Timezone = "Mars/Olympus" }, "detect.timezone"},
		"zero threshold":  {func(c *Config) { c.Detect.BruteForceThreshold = 0 }, "detect.brute_force_threshold"},
		"tiny heartbeat":  {func(c *Config) { c.Detect.HeartbeatInterval = time.Millisecond }, "detect.heartbeat_interval"},
		"warn > crit":     {func(c *Config) { c.Detect.ClockOffsetWarning = 2 * time.Second }, "clock_offset_warning"},
		"empty firmware":  {func(c *Config) { c.Detect.ApprovedFirmware = map[string][]string{"m": nil} }, "approved_firmware.m"},
		"escalate":        {func(c *Config) { c.Alerting = escalating(notify.EscalateRule{After: time.Minute, Sink: "x"}) }, ""},
		"escalate sink":   {func(c *Config) { c.Alerting = escalating(notify.EscalateRule{After: time.Minute, Sink: "y"}) }, `alerting.escalate[0].sink "y": no sink`},
		"escalate after":  {func(c *Config) { c.Alerting = escalating(notify.EscalateRule{Sink: "x"}) }, "alerting.escalate[0].after 0s: must be positive"},
		"escalate sev": {func(c *Config) {
			c.Alerting = escalating(notify.EscalateRule{After: time.Minute, Sink: "x", MinSeverity: "loud"})
		}, `alerting.escalate[0].min_severity "loud"`},
		"bad sink":        {func(c *Config) { c.Alerting.Sinks = []notify.SinkConfig{{Name: "x", Type: "pager"}} }, "alerting.sinks"},
		"no match":        {func(c *Config) { c.Devices = []DeviceRule{{Labels: map[string]string{"a": "b"}}} }, "devices[0].match"},
		"bad glob":        {func(c *Config) { c.Devices = []DeviceRule{{Match: "[sw"}} }, "devices[0].match"},
		"bad label":       {func(c *Config) { c.Devices = []DeviceRule{{Match: "*", Labels: map[string]string{"a=b": "c"}}} }, "devices[0].labels"},
		"public api":      {func(c *Config) { c.API.Listen = "0.0.0.0:7480" }, "api.allow_cidrs: required"},
		"loopback api":    {func(c *Config) { c.API.Listen = "[::1]:7480" }, ""},
		"postgres store":  {func(c *Config) { c.DB, c.Store = "", "postgres://offbox@db:5432/offbox?sslmode=verify-full" }, ""},
		"db and store":    {func(c *Config) { c.Store = "postgres://offbox@db/offbox" }, "db and store are both set"},
		"store not url":   {func(c *Config) { c.DB, c.Store = "", "/var/lib/x.db" }, "store: want a postgres:// URL"},
		"store no db":     {func(c *Config) { c.DB, c.Store = "", "postgres://offbox:s3cret@db:5432" }, "names no database"},
		"bad store url":   {func(c *Config) { c.DB, c.Store = "", "postgres://offbox:s3cret@db:port/x" }, "not a valid URL"},
		"no db nor store": {func(c *Config) { c.DB = "" }, "or store"},
		"retention":       {func(c *Config) { c.Retention = 90 * 24 * time.Hour }, ""},
		"short retention": {func(c *Config) { c.Retention = time.Minute }, "retention 1m0s: want 0"},
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
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error repeats the password: %v", name, err)
		}
	}
}

func TestDeviceRules(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Devices = []DeviceRule{{Match: "sw-*", Labels: map[string]string{"role": "switch", "site": "a"}},
		{Match: "sw-core-*", Labels: map[string]string{"site": "b"}, HeartbeatInterval: time.Minute}}
	if got := c.DeviceLabels("sw-core-1"); !reflect.DeepEqual(got, map[string]string{"role": "switch", "site": "b"}) {
		t.Errorf("labels of sw-core-1 = %v", got)
	}
	if got := c.DeviceLabels("fw-1"); got != nil {
		t.Errorf("labels of fw-1 = %v, want none", got)
	}
	d, err := c.DetectConfig()
	if err != nil {
		t.Fatal(err)
	}
	if d.IntervalOf("sw-core-1") != time.Minute || d.IntervalOf("sw-1") != 0 {
		t.Errorf("intervals: sw-core-1 %s, sw-1 %s", d.IntervalOf("sw-core-1"), d.IntervalOf("sw-1"))
	}
	if d.WorkStart != 7*time.Hour || d.WorkEnd != 19*time.Hour || len(d.WorkDays) != 5 || d.Location.String() != "UTC" {
		t.Errorf("working window %v-%v %v %v", d.WorkStart, d.WorkEnd, d.WorkDays, d.Location)
	}
}

// escalating is an alerting section with one webhook sink x and rule r.
func escalating(r notify.EscalateRule) Alerting {
	return Alerting{Sinks: []notify.SinkConfig{{Name: "x", Type: "webhook", URL: "http://127.0.0.1:1"}},
		Escalate: []notify.EscalateRule{r}}
}

func TestEscalateNamesFileAndLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := write(t, dir, "esc.yaml", "db: "+filepath.Join(dir, "x.db")+"\nalerting:\n  sinks:\n    - name: soc\n      type: webhook\n      url: http://127.0.0.1:1\n  escalate:\n    - after: 15m\n      sink: oncall\n")
	c, src, err := LoadSource(p)
	if err != nil {
		t.Fatal(err)
	}
	err = src.Locate(c.CheckSyntax())
	if err == nil || !strings.Contains(err.Error(), p+":9") || !strings.Contains(err.Error(), `"oncall": no sink`) {
		t.Fatalf("err = %v, want %s:9 and the unknown sink", err, p)
	}
}

// TestSearchIndex: search.index is on unless the file turns it off, and
// takes only a boolean.
func TestSearchIndex(t *testing.T) {
	dir := t.TempDir()
	base := "tls: {ca: ca.pem, cert: c.pem, key: k.pem}\ndb: x.db\n"
	for body, want := range map[string]bool{"": true, "search: {index: true}\n": true, "search: {index: false}\n": false} {
		c, err := Load(write(t, dir, "c.yaml", base+body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if c.Search.Index != want {
			t.Errorf("%q: search.index %v, want %v", body, c.Search.Index, want)
		}
	}
	if _, err := Load(write(t, dir, "c.yaml", base+"search: {index: sometimes}\n")); err == nil || !strings.Contains(err.Error(), "index") {
		t.Errorf("search.index: sometimes loads (%v)", err)
	}
}
