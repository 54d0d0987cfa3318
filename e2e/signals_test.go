package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDeviceSignalsReachTheCollector runs the real agent with the boot,
// clock and watch collectors and short heartbeats, and checks that every
// kind of record reaches the collector over mTLS and that `records` shows
// it: boot, heartbeat (with host, agent and clock figures), clock,
// config_change, password_change, password_age and account_change.
func TestDeviceSignalsReachTheCollector(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "sig")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	etc := filepath.Join(dir, "etc")
	os.MkdirAll(etc, 0o755)
	sshd := filepath.Join(etc, "sshd_config")
	os.WriteFile(sshd, []byte("PermitRootLogin no\nPasswordAuthentication no\n"), 0o644)
	passwd := filepath.Join(etc, "passwd")
	shadow := filepath.Join(etc, "shadow")
	const oldHash = "$6$saltsalt$oldhasholdhasholdhasholdhasholdhasholdhasholdhash"
	const newHash = "$6$pepperpe$newhashnewhashnewhashnewhashnewhashnewhashnewhash"
	os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644)
	os.WriteFile(shadow, []byte("root:*:19000:0:99999:7:::\nalice:"+oldHash+":19500:0:99999:7:::\n"), 0o600)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: %s
tls: {ca: %s, cert: %s, key: %s}
heartbeat: 1s
clock:
  servers: ["127.0.0.1:1"]
  interval: 1s
  timeout: 200ms
watch:
  paths: [%q]
  shadow: %q
  passwd: %q
  rescan: 1s
`, in.addr, p.ca(), p.cert("sig"), p.key("sig"), sshd, shadow, passwd)), 0o644)
	ag := start(t, bin.agent, "run", "-config", cfg)

	kinds := func() map[string][]record {
		m := map[string][]record{}
		for _, r := range records(t, in.db, "-device", "sig") {
			m[r.Kind] = append(m[r.Kind], r)
		}
		return m
	}
	waitFor(t, 30*time.Second, "boot, heartbeat, clock and password_age records", func() bool {
		if ag.exited() {
			t.Fatalf("agent exited: %s", ag.out.String())
		}
		k := kinds()
		return len(k["boot"]) > 0 && len(k["heartbeat"]) > 1 && len(k["clock"]) > 0 && len(k["password_age"]) > 0
	})
	// Changes the watch collector must see.
	os.WriteFile(sshd, []byte("PermitRootLogin yes\nPasswordAuthentication no\n"), 0o644)
	os.WriteFile(shadow, []byte("root:*:19000:0:99999:7:::\nalice:"+newHash+":20000:0:99999:7:::\n"), 0o600)
	os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n"), 0o644)
	waitFor(t, 30*time.Second, "config_change, password_change and account_change records", func() bool {
		k := kinds()
		return len(k["config_change"]) > 0 && len(k["password_change"]) > 0 && len(k["account_change"]) > 0
	})
	k := kinds()

	boot := k["boot"][0]
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if boot.Attrs["boot_id"] != strings.TrimSpace(string(bootID)) || boot.Source != "boot" {
		t.Errorf("boot record %+v, want boot_id %s", boot.Attrs, bootID)
	}
	hb := k["heartbeat"][len(k["heartbeat"])-1]
	for _, a := range []string{"host_uptime_s", "agent_rss_bytes", "agent_cpu_s", "load1", "mem_available_bytes", "queue_bytes", "clock_servers"} {
		if _, err := strconv.ParseFloat(hb.Attrs[a], 64); err != nil {
			t.Errorf("heartbeat attr %s = %q, want a number (attrs %v)", a, hb.Attrs[a], hb.Attrs)
		}
	}
	if c := k["clock"][0]; c.Attrs["unreachable"] == "" {
		t.Errorf("clock record against a dead server does not name it unreachable: %v", c.Attrs)
	}
	cc := k["config_change"][0]
	if cc.Attrs["path"] != sshd || cc.Attrs["old_sha256"] == cc.Attrs["new_sha256"] || cc.Attrs["new_sha256"] == "" {
		t.Errorf("config_change %v, want %s with two different hashes", cc.Attrs, sshd)
	}
	if pc := k["password_change"][0]; pc.Attrs["user"] != "alice" {
		t.Errorf("password_change %v, want user alice", pc.Attrs)
	}
	var toor *record
	for i, r := range k["account_change"] {
		if r.Attrs["user"] == "toor" {
			toor = &k["account_change"][i]
		}
	}
	if toor == nil || toor.Attrs["action"] != "added" || toor.Attrs["uid0"] != "true" {
		t.Errorf("account_change records %+v, want toor added with uid0=true", k["account_change"])
	}
	// No password hash ever reaches the collector, in any record.
	for _, rs := range k {
		for _, r := range rs {
			all := r.Body + r.BodyBase64 + fmt.Sprint(r.Attrs)
			for _, h := range []string{oldHash, newHash, oldHash[12:40], newHash[12:40]} {
				if strings.Contains(all, h) {
					t.Fatalf("a password hash reached the collector in a %s record", r.Kind)
				}
			}
		}
	}
}
