package enroll

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offbox/offbox/transport/tlsconf"
)

func TestLoadCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := tlsconf.DevCerts(dir, []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	ca, err := LoadCA(p("ca.pem"), p("ca-key.pem"))
	if err != nil {
		t.Fatalf("dev CA: %v", err)
	}
	if !ca.Cert.IsCA {
		t.Error("loaded certificate is not the CA")
	}
	// A bundle whose second certificate is ours works too.
	caPEM, _ := os.ReadFile(p("ca.pem"))
	otherPEM, _ := os.ReadFile(p("ingest.pem"))
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, append(otherPEM, caPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(bundle, p("ca-key.pem")); err != nil {
		t.Errorf("bundle: %v", err)
	}
	for name, tc := range map[string]struct{ ca, key, want string }{
		"key of another certificate": {p("ca.pem"), p("d1-key.pem"), "not the key of any certificate in tls.ca"},
		"key of a leaf":              {p("d1.pem"), p("d1-key.pem"), "not a CA"},
		"missing key":                {p("ca.pem"), p("nope.pem"), "enroll.ca_key: open"},
		"not a key":                  {p("ca.pem"), p("ca.pem"), "enroll.ca_key"},
	} {
		if _, err := LoadCA(tc.ca, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}
