package authlog

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// vendorOf names the appliance OS a corpus line comes from, by its
// markers; "" for the Unix programs.
func vendorOf(line string) string {
	for _, v := range []struct{ name, marker string }{
		{"cisco-asa", "%ASA-"}, {"cisco-asa", "%FWSM-"}, {"cisco-nxos", "%AUTHPRIV-"}, {"cisco-nxos", "%VSHD-"},
		{"cisco-ios", "%SEC_LOGIN-"}, {"cisco-ios", "%SSH-"}, {"cisco-ios", "%SYS-"}, {"huawei-vrp", "%%01"},
		{"junos", "mgd"}, {"junos", "JUNOS "}, {"junos", "SSHD_LOGIN_FAILED"}, {"junos", "LOGIN_FAILED"},
		{"fortios", "logid="}, {"pan-os", ",SYSTEM,"}, {"pan-os", ",CONFIG,"}, {"pfsense-opnsense", "/index.php:"},
		{"pfsense-opnsense", ".php: Configuration Change"}, {"sonicwall", "id=firewall"}, {"dropbear", "dropbear"},
		{"routeros", "system,info"}, {"routeros", "system,error"}, {"routeros", "MikroTik"},
	} {
		if strings.Contains(line, v.marker) {
			return v.name
		}
	}
	return ""
}

// TestEveryVendorAndKind holds both corpora to issue 20's list: for every
// appliance OS, labelled login failures and successes, and where the OS
// reports them, configuration changes and restarts with a version; each
// parsed as labelled (the corpus tests check that). It logs the table.
func TestEveryVendorAndKind(t *testing.T) {
	have := map[string]map[string]int{}
	for _, file := range []string{"corpus.tsv", "appliance.tsv"} {
		for _, c := range loadCorpusFile(t, file) {
			v := vendorOf(string(c.line))
			if v == "" || c.kind == "none" {
				continue
			}
			if have[v] == nil {
				have[v] = map[string]int{}
			}
			k := c.kind
			if k == string(Restart) && c.version != "" {
				k = "restart_with_version"
			}
			have[v][k]++
		}
	}
	logins := []string{"auth_failure", "auth_success"}
	want := map[string][]string{
		"cisco-asa": logins, "cisco-nxos": append(logins, "config_change"), "dropbear": logins, "sonicwall": logins,
		"cisco-ios":        append(logins, "config_change", "restart_with_version"),
		"junos":            append(logins, "config_change", "restart_with_version"),
		"fortios":          append(logins, "config_change", "restart_with_version"),
		"pan-os":           append(logins, "config_change", "restart_with_version"),
		"huawei-vrp":       append(logins, "config_change"),
		"routeros":         append(logins, "config_change"),
		"pfsense-opnsense": append(logins, "config_change"),
	}
	for v, kinds := range want {
		for _, k := range kinds {
			if have[v][k] == 0 {
				t.Errorf("%s: no labelled %s line", v, k)
			}
		}
	}
	for _, v := range slices.Sorted(maps.Keys(have)) {
		t.Logf("%-17s %v", v, have[v])
	}
}
