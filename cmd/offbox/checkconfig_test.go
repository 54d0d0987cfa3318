package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigSyntaxOnly: check-config -syntax-only passes a
// configuration whose files, host root and programs are on another machine,
// still refuses bad values at their line, and prints the summary without
// what only the device can tell.
func TestCheckConfigSyntaxOnly(t *testing.T) {
	t.Parallel()
	elsewhere := "server: ingest.example.net:7443\ntls:\n  ca: /nonexistent/ca.pem\n  cert: /nonexistent/d.pem\n  key: /nonexistent/d-key.pem\n" +
		"tail: [/nonexistent/*.log]\nhost_root: /nonexistent/root\nboot:\n  firmware_command: [/nonexistent/fwver]\n" +
		"journal:\n  enabled: true\n  command: /nonexistent/journalctl\nlogread:\n  enabled: true\n  command: [/nonexistent/logread, -f]\n"
	tests := []struct {
		name string
		yaml string
		code int
		want []string // stdout for 0, stderr otherwise; FILE is the path
		not  []string
	}{
		{"files elsewhere", elsewhere, 0, []string{"config OK: FILE\n  server       ingest.example.net:7443", "  tail         /nonexistent/*.log\n",
			"host_root    /nonexistent/root", "watch        on, 11 default paths, diffs"}, []string{"device", "files now"}},
		{"bad value", elsewhere + "heartbeat: -1s\n", 1, []string{"FILE:16: heartbeat: must not be negative"}, nil},
		{"bad address", strings.Replace(elsewhere, "ingest.example.net:7443", "ingest.example.net", 1), 1,
			[]string{`FILE:1: server: "ingest.example.net" is not host:port`}, nil},
		{"bad syntax", elsewhere + "batch:\n  max_delay: soon\n", 1, []string{`FILE:17: batch.max_delay: "soon" is not a duration`}, nil},
		{"missing server", "tail: [/x]\n", 1, []string{"missing server, tls.ca, tls.cert, tls.key"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "offbox.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCmd(t, "check-config", "-syntax-only", "-config", path)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out, errs)
			}
			got := out
			if tc.code != 0 {
				got = errs
			}
			for _, w := range tc.want {
				if w = strings.ReplaceAll(w, "FILE", path); !strings.Contains(got, w) {
					t.Errorf("output %q does not contain %q", got, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("output %q contains %q", got, n)
				}
			}
			if tc.code == 0 {
				// Without -syntax-only the same file fails: the check above skipped the machine.
				if code, _, _ := runCmd(t, "check-config", "-config", path); code != 1 {
					t.Errorf("check-config without -syntax-only: exit %d, want 1", code)
				}
			}
		})
	}
}

// TestPackagedConfigsSyntaxOnly: every agent configuration shipped passes
// check-config -syntax-only on a machine that has none of its files.
func TestPackagedConfigsSyntaxOnly(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"../../packaging/offbox.yaml", "../../packaging/openwrt/offbox.yaml"} {
		code, out, errs := runCmd(t, "check-config", "-syntax-only", "-config", path)
		if code != 0 || !strings.HasPrefix(out, "config OK: "+path+"\n") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 0 and config OK", path, code, out, errs)
		}
	}
}
