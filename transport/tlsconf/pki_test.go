package tlsconf

import (
	"crypto/x509"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestIssueDeviceLabelsAndTimes(t *testing.T) {
	t.Parallel()
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := GenerateKey(ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Minute)
	c, err := ca.IssueDevice("sw-1", map[string]string{"site": "par1", "role": "switch"}, key.Public(), now, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// DER orders a SET OF by encoding, whatever order it was given in.
	got := slices.Sorted(slices.Values(c.Subject.OrganizationalUnit))
	if want := []string{"role=switch", "site=par1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("OU = %q, want %q", got, want)
	}
	if c.Subject.CommonName != "sw-1" {
		t.Errorf("CN = %q, want sw-1", c.Subject.CommonName)
	}
	if want := now.Truncate(time.Second); !c.NotBefore.Equal(want) || !c.NotAfter.Equal(want.Add(2*time.Hour)) {
		t.Errorf("valid %s to %s, want %s to %s", c.NotBefore, c.NotAfter, want, want.Add(2*time.Hour))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("verify as client certificate: %v", err)
	}
	if _, err := ca.IssueDevice("a/b", nil, key.Public(), now, time.Hour); err == nil {
		t.Error("device id a/b accepted")
	}
}
