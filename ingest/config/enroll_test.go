package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnrollDefaultsAndCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(write(t, dir, "c.yaml", "enroll:\n  ca_key: /nonexistent/ca-key.pem\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Enroll.Enabled() || c.Enroll.Validity() != 90*24*time.Hour || c.Enroll.TTL() != 24*time.Hour {
		t.Errorf("enroll = %+v: enabled %v, validity %s, ttl %s; want on, 2160h, 24h", c.Enroll,
			c.Enroll.Enabled(), c.Enroll.Validity(), c.Enroll.TTL())
	}
	if Default().Enroll.Enabled() {
		t.Error("enrollment on by default")
	}
	for name, tc := range map[string]struct {
		e    Enroll
		want string
	}{
		"off":               {Enroll{}, ""},
		"readable key":      {Enroll{CAKey: write(t, dir, "k.pem", "x")}, ""},
		"missing key":       {Enroll{CAKey: filepath.Join(dir, "nope.pem")}, "enroll.ca_key: open"},
		"negative ttl":      {Enroll{TokenTTL: -time.Second}, "enroll.token_ttl -1s"},
		"negative validity": {Enroll{CertValidity: -time.Hour}, "enroll.cert_validity -1h0m0s"},
	} {
		errs := tc.e.check(true)
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: %v, want no error", name, errs)
		case tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want)):
			t.Errorf("%s: %v, want one error containing %q", name, errs, tc.want)
		}
	}
}
