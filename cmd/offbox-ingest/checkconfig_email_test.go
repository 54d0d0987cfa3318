package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigEmailSink: check-config names each problem of an email
// sink at its line, and its summary shows a good sink: where the mail
// goes, how it is protected, and the digest window.
func TestCheckConfigEmailSink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "tls:\n  ca: /nonexistent/ca.pem\n  cert: /nonexistent/ingest.pem\n  key: /nonexistent/ingest-key.pem\ndb: /nonexistent/x.db\n"
	tests := []struct {
		name string
		yaml string
		code int
		want []string // in stdout for 0, in stderr otherwise
	}{
		{"good", `alerting:
  sinks:
    - name: soc-mail
      type: email
      smtp: mail.example.net
      username: offbox
      password_file: ` + pw + `
      from: "offbox <offbox@example.net>"
      to: [soc@example.net, oncall@example.net]
      digest_window: 2m
`, 0, []string{"config OK: FILE\n", "  sink         soc-mail: email from offbox <offbox@example.net> to soc@example.net, oncall@example.net " +
			"via mail.example.net:587 (starttls, server verified against the system CAs, AUTH PLAIN as offbox (password from " + pw + ")), digest window 2m0s\n"}},
		{"bad", `alerting:
  sinks:
    - name: soc-mail
      type: email
      smtp: mail.example.net
      tls: ssl
      to:
        - soc@example.net
        - not an address
`, 1, []string{
			"FILE:11: alerting.sinks soc-mail: tls \"ssl\": want starttls (the default), implicit or none",
			"FILE:8: alerting.sinks soc-mail: from: required",
			"FILE:14: alerting.sinks soc-mail: to[1] \"not an address\"",
		}},
		{"password readable by all", `alerting:
  sinks:
    - name: m
      type: email
      smtp: mail.example.net
      username: u
      password_file: ` + filepath.Join(dir, "open") + `
      from: a@example.net
      to: [b@example.net]
`, 1, []string{"FILE:12: alerting.sinks m: password_file: " + filepath.Join(dir, "open") + " is readable by everyone"}},
	}
	if err := os.WriteFile(filepath.Join(dir, "open"), []byte("pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "offbox-ingest.yaml")
			if err := os.WriteFile(path, []byte(base+tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"check-config", "-config", path}
			if tc.code == 0 {
				args = append(args, "-syntax-only") // the TLS files are elsewhere
			}
			if tc.name == "password readable by all" {
				args = args[:3]
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
}
