package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfig: check-config exits 0 with "config OK: FILE", or 1 with
// each problem at its file:line; -syntax-only passes a file whose files
// are on another machine.
func TestCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	here := "tls:\n  ca: " + filepath.Join(pki, "ca.pem") + "\n  cert: " + filepath.Join(pki, "ingest.pem") +
		"\n  key: " + filepath.Join(pki, "ingest-key.pem") + "\ndb: " + filepath.Join(dir, "x.db") + "\n"
	elsewhere := "tls:\n  ca: /nonexistent/ca.pem\n  cert: /nonexistent/ingest.pem\n  key: /nonexistent/ingest-key.pem\ndb: /nonexistent/x.db\n"
	tests := []struct {
		name   string
		yaml   string
		syntax bool
		code   int
		want   []string // in stdout for 0, in stderr otherwise
	}{
		{"good", here, false, 0, []string{"config OK: FILE\n"}},
		{"good, syntax only", here, true, 0, []string{"config OK: FILE\n"}},
		{"files elsewhere", elsewhere, false, 1, []string{"offbox-ingest check-config: FILE:2: tls.ca: open /nonexistent/ca.pem",
			"FILE:5: db /nonexistent/x.db: directory"}},
		{"files elsewhere, syntax only", elsewhere, true, 0, []string{"config OK: FILE\n"}},
		{"bad value", here + "detect:\n  brute_force_window: 5x\n", true, 1, []string{`FILE:7: detect.brute_force_window: "5x" is not a duration`}},
		{"bad value after decoding", elsewhere + "alerting:\n  sinks:\n    - name: soc\n      type: webhook\n      url: soc.example.net\n", true, 1,
			[]string{`offbox-ingest check-config: FILE:10: alerting.sinks soc: url "soc.example.net": scheme must be http or https`}},
		{"unknown key", here + "listn: 1.2.3.4:5\n", false, 1, []string{`FILE:6: unknown key "listn" (did you mean "listen"?)`}},
		{"connection caps", here + "max_connections: -1\napi:\n  max_connections: 100000\n", false, 1,
			[]string{"offbox-ingest check-config: FILE:6: max_connections -1: want 0 (default 16384) to 1048576",
				"FILE:8: api.max_connections 100000: want 0 (default 256) to 65536"}},
		{"no file", "", false, 1, []string{"FILE", "no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "offbox-ingest.yaml")
			if tc.yaml != "" {
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"check-config", "-config", path}
			if tc.syntax {
				args = append(args, "-syntax-only")
			}
			stdout, stderr, code := runFunc(args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, stdout, stderr)
			}
			got := stdout
			if tc.code != 0 {
				got = stderr
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(got, w) {
					t.Errorf("output %q does not contain %q", got, w)
				}
			}
		})
	}
	for _, args := range [][]string{{"check-config"}, {"check-config", "-config", "x", "extra"}, {"check-config", "-nope"}} {
		if _, stderr, code := runFunc(args...); code != 2 || stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 with a usage message", args, code, stderr)
		}
	}
}

// TestServeNamesConfigLine: serve reports a problem of the file at its
// line, and one of a flag that overrode the file without the file's line.
func TestServeNamesConfigLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "offbox-ingest.yaml")
	body := "listen: 127.0.0.1:0\ntls:\n  ca: /nonexistent/ca.pem\n  cert: /nonexistent/ingest.pem\n  key: /nonexistent/ingest-key.pem\ndb: " + filepath.Join(dir, "x.db") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runFunc("serve", "-config", conf)
	if want := "offbox-ingest serve: " + conf + ":3: tls.ca: open /nonexistent/ca.pem"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("serve -config: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
	_, stderr, code = runFunc("serve", "-config", conf, "-ca", "/elsewhere/ca.pem")
	if want := "offbox-ingest serve: tls.ca: open /elsewhere/ca.pem"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("serve -config -ca: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}
	if want := conf + ":4: tls.cert"; !strings.Contains(stderr, want) {
		t.Errorf("serve -config -ca: stderr %q; want %q", stderr, want)
	}
}
