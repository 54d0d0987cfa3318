package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/collectors/clock"
	"github.com/offbox/offbox/collectors/journal"
	"github.com/offbox/offbox/collectors/logread"
	"github.com/offbox/offbox/collectors/syslog"
	"github.com/offbox/offbox/collectors/watch"
)

// The YAML keys and the flags of offbox are a contract: users' files and
// scripts rely on them. These tests pin, for every key and every flag, the
// effective configuration it yields, as the JSON the config hash is taken
// from (so the hash a device reports does not change either). The wants were
// produced by the code before the config was split across the packages.

// everyKey sets every key of the file (but boot.firmware_command, which
// conflicts with firmware_file; see everyKeyFirmwareCommand).
const everyKey = `server: ingest.example:4443
server_name: name.example
tls: {ca: /c/ca.pem, cert: /c/dev.pem, key: /c/dev-key.pem}
renew: {enabled: false, check: 2h}
tail: [/var/log/a.log, /var/log/*.log]
start_at: end
max_line_bytes: 1000
heartbeat: 7s
batch: {max_bytes: 2000, max_records: 30, max_delay: 300ms, idle_delay: 5ms}
memory_budget_bytes: 4000000
max_procs: 2
window: 3
host_root: /
boot: {enabled: true, firmware_file: /etc/fw}
clock: {enabled: true, servers: [10.0.0.1, "10.0.0.2:1123"], name: ntp.example, port: 1124, interval: 10s, samples: 3, window: 5, timeout: 1s}
watch: {enabled: false, paths: [/etc/hosts], diff_paths: [/etc/hosts], max_diff_bytes: 100, shadow: "-", passwd: /etc/pw, rescan: 3s, password_age_every: 2h}
journal: {enabled: false, command: /bin/jc, args: [--unit, x], file: /j/f, directory: "", start_at: end}
syslog: {unix: [/run/log.sock], udp: ["127.0.0.1:514"], tcp: ["127.0.0.1:601"], max_message_bytes: 2000}
logread: {enabled: true, command: [sh, -c, "logread -f"]}
`

const everyKeyFirmwareCommand = "boot: {enabled: true, firmware_command: [sh, -c, 'echo 1.0']}\njournal: {enabled: true, command: sh, directory: /j}\n"

// emptyJSON is the effective configuration of an empty file and no flags:
// every value zero, so every package applies its default.
const emptyJSON = `{"server":"","server_name":"","tls":{"ca":"","cert":"","key":""},"renew":{"enabled":null,"check":0},"tail":null,"start_at":"","max_line_bytes":0,"heartbeat":0,"batch":{"max_bytes":0,"max_records":0,"max_delay":0,"idle_delay":0},"memory_budget_bytes":0,"max_procs":0,"window":0,"host_root":"","boot":{"enabled":null,"firmware_file":"","firmware_command":null},"clock":{"enabled":null,"servers":null,"name":"","port":0,"interval":0,"samples":0,"window":0,"timeout":0},"watch":{"enabled":null,"paths":null,"diff_paths":null,"max_diff_bytes":0,"shadow":"","passwd":"","rescan":0,"password_age_every":0},"journal":{"enabled":false,"command":"","args":null,"file":"","directory":"","start_at":""},"syslog":{"unix":null,"udp":null,"tcp":null,"max_message_bytes":0},"logread":{"enabled":false,"command":null}}`

// edit is emptyJSON with from replaced by to.
type edit struct{ from, to string }

func (e edit) apply(t *testing.T) string {
	t.Helper()
	if !strings.Contains(emptyJSON, e.from) {
		t.Fatalf("%q is not in emptyJSON", e.from)
	}
	return strings.Replace(emptyJSON, e.from, e.to, 1)
}

func TestEveryKeyDecodes(t *testing.T) {
	tests := []struct {
		name, yaml string
		edits      []edit // on emptyJSON; nil: want is everyKeyJSON
		hash       string // of the effective configuration, as heartbeats and check-config report it
	}{
		{"every key", everyKey, nil, "54cfc2c38bdf3165"},
		{"firmware command and journal directory", everyKeyFirmwareCommand, []edit{
			{`"boot":{"enabled":null,"firmware_file":"","firmware_command":null}`, `"boot":{"enabled":true,"firmware_file":"","firmware_command":["sh","-c","echo 1.0"]}`},
			{`"journal":{"enabled":false,"command":"","args":null,"file":"","directory":""`, `"journal":{"enabled":true,"command":"sh","args":null,"file":"","directory":"/j"`},
		}, "875cb0d3f8233ff5"},
		{"empty file", "", []edit{{"", ""}}, "42a039ece8de56b2"},
		{"enabled keys", "boot: {enabled: false}\nclock: {enabled: false}\nwatch: {enabled: true}\nrenew: {enabled: true}\n", []edit{
			{`"renew":{"enabled":null`, `"renew":{"enabled":true`},
			{`"boot":{"enabled":null`, `"boot":{"enabled":false`},
			{`"clock":{"enabled":null`, `"clock":{"enabled":false`},
			{`"watch":{"enabled":null`, `"watch":{"enabled":true`},
		}, "53be3c86c9573b79"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := everyKeyJSON
			if tc.edits != nil {
				want = emptyJSON
				for _, e := range tc.edits {
					if !strings.Contains(want, e.from) {
						t.Fatalf("%q is not in the want", e.from)
					}
					want = strings.Replace(want, e.from, e.to, 1)
				}
			}
			path := filepath.Join(t.TempDir(), "offbox.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := loadConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != want {
				t.Errorf("decoded to\n%s\nwant\n%s", got, want)
			}
			if got := c.hash(); got != tc.hash {
				t.Errorf("config hash %s, want %s", got, tc.hash)
			}
		})
	}
}

const everyKeyJSON = `{"server":"ingest.example:4443","server_name":"name.example","tls":{"ca":"/c/ca.pem","cert":"/c/dev.pem","key":"/c/dev-key.pem"},"renew":{"enabled":false,"check":7200000000000},"tail":["/var/log/a.log","/var/log/*.log"],"start_at":"end","max_line_bytes":1000,"heartbeat":7000000000,"batch":{"max_bytes":2000,"max_records":30,"max_delay":300000000,"idle_delay":5000000},"memory_budget_bytes":4000000,"max_procs":2,"window":3,"host_root":"/","boot":{"enabled":true,"firmware_file":"/etc/fw","firmware_command":null},"clock":{"enabled":true,"servers":["10.0.0.1","10.0.0.2:1123"],"name":"ntp.example","port":1124,"interval":10000000000,"samples":3,"window":5,"timeout":1000000000},"watch":{"enabled":false,"paths":["/etc/hosts"],"diff_paths":["/etc/hosts"],"max_diff_bytes":100,"shadow":"-","passwd":"/etc/pw","rescan":3000000000,"password_age_every":7200000000000},"journal":{"enabled":false,"command":"/bin/jc","args":["--unit","x"],"file":"/j/f","directory":"","start_at":"end"},"syslog":{"unix":["/run/log.sock"],"udp":["127.0.0.1:514"],"tcp":["127.0.0.1:601"],"max_message_bytes":2000},"logread":{"enabled":true,"command":["sh","-c","logread -f"]}}`

// TestEveryFlagParses is a table over the flags of offbox run: each, set
// alone, changes exactly its key of the effective configuration.
func TestEveryFlagParses(t *testing.T) {
	// -logread looks the program up in PATH.
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "logread"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	tests := []struct {
		args []string
		edit edit
	}{
		{[]string{"-server", "b.example:2"}, edit{`"server":""`, `"server":"b.example:2"`}},
		{[]string{"-server-name", "n.example"}, edit{`"server_name":""`, `"server_name":"n.example"`}},
		{[]string{"-ca", "/x/ca.pem"}, edit{`"ca":""`, `"ca":"/x/ca.pem"`}},
		{[]string{"-cert", "/x/c.pem"}, edit{`"cert":""`, `"cert":"/x/c.pem"`}},
		{[]string{"-key", "/x/k.pem"}, edit{`"key":""`, `"key":"/x/k.pem"`}},
		{[]string{"-tail", "/z", "-tail", "/w/*.log"}, edit{`"tail":null`, `"tail":["/z","/w/*.log"]`}},
		{[]string{"-start-at", "end"}, edit{`"tail":null,"start_at":""`, `"tail":null,"start_at":"end"`}},
		{[]string{"-heartbeat", "3s"}, edit{`"heartbeat":0`, `"heartbeat":3000000000`}},
		{[]string{"-memory-budget", "1000"}, edit{`"memory_budget_bytes":0`, `"memory_budget_bytes":1000`}},
		{[]string{"-host-root", "/"}, edit{`"host_root":""`, `"host_root":"/"`}},
		{[]string{"-ntp-server", "10.0.0.7", "-ntp-server", "10.0.0.8:1123"}, edit{`"servers":null`, `"servers":["10.0.0.7","10.0.0.8:1123"]`}},
		{[]string{"-ntp-name", "time.example"}, edit{`"name":""`, `"name":"time.example"`}},
		{[]string{"-no-boot"}, edit{`"boot":{"enabled":null`, `"boot":{"enabled":false`}},
		{[]string{"-no-boot=false"}, edit{"", ""}},
		{[]string{"-no-clock"}, edit{`"clock":{"enabled":null`, `"clock":{"enabled":false`}},
		{[]string{"-no-watch"}, edit{`"watch":{"enabled":null`, `"watch":{"enabled":false`}},
		{[]string{"-journal"}, edit{`"journal":{"enabled":false`, `"journal":{"enabled":true`}},
		{[]string{"-logread"}, edit{`"logread":{"enabled":false`, `"logread":{"enabled":true`}},
		{[]string{"-syslog-unix", "/run/a.sock", "-syslog-unix", "/run/b.sock"}, edit{`"unix":null`, `"unix":["/run/a.sock","/run/b.sock"]`}},
		{[]string{"-syslog-udp", "127.0.0.1:1514"}, edit{`"udp":null`, `"udp":["127.0.0.1:1514"]`}},
		{[]string{"-syslog-tcp", "127.0.0.1:1601"}, edit{`"tcp":null`, `"tcp":["127.0.0.1:1601"]`}},
		{[]string{"-dry-run"}, edit{"", ""}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			want := tc.edit.apply(t)
			f := newRunFlags()
			f.fs.SetOutput(&strings.Builder{})
			if err := f.fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			c, err := f.effective()
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != want {
				t.Errorf("%q gave\n%s\nwant\n%s", tc.args, got, want)
			}
		})
	}
}

// TestSummaryDefaults checks check-config's summary of a file that sets
// nothing: every default it shows is the one the package applies (the idle
// batch delay was once shown as 0s; the agent waits 10ms), and the rest of
// the output is as it always was. File counts depend on the host.
func TestSummaryDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offbox.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`\d+ files now`).ReplaceAllString(c.summary(), "N files now")
	want := `  server        (TLS name )
  tls          ca , cert , key 
  tail         nothing (heartbeats only)
  start_at     beginning (default)
  heartbeat    15s (default)
  batch        max 1048576 (default) bytes, 20000 (default) records, 200ms (default) delay, 10ms (default) when idle
  memory       budget 8388608 (default) bytes, window 4 (default) batches
  max_procs    1 (default)
  host_root    / (default)
  boot         on, firmware version from the built-in rules
  clock        on, every address of ntp.internal (default) port 123 (default); every 1m4s (default), 4 (default) samples, window 8 (default), timeout 2s (default)
  watch        on, 11 default paths (N files now), diffs for none (max 16384 (default) bytes), shadow /etc/shadow (default), passwd /etc/passwd (default), rescan every 30s (default), password age every 24h0m0s (default)
  journal      off
  syslog       off
  logread      off
  relay        off
  config_hash  42a039ece8de56b2
`
	if got != want {
		t.Errorf("summary\n%s\nwant\n%s", got, want)
	}
	// The defaults shown are the packages' own.
	for _, d := range []string{
		fmt.Sprintf("%s (default) when idle", agent.DefaultBatchIdleDelay),
		fmt.Sprintf("%s (default) delay", agent.DefaultBatchMaxDelay),
		fmt.Sprintf("heartbeat    %s (default)", agent.DefaultHeartbeat),
		fmt.Sprintf("every %s (default), %d (default) samples, window %d (default), timeout %s (default)",
			clock.DefaultInterval, clock.DefaultSamples, clock.DefaultWindow, clock.DefaultTimeout),
		fmt.Sprintf("every address of %s (default) port %d (default)", clock.DefaultName, clock.DefaultPort),
		fmt.Sprintf("max %d (default) bytes), shadow %s (default), passwd %s (default), rescan every %s (default), password age every %s (default)",
			watch.DefaultMaxDiffBytes, watch.DefaultShadow, watch.DefaultPasswd, watch.DefaultRescanEvery, watch.DefaultAgeEvery),
	} {
		if !strings.Contains(got, d) {
			t.Errorf("summary does not show the package default %q:\n%s", d, got)
		}
	}
	// Sections that are off show their defaults once on.
	c.Journal.Enabled, c.Logread.Enabled, c.Syslog.UDP = true, true, []string{"127.0.0.1:1514"}
	got = c.summary()
	for _, d := range []string{
		fmt.Sprintf("the system journal via %s []", journal.DefaultCommand),
		fmt.Sprintf("max message %d (default) bytes", syslog.DefaultMaxMessageBytes),
		fmt.Sprintf("logread      on, command %q", logread.DefaultCommand()),
	} {
		if !strings.Contains(got, d) {
			t.Errorf("summary does not show the package default %q:\n%s", d, got)
		}
	}
}

// TestEveryFieldTagged checks that every field of the file's structs, the
// packages' Configs included, has a yaml and a json tag: an untagged field
// would silently become a key (yaml.v3 lowercases its name) and change every
// device's config hash. A package adding a Config field that the file does
// not set tags it `yaml:"-" json:"-"`.
func TestEveryFieldTagged(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ.PkgPath() == "time" || seen[typ] {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			name := path + "." + f.Name
			y, hasY := f.Tag.Lookup("yaml")
			_, hasJ := f.Tag.Lookup("json")
			switch {
			case f.Anonymous && y == ",inline":
				walk(f.Type, name)
			case !hasY || !hasJ:
				t.Errorf("%s (%s) has no yaml or json tag", name, typ)
			case y != "-":
				walk(f.Type, name)
			}
		}
	}
	walk(reflect.TypeFor[config](), "config")
}
