package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/transport/tlsconf"
)

// apiGood is a valid configuration with files in dir; its API is off.
func apiGood(t *testing.T, dir string) Config {
	t.Helper()
	pem := write(t, dir, "x.pem", "x")
	c := Default()
	c.TLS = TLS{CA: pem, Cert: pem, Key: pem}
	c.DB = filepath.Join(dir, "db.sqlite")
	return c
}

func TestCheckAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := apiGood(t, dir)
	cert, key, ops := write(t, dir, "api.pem", "x"), write(t, dir, "api-key.pem", "x"), write(t, dir, "ops-ca.pem", "x")
	withTLS := APITLS{Cert: cert, Key: key, ClientCA: ops}
	tests := map[string]struct {
		api  API
		want []string // each must appear; none: valid
	}{
		"off":                  {API{}, nil},
		"loopback plain":       {API{Listen: "127.0.0.1:7480"}, nil},
		"localhost plain":      {API{Listen: "localhost:7480"}, nil},
		"ipv6 loopback plain":  {API{Listen: "[::1]:7480"}, nil},
		"public with all":      {API{Listen: "0.0.0.0:7480", TLS: withTLS, AllowCIDRs: []string{"10.0.0.0/24", "192.0.2.7", "2001:db8::/32"}}, nil},
		"tokens only over tls": {API{Listen: "10.0.0.1:7480", TLS: APITLS{Cert: cert, Key: key}, AllowCIDRs: []string{"10.0.0.0/8"}}, nil},
		"public plain":         {API{Listen: "0.0.0.0:7480", AllowCIDRs: []string{"10.0.0.0/8"}}, []string{"api.listen \"0.0.0.0:7480\" is not loopback: api.tls.cert and api.tls.key are required"}},
		"all interfaces":       {API{Listen: ":7480", TLS: withTLS}, []string{"api.allow_cidrs: required"}},
		"public no allow":      {API{Listen: "0.0.0.0:7480", TLS: withTLS}, []string{"api.allow_cidrs: required when api.listen \"0.0.0.0:7480\" is not loopback"}},
		"public neither":       {API{Listen: "192.0.2.1:7480"}, []string{"api.tls.cert and api.tls.key are required", "api.allow_cidrs: required"}},
		"bad listen":           {API{Listen: "7480"}, []string{"api.listen \"7480\": want HOST:PORT"}},
		"bad cidrs":            {API{Listen: "127.0.0.1:7480", AllowCIDRs: []string{"10.0.0.0/33", "ten", "fe80::1%eth0"}}, []string{"api.allow_cidrs[0] \"10.0.0.0/33\"", "api.allow_cidrs[1] \"ten\"", "api.allow_cidrs[2]"}},
		"cert without key":     {API{Listen: "127.0.0.1:7480", TLS: APITLS{Cert: cert}}, []string{"api.tls.cert and api.tls.key: give both or neither"}},
		"client ca alone":      {API{Listen: "127.0.0.1:7480", TLS: APITLS{ClientCA: ops}}, []string{"api.tls.client_ca: operator certificates need TLS"}},
		"missing cert":         {API{Listen: "127.0.0.1:7480", TLS: APITLS{Cert: filepath.Join(dir, "no.pem"), Key: key}}, []string{"api.tls.cert: open"}},
		"device ca as ops":     {API{Listen: "127.0.0.1:7480", TLS: APITLS{Cert: cert, Key: key, ClientCA: good.TLS.CA}}, []string{"is the device CA"}},
	}
	for name, tt := range tests {
		c := good
		c.API = tt.api
		err := c.Check()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want it to say %q", name, err, w)
			}
		}
	}
}

// TestKeyFileModes: a key others can read or change stops the collector,
// with the command that fixes it; every such key is named at once.
func TestKeyFileModes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := apiGood(t, dir)
	tlsKey := write(t, dir, "ingest-key.pem", "k")
	apiKey := write(t, dir, "api-key.pem", "k")
	c.TLS.Key = tlsKey
	c.API = API{Listen: "127.0.0.1:0", TLS: APITLS{Cert: c.TLS.Cert, Key: apiKey}}
	for _, mode := range []os.FileMode{0o600, 0o400, 0o640} {
		os.Chmod(tlsKey, mode)
		if err := c.Check(); err != nil {
			t.Errorf("tls.key mode %04o: %v", mode, err)
		}
	}
	caKey := write(t, dir, "ca-key.pem", "k")
	c.Enroll.CAKey = caKey
	os.Chmod(tlsKey, 0o644)
	os.Chmod(apiKey, 0o620)
	os.Chmod(caKey, 0o604)
	err := c.Check()
	for _, w := range []string{
		"enroll.ca_key " + caKey + ": private key readable by every user (mode 0604); chmod 600 " + caKey,
		"tls.key " + tlsKey + ": private key readable by every user (mode 0644); chmod 600 " + tlsKey,
		"api.tls.key " + apiKey + ": private key writable by others than its owner (mode 0620); chmod 600 " + apiKey,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want it to say %q", err, w)
		}
	}
	if err := CheckKeyFile("enroll.ca_key", filepath.Join(dir, "none")); err == nil || !strings.HasPrefix(err.Error(), "enroll.ca_key: ") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseCIDR(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.1.2.3/8":       "10.0.0.0/8",
		"192.0.2.7":        "192.0.2.7/32",
		"::ffff:192.0.2.7": "192.0.2.7/32",
		"2001:db8::1":      "2001:db8::1/128",
		"2001:db8::1/32":   "2001:db8::/32",
		"127.0.0.1/32":     "127.0.0.1/32",
	} {
		got, err := ParseCIDR(in)
		if err != nil || got != netip.MustParsePrefix(want) {
			t.Errorf("ParseCIDR(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "10.0.0", "host.example", "fe80::1%eth0"} {
		if p, err := ParseCIDR(in); err == nil {
			t.Errorf("ParseCIDR(%q) = %v, want an error", in, p)
		}
	}
}

// TestClientCAIsNotDeviceCA: api.tls.client_ca is refused when it holds
// the device CA by any name: the same path, a symlink, a hard link, a
// copy, or a bundle with the device CA in it; a separate CA is accepted.
func TestClientCAIsNotDeviceCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	devCA, err := tlsconf.NewCA("device CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	opsCA, err := tlsconf.NewCA("operator CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := tlsconf.CertPEM(devCA.Cert)
	ca := write(t, dir, "ca.pem", string(caPEM))
	sub := filepath.Join(dir, "ops")
	os.Mkdir(sub, 0o755)
	link := filepath.Join(sub, "ca-link.pem")
	if err := os.Symlink(ca, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(sub, "ca-hard.pem")
	if err := os.Link(ca, hard); err != nil {
		t.Fatal(err)
	}
	copied := write(t, sub, "ca-copy.pem", string(caPEM))
	bundle := write(t, sub, "bundle.pem", string(tlsconf.CertPEM(opsCA.Cert))+string(caPEM))
	separate := write(t, sub, "ops-ca.pem", string(tlsconf.CertPEM(opsCA.Cert)))
	cert, key := write(t, dir, "api.pem", "x"), write(t, dir, "api-key.pem", "x")
	tests := []struct {
		name, clientCA string
		refused        bool
	}{
		{"same path", ca, true},
		{"symlink", link, true},
		{"hard link", hard, true},
		{"copy", copied, true},
		{"bundle holding it", bundle, true},
		{"separate CA", separate, false},
	}
	for _, tt := range tests {
		c := apiGood(t, dir)
		c.TLS.CA = ca
		c.API = API{Listen: "127.0.0.1:7480", TLS: APITLS{Cert: cert, Key: key, ClientCA: tt.clientCA}}
		err := c.Check()
		if got := err != nil && strings.Contains(err.Error(), "is the device CA"); got != tt.refused {
			t.Errorf("%s: err = %v, want refused as the device CA: %v", tt.name, err, tt.refused)
		}
	}
}

// TestCheckMetrics: metrics.listen on loopback alone, or elsewhere only
// with the API's TLS and address ranges; every refusal says what to set.
func TestCheckMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := apiGood(t, dir)
	cert, key := write(t, dir, "api.pem", "x"), write(t, dir, "api-key.pem", "x")
	withTLS := APITLS{Cert: cert, Key: key}
	tests := map[string]struct {
		metrics Metrics
		api     API
		want    []string // each must appear; none: valid
	}{
		"off":                 {Metrics{}, API{}, nil},
		"loopback":            {Metrics{Listen: "127.0.0.1:9464"}, API{}, nil},
		"localhost":           {Metrics{Listen: "localhost:9464", MaxDevices: 5, MaxConnections: 2}, API{}, nil},
		"ipv6 loopback":       {Metrics{Listen: "[::1]:9464"}, API{}, nil},
		"public behind api":   {Metrics{Listen: "0.0.0.0:9464"}, API{TLS: withTLS, AllowCIDRs: []string{"10.0.0.0/24"}}, nil},
		"public, api off too": {Metrics{Listen: "10.0.0.1:9464"}, API{Listen: "127.0.0.1:7480", TLS: withTLS, AllowCIDRs: []string{"10.0.0.0/8"}}, nil},
		"public plain":        {Metrics{Listen: "0.0.0.0:9464"}, API{AllowCIDRs: []string{"10.0.0.0/8"}}, []string{`metrics.listen "0.0.0.0:9464" is not loopback`, "api.tls.cert and api.tls.key are required"}},
		"public no allow":     {Metrics{Listen: ":9464"}, API{TLS: withTLS}, []string{`metrics.listen ":9464" is not loopback: api.allow_cidrs is required`}},
		"public neither":      {Metrics{Listen: "192.0.2.1:9464"}, API{}, []string{"api.tls.cert and api.tls.key are required", "api.allow_cidrs is required"}},
		"bad listen":          {Metrics{Listen: "9464"}, API{}, []string{`metrics.listen "9464": want HOST:PORT`}},
		"api's port":          {Metrics{Listen: "127.0.0.1:7480"}, API{Listen: "127.0.0.1:7480"}, []string{"api.listen listens there already"}},
		"ingest's port":       {Metrics{Listen: DefaultListen}, API{}, []string{"listen listens there already"}},
		"negative devices":    {Metrics{MaxDevices: -1}, API{}, []string{"metrics.max_devices -1: want 0 (default 1000) to 100000"}},
		"too many conns":      {Metrics{MaxConnections: 5000}, API{}, []string{"metrics.max_connections 5000: want 0 (default 16) to 1024"}},
	}
	for name, tt := range tests {
		c := good
		c.Metrics, c.API = tt.metrics, tt.api
		err := c.Check()
		if len(tt.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: err = %v, want it to say %q", name, err, w)
			}
		}
	}
}
