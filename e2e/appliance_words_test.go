package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestApplianceWordsEndToEnd: a real agent tails a file where a syslog
// server keeps a Cisco router's lines: the router restarts on 15.7(3)M9,
// an administrator changes its configuration, it restarts on the older
// 15.0(1)M1. The collector raises device_reboot naming each version,
// config_change naming who and from where, firmware_downgrade, and
// firmware_not_approved against its approved_firmware for the IOS image.
func TestApplianceWordsEndToEnd(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "loghost")
	hook := newWebhook(t, 0)
	cfg := collectorConfig(t, dir, fmt.Sprintf(`alerting:
  sinks:
    - {name: hook, type: webhook, url: %q}
detect:
  approved_firmware:
    C2900-UNIVERSALK9-M: [15.7(3)M9]
`, hook.URL))
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)
	stamp := time.Now().Format(time.Stamp)
	banner := func(v string) string {
		return stamp + " rtr-edge1 1241: *" + stamp + ".001: %SYS-5-RESTART: System restarted --#012Cisco IOS Software, C2900 Software (C2900-UNIVERSALK9-M), Version " + v + ", RELEASE SOFTWARE (fc1)"
	}
	lines := []string{
		banner("15.7(3)M9"),
		stamp + " rtr-edge1 1242: *" + stamp + ".101: %SYS-5-CONFIG_I: Configured from console by netops on vty0 (192.0.2.44)",
		banner("15.0(1)M1"),
	}
	log := filepath.Join(dir, "network.log")
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, p, "loghost", in.addr, "-tail", log, "-start-at", "beginning")
	want := []string{"device_reboot", "config_change", "firmware_changed", "firmware_downgrade", "firmware_not_approved"}
	waitFor(t, 30*time.Second, "the appliance's alerts at the webhook", func() bool {
		if ag.exited() || in.exited() {
			t.Fatalf("a process exited: agent %s\ncollector %s", ag.out.String(), in.out.String())
		}
		for _, k := range want {
			if len(hook.alertsOf(k)) == 0 {
				return false
			}
		}
		return true
	})
	versions := map[string]bool{}
	for _, a := range hook.alertsOf("device_reboot") {
		versions[a.Fields["version"]] = a.Device == "loghost"
	}
	if !versions["15.7(3)M9"] || !versions["15.0(1)M1"] {
		t.Errorf("device_reboot versions %v, want both, on loghost", versions)
	}
	cc := hook.alertsOf("config_change")[0]
	if cc.Fields["user"] != "netops" || cc.Fields["source"] != "192.0.2.44" || !strings.Contains(cc.Summary, `"netops"`) {
		t.Errorf("config_change %+v, want it to name netops from 192.0.2.44", cc)
	}
	dg := hook.alertsOf("firmware_downgrade")[0]
	if dg.Severity != "critical" || dg.Fields["old_version"] != "15.7(3)M9" || dg.Fields["new_version"] != "15.0(1)M1" {
		t.Errorf("firmware_downgrade %+v", dg)
	}
	if na := hook.alertsOf("firmware_not_approved"); len(na) != 1 || na[0].Fields["version"] != "15.0(1)M1" {
		t.Errorf("firmware_not_approved %+v, want one for 15.0(1)M1", na)
	}
}
