package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkFile loads a file and checks it, as check-config does, and returns
// the problems one a line ("" for none).
func checkFile(t *testing.T, path string, syntaxOnly bool) string {
	t.Helper()
	c, src, err := LoadSource(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	check := c.Check
	if syntaxOnly {
		check = c.CheckSyntax
	}
	if err := src.Locate(check()); err != nil {
		return err.Error()
	}
	return ""
}

// TestCheckNamesLine: a bad value is reported at the file and line of its
// key, and a sink's problem carries its prefix once.
func TestCheckNamesLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := write(t, dir, "ca.pem", "x")
	head := "tls:\n  ca: " + ca + "\n  cert: " + ca + "\n  key: " + write(t, dir, "key.pem", "x") + "\ndb: " + filepath.Join(dir, "x.db") + "\n"
	// head is lines 1-5.
	tests := []struct {
		name, body string
		want       []string
	}{
		{"listen", "listen: nowhere\n", []string{`FILE:6: listen "nowhere": want HOST:PORT`}},
		{"sqlite_sync", "sqlite_sync: sometimes\n", []string{`FILE:6: sqlite_sync "sometimes": want full or normal`}},
		{"detect duration", "detect:\n  working_hours: 25:00-19:00\n", []string{`FILE:7: detect.working_hours "25:00-19:00"`}},
		{"working day", "detect:\n  working_days: [mon, funday]\n", []string{`FILE:7: detect.working_days: "funday"`}},
		{"sink url and ca", "alerting:\n  sinks:\n    - name: soc\n      type: webhook\n      url: ftp://soc.example.net/x\n      ca: " + filepath.Join(dir, "nope.pem") + "\n",
			[]string{`FILE:10: alerting.sinks soc: url "ftp://soc.example.net/x": scheme must be http or https`,
				"FILE:11: alerting.sinks soc: ca: set, but url is not https", "FILE:11: alerting.sinks soc: ca: open "}},
		{"second sink", "alerting:\n  sinks:\n    - {name: a, type: slack, url: 'https://h/x'}\n    - name: a\n      type: pager\n      url: https://h/y\n",
			[]string{`FILE:10: alerting.sinks a: type "pager": want webhook, slack, alertmanager or email`, "FILE:9: alerting.sinks a: name: used by more than one sink"}},
		{"sink kind", "alerting:\n  sinks:\n    - name: a\n      type: slack\n      url: https://h/x\n      kinds: [x, x]\n", []string{`FILE:11: alerting.sinks a: kinds: "x" listed twice`}},
		{"api cidr", "api:\n  listen: 127.0.0.1:0\n  allow_cidrs: [10.0.0.0/8,\n    10.0.0.300/8]\n", []string{`FILE:9: api.allow_cidrs[1] "10.0.0.300/8"`}},
		{"device rule", "devices:\n  - match: sw-*\n  - match: \"[\"\n", []string{`FILE:8: devices[1].match "["`}},
		{"enroll key", "enroll:\n  ca_key: " + filepath.Join(dir, "nope-key.pem") + "\n", []string{"FILE:7: enroll.ca_key: open "}},
		{"limits", "limits:\n  burst_seconds: 5000\n", []string{"FILE:7: limits.burst_seconds 5000"}},
		{"max_connections", "api:\n  listen: 127.0.0.1:0\n  max_connections: -1\nmax_connections: 2000000\n",
			[]string{"FILE:9: max_connections 2000000: want 0 (default 16384) to 1048576", "FILE:8: api.max_connections -1: want 0 (default 256) to 65536"}},
		{"a missing key: its section", "api:\n  listen: 10.0.0.1:7480\n", []string{`FILE:7: api.listen "10.0.0.1:7480" is not loopback`, "FILE:6: api.allow_cidrs: required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := write(t, t.TempDir(), "c.yaml", head+tc.body)
			got := checkFile(t, path, false)
			wantProblems(t, got, path, tc.want)
			if strings.Contains(got, "alerting.sinks: alerting.sinks") {
				t.Errorf("doubled prefix: %s", got)
			}
		})
	}
}

// TestCheckSyntax: -syntax-only checks every value but looks at no file,
// so a configuration for another machine passes; bad values still fail.
func TestCheckSyntax(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nothing", "here")
	elsewhere := "tls:\n  ca: " + missing + "/ca.pem\n  cert: " + missing + "/c.pem\n  key: " + missing + "/k.pem\ndb: " + missing + "/x.db\n" +
		"api:\n  listen: 127.0.0.1:7480\n  tls: {cert: " + missing + "/a.pem, key: " + missing + "/a-key.pem, client_ca: " + missing + "/op.pem}\n" +
		"alerting:\n  sinks:\n    - {name: soc, type: webhook, url: 'https://soc/x', ca: " + missing + "/soc.pem}\n" +
		"enroll:\n  ca_key: " + missing + "/ca-key.pem\n"
	path := write(t, dir, "elsewhere.yaml", elsewhere)
	if got := checkFile(t, path, true); got != "" {
		t.Errorf("CheckSyntax of a config naming files that are not here:\n%s\nwant no problem", got)
	}
	full := checkFile(t, path, false)
	for _, key := range []string{"tls.ca", "tls.cert", "tls.key", "db ", "api.tls.cert", "api.tls.key", "api.tls.client_ca", "alerting.sinks soc: ca", "enroll.ca_key"} {
		if !strings.Contains(full, key) {
			t.Errorf("Check does not report %s:\n%s", key, full)
		}
	}
	bad := write(t, dir, "bad.yaml", elsewhere+"listen: 7443\nstore: mysql://x\n")
	got := checkFile(t, bad, true)
	for _, w := range []string{bad + `:14: listen "7443": want HOST:PORT`, "db and store are both set"} {
		if !strings.Contains(got, w) {
			t.Errorf("CheckSyntax of bad values:\n%s\nwant a line containing %q", got, w)
		}
	}
}

// TestPackagedConfigSyntax: the shipped file passes -syntax-only on any
// machine, and on one without its files names exactly those.
func TestPackagedConfigSyntax(t *testing.T) {
	t.Parallel()
	const path = "../../packaging/offbox-ingest.yaml"
	if got := checkFile(t, path, true); got != "" {
		t.Errorf("packaging/offbox-ingest.yaml -syntax-only:\n%s", got)
	}
	// The full check as on a fresh install: its /etc and /var/lib paths
	// under an empty scratch root, whatever this machine has installed.
	root := t.TempDir()
	shipped, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(root, "offbox-ingest.yaml")
	scratch := strings.NewReplacer("/etc/offbox-ingest/", root+"/etc/offbox-ingest/", "/var/lib/offbox-ingest/", root+"/var/lib/offbox-ingest/")
	if err := os.WriteFile(fresh, []byte(scratch.Replace(string(shipped))), 0o600); err != nil {
		t.Fatal(err)
	}
	got := checkFile(t, fresh, false)
	if strings.Count(got, "\n")+1 != 4 {
		t.Errorf("packaging/offbox-ingest.yaml: want 4 problems (tls.ca, tls.cert, tls.key, db), got:\n%s", got)
	}
	for _, line := range strings.Split(got, "\n") {
		if !strings.Contains(line, "tls.") && !strings.Contains(line, "db "+root+"/var/lib/offbox-ingest") {
			t.Errorf("packaging/offbox-ingest.yaml: %s; want only the tls files and the db directory missing", line)
		}
	}
}

// wantProblems checks that check-config's output got for the file at path
// is one line each for want, each line containing its want (FILE standing
// for path).
func wantProblems(t *testing.T, got, path string, want []string) {
	t.Helper()
	for _, w := range want {
		if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(got, w) {
			t.Errorf("got\n%s\nwant a line containing %q", got, w)
		}
	}
	if n := strings.Count(got, "\n") + 1; got == "" || n != len(want) {
		t.Errorf("got %d problems:\n%s\nwant %d", n, got, len(want))
	}
}
