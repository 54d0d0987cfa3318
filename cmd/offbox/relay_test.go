package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "offbox.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRelayConfig: the relay section's keys, its mistakes reported at
// their line, the routing (longest prefix wins), and a config hash that
// does not change for a configuration without the section.
func TestRelayConfig(t *testing.T) {
	t.Parallel()
	good := `relay:
  listen_udp: 127.0.0.1:5514
  listen_tcp: 127.0.0.1:5514
  appliances:
    - name: fw1
      address: 192.0.2.10
      labels: {site: hq}
    - name: lab
      address: 192.0.2.0/24
    - name: v6
      address: 2001:db8::/64
`
	c, err := loadConfig(writeFile(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Relay.enabled() || c.Relay.ListenUDP != "127.0.0.1:5514" || len(c.Relay.Appliances) != 3 || c.Relay.Appliances[0].Labels["site"] != "hq" {
		t.Fatalf("relay section read as %+v", c.Relay)
	}
	if sum := c.summary(); !strings.Contains(sum, `relay        on, udp "127.0.0.1:5514", tcp "127.0.0.1:5514", tls "", 3 appliances (fw1=192.0.2.10, lab=192.0.2.0/24, v6=2001:db8::/64), each queue 524288 bytes`) {
		t.Errorf("check-config summary:\n%s", sum)
	}
	routes, err := parseAppliances(c.Relay.Appliances)
	if err != nil {
		t.Fatal(err)
	}
	rt := &router{routes: routes}
	for ip, want := range map[string]string{"192.0.2.10": "fw1", "192.0.2.11": "lab", "::ffff:192.0.2.10": "fw1", "2001:db8::5": "v6", "192.0.3.1": ""} {
		got := ""
		a := netip.MustParseAddr(ip).Unmap()
		for _, r := range rt.routes {
			if r.prefix.Contains(a) {
				got = r.name
				break
			}
		}
		if got != want {
			t.Errorf("%s routes to %q, want %q", ip, got, want)
		}
	}

	for _, tt := range []struct{ body, want string }{
		{"relay:\n  appliances:\n    - name: fw1\n      address: 10.0.0.300\n", "offbox.yaml:4: relay.appliances.0.address: \"10.0.0.300\" is not an IP address or CIDR"},
		{"relay:\n  appliances:\n    - name: fw1\n      address: 10.0.0.1/8\n", "host bits set (did you mean 10.0.0.0/8?)"},
		{"relay:\n  appliances:\n    - name: fw1\n      address: 10.0.0.1\n    - name: fw1\n      address: 10.0.0.2\n", "relay.appliances.1.name: appliance fw1 is listed twice"},
		{"relay:\n  appliances:\n    - name: fw1\n      address: 10.0.0.1\n    - name: fw2\n      address: 10.0.0.1/32\n", "10.0.0.1/32 is also fw1's address"},
		{"relay:\n  appliances:\n    - name: \"bad name\"\n      address: 10.0.0.1\n", "relay.appliances.0.name"},
		{"relay:\n  listen_udp: nope\n  appliances: [{name: a, address: 10.0.0.1}]\n", "relay.listen_udp"},
		{"relay:\n  listen_tcp: 127.0.0.1:1\n", "no appliance is listed"},
		{"relay:\n  listen_tls: 127.0.0.1:1\n  appliances: [{name: a, address: 10.0.0.1}]\n", "needs relay.tls.cert and relay.tls.key"},
		{"relay:\n  appliances: [{name: a, address: 10.0.0.1, colour: red}]\n", "colour"},
	} {
		_, err := loadConfig(writeFile(t, tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.body, err, tt.want)
		}
	}

	plain := "heartbeat: 15s\n"
	c1, err := loadConfig(writeFile(t, plain))
	if err != nil {
		t.Fatal(err)
	}
	before := c1.hash()
	c1.Relay = relaySection{}
	if c1.hash() != before || c1.relayHash() != nil {
		t.Error("a configuration without relay hashes differently")
	}
	c2, _ := loadConfig(writeFile(t, good))
	c3, _ := loadConfig(writeFile(t, strings.Replace(good, "192.0.2.10", "192.0.2.12", 1)))
	if c2.hash() == c3.hash() {
		t.Error("a changed appliance address leaves the config hash as it was")
	}
}
