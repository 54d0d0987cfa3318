package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/yamlconf"
)

func TestSinkConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := SinkConfig{Name: "hook", Type: TypeWebhook, URL: "https://hooks.example/offbox"}
	for _, tc := range []struct {
		name   string
		change func(*SinkConfig)
		want   []string // substrings of the error; none: valid
	}{
		{"valid", func(*SinkConfig) {}, nil},
		{"valid full", func(c *SinkConfig) {
			c.Headers = map[string]string{"Authorization": "Bearer x"}
			c.MinSeverity, c.Kinds, c.Timeout = "warning", []string{"auth_failure", "fork"}, 3*time.Second
		}, nil},
		{"slack", func(c *SinkConfig) { c.Type = TypeSlack }, nil},
		{"alertmanager http", func(c *SinkConfig) { c.Type, c.URL = TypeAlertmanager, "http://127.0.0.1:9093" }, nil},
		{"missing name", func(c *SinkConfig) { c.Name = "" }, []string{"alerting.sinks (unnamed): name: required"}},
		{"spaced name", func(c *SinkConfig) { c.Name = " hook" }, []string{`name " hook"`}},
		{"missing url", func(c *SinkConfig) { c.URL = "" }, []string{"alerting.sinks hook: url: required"}},
		{"missing type", func(c *SinkConfig) { c.Type = "" }, []string{"alerting.sinks hook: type: required"}},
		{"bad type", func(c *SinkConfig) { c.Type = "pagerduty" }, []string{`alerting.sinks hook: type "pagerduty": want webhook, slack, alertmanager or email`}},
		{"bad scheme", func(c *SinkConfig) { c.URL = "ftp://h/x" }, []string{`alerting.sinks hook: url "ftp://h/x": scheme must be http or https`}},
		{"no scheme", func(c *SinkConfig) { c.URL = "hooks.example/x" }, []string{"scheme must be http or https"}},
		{"no host", func(c *SinkConfig) { c.URL = "http:///x" }, []string{"no host"}},
		{"password redacted", func(c *SinkConfig) { c.URL = "ftp://u:secret@h/" }, []string{"ftp://u:xxxxx@h/"}},
		{"bad min_severity", func(c *SinkConfig) { c.MinSeverity = "high" }, []string{`alerting.sinks hook: min_severity "high": want info, warning or critical`}},
		{"headers on slack", func(c *SinkConfig) { c.Type, c.Headers = TypeSlack, map[string]string{"X-A": "1"} }, []string{"alerting.sinks hook: headers: only a webhook sink takes headers, not slack"}},
		{"headers on alertmanager", func(c *SinkConfig) {
			c.Type, c.Headers = TypeAlertmanager, map[string]string{"Authorization": "x"}
		}, []string{"headers: only a webhook sink takes headers, not alertmanager"}},
		{"bad header name", func(c *SinkConfig) { c.Headers = map[string]string{"X Bad": "1"} }, []string{`headers: "X Bad" is not a valid header name`}},
		{"header line break", func(c *SinkConfig) { c.Headers = map[string]string{"X-A": "1\r\nX-B: 2"} }, []string{"headers: X-A: value contains a line break"}},
		{"reserved header", func(c *SinkConfig) { c.Headers = map[string]string{"idempotency-key": "1"} }, []string{"headers: idempotency-key is set by offbox"}},
		{"empty kind", func(c *SinkConfig) { c.Kinds = []string{"fork", ""} }, []string{"kinds[1]: empty"}},
		{"duplicate kind", func(c *SinkConfig) { c.Kinds = []string{"fork", "fork"} }, []string{`kinds: "fork" listed twice`}},
		{"negative timeout", func(c *SinkConfig) { c.Timeout = -time.Second }, []string{"timeout -1s: must not be negative"}},
		{"ca on http", func(c *SinkConfig) { c.URL, c.CA = "http://h/", notPEM }, []string{"ca: set, but url is not https"}},
		{"ca missing", func(c *SinkConfig) { c.CA = filepath.Join(dir, "nope.pem") }, []string{"alerting.sinks hook: ca: open"}},
		{"ca not pem", func(c *SinkConfig) { c.CA = notPEM }, []string{"no PEM certificate"}},
		{"every problem at once", func(c *SinkConfig) { *c = SinkConfig{Type: "x", MinSeverity: "y"} },
			[]string{"name: required", `type "x"`, "url: required", `min_severity "y"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Check()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Check() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestCheckSinks(t *testing.T) {
	t.Parallel()
	sinks := []SinkConfig{
		{Name: "a", Type: TypeWebhook, URL: "http://h/1"},
		{Name: "b", Type: TypeSlack, URL: "https://hooks.slack.com/services/x"},
		{Name: "a", Type: TypeAlertmanager, URL: "http://h:9093"},
	}
	err := CheckSinks(sinks)
	if err == nil || !strings.Contains(err.Error(), "alerting.sinks a: name: used by more than one sink") {
		t.Errorf("CheckSinks = %v, want a duplicate name error", err)
	}
	if err := CheckSinks(sinks[:2]); err != nil {
		t.Errorf("CheckSinks(distinct) = %v", err)
	}
	if err := CheckSinks(nil); err != nil {
		t.Errorf("CheckSinks(nil) = %v", err)
	}
	err = CheckSinks([]SinkConfig{{Name: "a", URL: "http://h"}, {Name: "b", Type: "x", URL: "http://h"}})
	if err == nil || !strings.Contains(err.Error(), "sinks a: type: required") || !strings.Contains(err.Error(), `sinks b: type "x"`) {
		t.Errorf("CheckSinks = %v, want both sinks' errors", err)
	}
}

// The collector embeds []SinkConfig under alerting.sinks and loads it
// strictly.
func TestSinkConfigYAML(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Alerting struct {
			Sinks []SinkConfig `yaml:"sinks"`
		} `yaml:"alerting"`
	}
	src := `alerting:
  sinks:
    - name: soc
      type: webhook
      url: https://soc.example/offbox
      headers: {Authorization: "Bearer x"}
      min_severity: warning
      kinds: [auth_brute_force, fork]
      timeout: 5s
    - name: am
      type: alertmanager
      url: http://127.0.0.1:9093
`
	if err := yamlconf.Decode("offbox-ingest.yaml", []byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	s := cfg.Alerting.Sinks
	if len(s) != 2 || s[0].Timeout != 5*time.Second || s[0].Headers["Authorization"] != "Bearer x" ||
		s[0].MinSeverity != "warning" || len(s[0].Kinds) != 2 || s[1].Type != TypeAlertmanager {
		t.Errorf("decoded %+v", s)
	}
	if err := CheckSinks(s); err != nil {
		t.Errorf("CheckSinks: %v", err)
	}
	err := yamlconf.Decode("offbox-ingest.yaml", []byte("alerting:\n  sinks:\n    - name: x\n      severity: info\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "offbox-ingest.yaml:4") {
		t.Errorf("unknown key: got %v, want an error naming the line", err)
	}
}

func TestWants(t *testing.T) {
	t.Parallel()
	alert := func(kind, sev string) store.Alert { return store.Alert{Kind: kind, Severity: sev} }
	for _, tc := range []struct {
		name string
		c    SinkConfig
		a    store.Alert
		want bool
	}{
		{"default takes info", SinkConfig{}, alert("auth_success", "info"), true},
		{"default takes critical", SinkConfig{}, alert("fork", "critical"), true},
		{"warning drops info", SinkConfig{MinSeverity: "warning"}, alert("auth_success", "info"), false},
		{"warning takes warning", SinkConfig{MinSeverity: "warning"}, alert("reboot", "warning"), true},
		{"warning takes critical", SinkConfig{MinSeverity: "warning"}, alert("fork", "critical"), true},
		{"critical drops warning", SinkConfig{MinSeverity: "critical"}, alert("reboot", "warning"), false},
		{"unknown severity passes", SinkConfig{MinSeverity: "critical"}, alert("new_kind", "urgent"), true},
		{"kind listed", SinkConfig{Kinds: []string{"fork", "gap"}}, alert("gap", "critical"), true},
		{"kind not listed", SinkConfig{Kinds: []string{"fork", "gap"}}, alert("reboot", "critical"), false},
		{"kind listed, severity low", SinkConfig{Kinds: []string{"fork"}, MinSeverity: "critical"}, alert("fork", "warning"), false},
	} {
		if got := tc.c.Wants(tc.a); got != tc.want {
			t.Errorf("%s: Wants = %v, want %v", tc.name, got, tc.want)
		}
	}
}
