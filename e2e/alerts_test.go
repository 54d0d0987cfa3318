package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer"
)

// hookAlert is what the webhook sink posts (ingest/notify WebhookBody).
type hookAlert struct {
	ID       int64             `json:"id"`
	GroupID  string            `json:"group_id"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Device   string            `json:"device"`
	Summary  string            `json:"summary"`
	Fields   map[string]string `json:"fields"`
	Labels   map[string]string `json:"labels"`
	Count    int               `json:"count"`
}

// webhook is a local receiver that fails its first failFirst requests
// with 500 and records every alert it accepts, with when.
type webhook struct {
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	requests  int
	got       []hookAlert
	at        []time.Time
}

func newWebhook(t *testing.T, failFirst int) *webhook {
	w := &webhook{failFirst: failFirst}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.requests++
		if w.requests <= w.failFirst {
			http.Error(rw, "receiver down for maintenance", http.StatusInternalServerError)
			return
		}
		var a hookAlert
		if err := json.Unmarshal(body, &a); err != nil {
			t.Errorf("webhook body is not an alert: %v: %s", err, body)
			http.Error(rw, "bad body", http.StatusBadRequest)
			return
		}
		w.got = append(w.got, a)
		w.at = append(w.at, time.Now())
	}))
	t.Cleanup(w.Close)
	return w
}

// alertsOf returns the accepted alerts of kind (all kinds for "").
func (w *webhook) alertsOf(kind string) []hookAlert {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []hookAlert
	for _, a := range w.got {
		if kind == "" || a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// firstAt is when the first alert of kind arrived (zero if none).
func (w *webhook) firstAt(kind string) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, a := range w.got {
		if a.Kind == kind {
			return w.at[i]
		}
	}
	return time.Time{}
}

// storedAlert is one line of `offbox-ingest alerts -json`.
type storedAlert struct {
	Kind     string            `json:"kind"`
	First    time.Time         `json:"first"`
	Severity string            `json:"severity"`
	Device   string            `json:"device"`
	Summary  string            `json:"summary"`
	Fields   map[string]string `json:"fields"`
	Labels   map[string]string `json:"labels"`
	Count    int               `json:"count"`
	Evidence []struct {
		Seq    uint64 `json:"seq"`
		Index  int    `json:"index"`
		Record *struct {
			Body string `json:"body"`
		} `json:"record"`
	} `json:"evidence"`
}

func storedAlerts(t testing.TB, db string, args ...string) []storedAlert {
	t.Helper()
	out, errOut, code := run(t, bin.ingest, append([]string{"alerts", "-db", db, "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("offbox-ingest alerts: exit %d: %s", code, errOut)
	}
	var as []storedAlert
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var a storedAlert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alerts -json line %q: %v", line, err)
		}
		as = append(as, a)
	}
	return as
}

func ofKind(as []storedAlert, kind string) []storedAlert {
	var out []storedAlert
	for _, a := range as {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// collectorConfig writes an offbox-ingest config with the given alerting
// and devices sections and returns its path.
func collectorConfig(t *testing.T, dir, sections string) string {
	t.Helper()
	p := filepath.Join(dir, "ingest.yaml")
	if err := os.WriteFile(p, []byte(sections), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBruteForceRaisesAlertsEndToEnd: the real agent tails an auth log
// with a brute-force burst and then a success from the same address; the
// collector raises the failures, brute_force and success_after_failures
// with user and address, labelled from its config, and delivers them to a
// webhook that fails its first 3 requests and to a real Alertmanager, each
// alert exactly once.
func TestBruteForceRaisesAlertsEndToEnd(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "sw-edge-1")
	hook := newWebhook(t, 3)
	am := startAlertmanager(t)
	cfg := collectorConfig(t, dir, fmt.Sprintf(`alerting:
  sinks:
    - {name: hook, type: webhook, url: %q}
    - {name: am, type: alertmanager, url: %q, min_severity: warning}
devices:
  - match: "sw-*"
    labels: {role: switch}
`, hook.URL, am))
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)

	log := filepath.Join(dir, "auth.log")
	stamp := time.Now().Format(time.Stamp)
	var lines []string
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("%s sw-edge-1 sshd[%d]: Failed password for admin from 198.51.100.23 port %d ssh2", stamp, 4100+i, 50000+i))
	}
	lines = append(lines,
		stamp+" sw-edge-1 sshd[4200]: Accepted password for admin from 198.51.100.23 port 50100 ssh2",
		stamp+" sw-edge-1 sshd[4200]: pam_unix(sshd:session): session opened for user admin(uid=1000) by (uid=0)")
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, p, "sw-edge-1", in.addr, "-tail", log, "-start-at", "beginning")

	want := []string{"auth_failure", "brute_force", "auth_success", "success_after_failures"}
	waitFor(t, 30*time.Second, "the four alerts at the webhook", func() bool {
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
	as := storedAlerts(t, in.db, "-device", "sw-edge-1", "-evidence")
	for _, k := range want {
		got := ofKind(as, k)
		if len(got) != 1 {
			t.Errorf("%d stored %s alerts, want 1: %+v", len(got), k, got)
			continue
		}
		a := got[0]
		if a.Fields["user"] != "admin" || a.Fields["source"] != "198.51.100.23" || a.Labels["role"] != "switch" {
			t.Errorf("%s: fields %v labels %v, want user admin, source 198.51.100.23, role switch", k, a.Fields, a.Labels)
		}
		if len(a.Evidence) == 0 || a.Evidence[0].Record == nil || !strings.Contains(a.Evidence[0].Record.Body, "198.51.100.23") {
			t.Errorf("%s: evidence %+v does not carry the log line", k, a.Evidence)
		}
	}
	if bf := ofKind(as, "brute_force"); len(bf) == 1 && bf[0].Count != 8 {
		t.Errorf("brute_force count %d, want 8", bf[0].Count)
	}
	if af := ofKind(as, "auth_failure"); len(af) == 1 && af[0].Count != 8 {
		t.Errorf("auth_failure count %d, want 8", af[0].Count)
	}
	if saf := ofKind(as, "success_after_failures"); len(saf) == 1 && saf[0].Severity != "critical" {
		t.Errorf("success_after_failures severity %s, want critical after a brute-force burst", saf[0].Severity)
	}
	// A label query finds them; another label does not.
	if n := len(storedAlerts(t, in.db, "-label", "role=switch", "-kind", "brute_force")); n != 1 {
		t.Errorf("alerts -label role=switch -kind brute_force: %d, want 1", n)
	}
	if n := len(storedAlerts(t, in.db, "-label", "role=firewall")); n != 0 {
		t.Errorf("alerts -label role=firewall: %d, want 0", n)
	}

	// Every alert once at the webhook, despite its three failures.
	time.Sleep(2 * time.Second) // room for a wrongful second delivery to show
	seen := map[string]int{}
	for _, a := range hook.alertsOf("") {
		seen[a.GroupID]++
	}
	for g, n := range seen {
		if n != 1 {
			t.Errorf("webhook got alert group %s %d times, want once", g, n)
		}
	}
	hook.mu.Lock()
	if hook.requests < 3+len(seen) {
		t.Errorf("webhook saw %d requests for %d alerts: the 3 failures were not retried", hook.requests, len(seen))
	}
	hook.mu.Unlock()

	// The warnings and above reached Alertmanager, checked through its API.
	waitFor(t, 20*time.Second, "brute_force and success_after_failures in Alertmanager", func() bool {
		names := alertmanagerAlerts(t, am)
		return names["brute_force"] && names["success_after_failures"]
	})
	if names := alertmanagerAlerts(t, am); names["auth_failure"] {
		t.Error("an info alert reached Alertmanager through a min_severity: warning sink")
	}

	// The parsed events: 8 failures, 1 success, no session line.
	out, errOut, code := run(t, bin.ingest, "events", "-db", in.db, "-device", "sw-edge-1", "-json")
	if code != 0 {
		t.Fatalf("events: %d %s", code, errOut)
	}
	if f, s := strings.Count(out, `"kind":"auth_failure"`), strings.Count(out, `"kind":"auth_success"`); f != 8 || s != 1 {
		t.Errorf("events: %d failures and %d successes, want 8 and 1:\n%s", f, s, out)
	}
	if strings.Contains(out, "session opened") {
		t.Errorf("a session line was listed as an authentication event:\n%s", out)
	}
	// Each query above was an access, each counted in a log_access alert
	// (grouped per operator and command).
	waitFor(t, 10*time.Second, "log_access alerts for the queries", func() bool {
		n := 0
		for _, a := range ofKind(storedAlerts(t, in.db, "-kind", "log_access"), "log_access") {
			n += a.Count
		}
		return n >= 4
	})
}

// TestHeartbeatMissingOnSIGSTOP: an agent frozen with SIGSTOP raises
// heartbeat_missing within 3 heartbeat intervals, and SIGCONT raises
// heartbeat_resumed. The collector learns the interval from the
// heartbeats themselves.
func TestHeartbeatMissingOnSIGSTOP(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "frozen")
	hook := newWebhook(t, 0)
	cfg := collectorConfig(t, dir, fmt.Sprintf("alerting:\n  sinks:\n    - {name: hook, type: webhook, url: %q}\n", hook.URL))
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)
	const interval = 3 * time.Second
	ag := startAgent(t, p, "frozen", in.addr, "-heartbeat", interval.String())
	waitFor(t, 30*time.Second, "two heartbeats stored", func() bool {
		return count(t, in.db, "-device", "frozen", "-kind", "heartbeat") >= 2
	})
	if err := ag.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer ag.cmd.Process.Signal(syscall.SIGCONT)
	waitFor(t, 10*interval, "heartbeat_missing at the webhook", func() bool {
		return !hook.firstAt("heartbeat_missing").IsZero()
	})
	took := hook.firstAt("heartbeat_missing").Sub(stopped)
	t.Logf("heartbeat_missing %s after SIGSTOP (interval %s)", took.Round(time.Millisecond), interval)
	if took > 3*interval {
		t.Errorf("heartbeat_missing came %s after SIGSTOP, more than 3 intervals (%s)", took, 3*interval)
	}
	if len(hook.alertsOf("heartbeat_resumed")) != 0 {
		t.Fatal("heartbeat_resumed while the agent is still stopped")
	}
	if err := ag.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*interval, "heartbeat_resumed at the webhook", func() bool {
		return len(hook.alertsOf("heartbeat_resumed")) == 1
	})
	if n := len(hook.alertsOf("heartbeat_missing")); n != 1 {
		t.Errorf("%d heartbeat_missing alerts, want 1", n)
	}
}

// TestFirmwareDowngradeFromFixture: an OpenWrt host fixture boots with
// 23.05.3, then "reboots" (new boot id) with 22.03.5; the collector raises
// device_reboot, firmware_changed and firmware_downgrade.
func TestFirmwareDowngradeFromFixture(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "host")
	if out, err := exec.Command("cp", "-a", "../testdata/host/openwrt-armv7", root).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v: %s", err, out)
	}
	p := newPKI(t, "wrt")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("server: %s\ntls: {ca: %s, cert: %s, key: %s}\nhost_root: %s\nclock: {enabled: false}\nwatch: {enabled: false}\n",
		in.addr, p.ca(), p.cert("wrt"), p.key("wrt"), root)), 0o644)
	boots := func() int { return count(t, in.db, "-device", "wrt", "-kind", "boot") }

	ag := start(t, bin.agent, "run", "-config", cfg)
	waitFor(t, 30*time.Second, "the first boot record", func() bool { return boots() == 1 })
	ag.stop()

	// The reboot: a new boot id and an older release.
	os.WriteFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"), []byte("0d5e4a1c-9b7f-4e2a-8c3d-5f6a7b8c9d0e\n"), 0o644)
	for _, f := range []string{"etc/openwrt_release", "etc/os-release"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(root, f), []byte(strings.ReplaceAll(string(b), "23.05.3", "22.03.5")), 0o644)
	}
	ag = start(t, bin.agent, "run", "-config", cfg)
	defer ag.stop()
	waitFor(t, 30*time.Second, "firmware_downgrade", func() bool {
		return len(ofKind(storedAlerts(t, in.db, "-device", "wrt"), "firmware_downgrade")) == 1
	})
	as := storedAlerts(t, in.db, "-device", "wrt")
	d := ofKind(as, "firmware_downgrade")[0]
	if d.Severity != "critical" || !strings.HasPrefix(d.Fields["old_version"], "23.05.3 ") || !strings.HasPrefix(d.Fields["new_version"], "22.03.5 ") {
		t.Errorf("firmware_downgrade %+v, want critical 23.05.3 → 22.03.5", d)
	}
	for _, k := range []string{"device_reboot", "firmware_changed"} {
		if len(ofKind(as, k)) != 1 {
			t.Errorf("%d %s alerts, want 1", len(ofKind(as, k)), k)
		}
	}
	if n := len(ofKind(as, "agent_restart")); n != 0 {
		t.Errorf("%d agent_restart alerts for a reboot, want 0", n)
	}
}

// TestRebootAfterPanicFromFixture: an OpenWrt router (the openwrt-mt6000
// fixture) boots clean, then comes back from a kernel panic with the
// ramoops records of it in /sys/fs/pstore; the device_reboot alert says
// "after a kernel panic" with the line that tells why. A third boot that
// still holds the same records is not blamed on that panic again.
func TestRebootAfterPanicFromFixture(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "host")
	if out, err := exec.Command("cp", "-a", "../testdata/host/openwrt-mt6000", root).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v: %s", err, out)
	}
	// The first boot: pstore is mounted and empty.
	pstore, saved := filepath.Join(root, "sys/fs/pstore"), filepath.Join(dir, "pstore")
	if err := os.Rename(pstore, saved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(pstore, 0o755); err != nil {
		t.Fatal(err)
	}
	p := newPKI(t, "mt6000")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("server: %s\ntls: {ca: %s, cert: %s, key: %s}\nhost_root: %s\nclock: {enabled: false}\nwatch: {enabled: false}\n",
		in.addr, p.ca(), p.cert("mt6000"), p.key("mt6000"), root)), 0o644)
	reboots := func() []storedAlert { return ofKind(storedAlerts(t, in.db, "-device", "mt6000"), "device_reboot") }
	bootWith := func(bootID string, n int) {
		t.Helper()
		os.WriteFile(filepath.Join(root, "proc/sys/kernel/random/boot_id"), []byte(bootID+"\n"), 0o644)
		ag := start(t, bin.agent, "run", "-config", cfg)
		defer ag.stop()
		waitFor(t, 30*time.Second, fmt.Sprintf("boot record %d", n), func() bool {
			return count(t, in.db, "-device", "mt6000", "-kind", "boot") == n
		})
	}
	bootWith("2c7e9a41-6f0b-4d83-b5e2-91a4c8d3f056", 1)

	// The panic and the reboot: ramoops kept the kernel's last words.
	if err := os.Remove(pstore); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, pstore); err != nil {
		t.Fatal(err)
	}
	bootWith("7d1f3b60-2a94-4c8e-9e05-c6b3a2f1d478", 2)
	waitFor(t, 30*time.Second, "device_reboot", func() bool { return len(reboots()) == 1 })
	const line = "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000010"
	r := reboots()[0]
	if want := "device rebooted after a kernel panic: " + line; r.Summary != want {
		t.Errorf("device_reboot summary %q, want %q", r.Summary, want)
	}
	if r.Fields["crash"] != "kernel panic" || r.Fields["crash_line"] != line {
		t.Errorf("device_reboot fields %v, want crash \"kernel panic\" and crash_line %q", r.Fields, line)
	}

	// Nothing removed the records: the next reboot is not that panic's.
	bootWith("0a9c8e7d-5b4f-4321-8fed-cba987654321", 3)
	waitFor(t, 30*time.Second, "the second device_reboot", func() bool { return len(reboots()) == 2 })
	var third []storedAlert
	for _, r := range reboots() {
		if r.Fields["boot_id"] == "0a9c8e7d-5b4f-4321-8fed-cba987654321" {
			third = append(third, r)
		}
	}
	if len(third) != 1 || third[0].Summary != "device rebooted" || third[0].Fields["stale_crash_line"] != line {
		t.Errorf("reboot with the same records: %+v; want one plain device_reboot naming the stale line", third)
	}
}

// startAlertmanager runs Debian's prometheus-alertmanager on a free
// loopback port and returns its base URL. Without OFFBOX_INTEGRATION it
// skips; with it, a missing binary fails the test (CI installs it).
func startAlertmanager(t *testing.T) string {
	t.Helper()
	const binPath = "/usr/bin/prometheus-alertmanager"
	testpeer.LookPath(t, "prometheus-alertmanager", binPath)
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	os.WriteFile(conf, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o644)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	am := start(t, binPath, "--config.file="+conf, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	base := "http://" + addr
	waitFor(t, 30*time.Second, "Alertmanager to be ready", func() bool {
		if am.exited() {
			t.Fatalf("alertmanager exited: %s", am.out.String())
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// alertmanagerAlerts returns the alertnames Alertmanager holds.
func alertmanagerAlerts(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var as []struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&as); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, a := range as {
		out[a.Labels["alertname"]] = true
	}
	return out
}
