package detect

import (
	"strings"
	"testing"
	"time"
)

// iosRestart is an IOS restart line with the banner naming version and image.
func iosRestart(at time.Time, version, image string) step {
	return line(at, "1241: *Mar  2 10:00:00.001: %%SYS-5-RESTART: System restarted --#012Cisco IOS Software, C2900 Software (%s), Version %s, RELEASE SOFTWARE (fc1)", image, version)
}

// applianceCases are the rules over appliances' own lines (issue 20): they
// join ruleCases, so TestRules runs them and TestEveryKindHasCases counts them.
var applianceCases = []ruleCase{
	{name: "IOS restart names its version", kind: AlertDeviceReboot,
		steps: cat(iosRestart(t0, "15.0(1)M1", "C2900-UNIVERSALK9-M")),
		want: &want{severity: SeverityInfo, summary: `device restarted running "15.0(1)M1" (ios)`,
			fields: map[string]string{"version": "15.0(1)M1", "model": "C2900-UNIVERSALK9-M", "firmware_source": "syslog:ios"}}},
	{name: "Junos kernel banner is a restart", kind: AlertDeviceReboot,
		steps: cat(line(t0, "/kernel: JUNOS 21.4R3-S5.4 #0: 2023-09-20 02:05:48 UTC")),
		want:  &want{severity: SeverityInfo, fields: map[string]string{"version": "21.4R3-S5.4", "model": "junos"}}},
	{name: "IOS reload request is not a restart", kind: AlertDeviceReboot,
		steps: cat(line(t0, "1243: *Mar  2 10:00:00.001: %%SYS-5-RELOAD: Reload requested by admin on vty0 (%s). Reload Reason: Reload Command.", attacker))},
	{name: "IOS upgrade", kind: AlertFirmwareChanged,
		steps: cat(iosRestart(t0, "15.0(1)M1", "C2900-UNIVERSALK9-M"), iosRestart(t0.Add(time.Hour), "15.7(3)M9", "C2900-UNIVERSALK9-M")),
		want:  &want{severity: SeverityWarning, fields: map[string]string{"old_version": "15.0(1)M1", "new_version": "15.7(3)M9"}}},
	{name: "IOS downgrade", kind: AlertFirmwareDowngrade,
		steps: cat(iosRestart(t0, "15.7(3)M9", "C2900-UNIVERSALK9-M"), iosRestart(t0.Add(time.Hour), "15.0(1)M1", "C2900-UNIVERSALK9-M")),
		want: &want{severity: SeverityCritical, summary: `firmware downgraded from "15.7(3)M9" to "15.0(1)M1"`,
			fields: map[string]string{"old_version": "15.7(3)M9", "new_version": "15.0(1)M1", "firmware_source": "syslog:ios"}}},
	{name: "FortiOS downgrade", kind: AlertFirmwareDowngrade,
		steps: cat(line(t0, `date=2026-03-02 time=10:00:00 devid="FGT60FTK2209XXXX" logid="0100032009" type="event" subtype="system" logdesc="FortiGate started" version="v7.4.3,build2573" msg="FortiGate started"`),
			line(t0.Add(time.Hour), `date=2026-03-02 time=11:00:00 devid="FGT60FTK2209XXXX" logid="0100032009" type="event" subtype="system" logdesc="FortiGate started" version="v7.2.5,build1517" msg="FortiGate started"`)),
		want: &want{severity: SeverityCritical, fields: map[string]string{"old_version": "v7.4.3,build2573", "new_version": "v7.2.5,build1517", "model": "FGT60F"}}},
	{name: "another image is another sequence", kind: AlertFirmwareDowngrade,
		steps: cat(iosRestart(t0, "17.9.5", "CAT9K_IOSXE"), iosRestart(t0.Add(time.Hour), "15.0(1)M1", "C2900-UNIVERSALK9-M"))},
	{name: "a host's own boot is not compared with a router's line", kind: AlertFirmwareDowngrade,
		steps: cat(boot(t0, "b1", "99.0", "os-release", "C2900-UNIVERSALK9-M"), iosRestart(t0.Add(time.Hour), "15.0(1)M1", "C2900-UNIVERSALK9-M"))},
	{name: "IOS image not approved", kind: AlertFirmwareNotApproved,
		cfg:   Config{ApprovedFirmware: map[string][]string{"C2900-UNIVERSALK9-M": {"15.7(3)M9"}}},
		steps: cat(iosRestart(t0, "15.0(1)M1", "C2900-UNIVERSALK9-M")),
		want:  &want{severity: SeverityWarning, key: "15.0(1)M1", fields: map[string]string{"version": "15.0(1)M1", "model": "C2900-UNIVERSALK9-M"}}},
	{name: "Junos release approved by vendor", kind: AlertFirmwareNotApproved,
		cfg:   Config{ApprovedFirmware: map[string][]string{"junos": {"21.4R3-S5.4"}}},
		steps: cat(line(t0, "/kernel: JUNOS 21.4R3-S5.4 #0: 2023-09-20 02:05:48 UTC"))},
	{name: "restart lines make a reboot loop", kind: AlertRebootLoop,
		steps: cat(iosRestart(t0, "15.0(1)M1", "C2900-UNIVERSALK9-M"), iosRestart(t0.Add(5*time.Minute), "15.0(1)M1", "C2900-UNIVERSALK9-M"),
			iosRestart(t0.Add(10*time.Minute), "15.0(1)M1", "C2900-UNIVERSALK9-M")),
		want: &want{severity: SeverityCritical, count: 3}},
	{name: "Huawei configuration change names who", kind: AlertConfigChange,
		steps: cat(line(t0, `%%%%01CONFIGURATION/6/CFG_FILE_CHANGE(l)[9]:Configuration file was changed. (LogIndex=115, SrcCmd=1, SrcData=2, DestData=3, TerUser="netops", SrcAddr=%s, ConfigChangeId=42)`, attacker)),
		want: &want{severity: SeverityWarning, key: "running-config",
			summary: `configuration running-config changed by "netops" from ` + attacker + ` (CONFIGURATION/6/CFG_FILE_CHANGE)`,
			fields:  map[string]string{"user": "netops", "source": attacker}}},
	{name: "PAN-OS commit names who", kind: AlertConfigChange,
		steps: cat(line(t0, `1,2026/03/02 10:00:00,012801012345,CONFIG,0,0,2026/03/02 10:00:00,%s,,commit,alice,Web,Submitted,,7003,0x0,0,0,0,0,,PA-VM`, attacker)),
		want:  &want{severity: SeverityWarning, fields: map[string]string{"user": "alice", "source": attacker, "method": "web"}}},
	{name: "RouterOS change names who", kind: AlertConfigChange,
		steps: cat(line(t0, `system,info address added by winbox-3.41/tcp-msg(winbox):bob@%s/action:12 (/ip address add address=10.9.9.1/24)`, attacker)),
		want:  &want{severity: SeverityWarning, fields: map[string]string{"user": "bob", "source": attacker, "method": "winbox"}}},
}

// quietCases are source_quiet's and source_resumed's raising and
// must-not cases for the table (quiet_test.go has the rest).
func quietCases() []ruleCase {
	learn, last := alive(t0, 5*time.Second, 10, auth, "file:/var/log/syslog")
	others := func(from, to time.Time) []step { // heartbeats and syslog go on, auth.log is silent
		var st []step
		for ts := from; !ts.After(to); ts = ts.Add(5 * time.Second) {
			st = append(st, hb(ts), srcLine(ts, "file:/var/log/syslog"), tick(ts))
		}
		return st
	}
	quiet := cat(learn, others(last.Add(5*time.Second), last.Add(55*time.Second)))
	return []ruleCase{
		{name: "file silent for 10 of its gaps", kind: AlertSourceQuiet, cfg: quietCfg, steps: quiet,
			want: &want{severity: SeverityWarning, key: auth, fields: map[string]string{"source": auth, "usual_gap": "5s"}}},
		{name: "file silent for 9 of its gaps", kind: AlertSourceQuiet, cfg: quietCfg,
			steps: cat(learn, others(last.Add(5*time.Second), last.Add(45*time.Second)))},
		{name: "file heard again", kind: AlertSourceResumed, cfg: quietCfg, steps: cat(quiet, []step{srcLine(last.Add(60*time.Second), auth)}),
			want: &want{severity: SeverityInfo, key: auth, fields: map[string]string{"source": auth}}},
		{name: "file that was never quiet", kind: AlertSourceResumed, cfg: quietCfg, steps: cat(learn, []step{srcLine(last.Add(5*time.Second), auth)})},
	}
}

func init() {
	ruleCases = append(ruleCases, applianceCases...)
	ruleCases = append(ruleCases, quietCases()...)
}

// TestLineFirmwareSurvivesRestart: the firmware a restart line named is
// part of the device's baseline, so a downgrade after a collector restart
// is still one.
func TestLineFirmwareSurvivesRestart(t *testing.T) {
	e, _ := run(Config{}, cat(iosRestart(t0, "15.7(3)M9", "C2900-UNIVERSALK9-M")))
	snap, ok := e.Snapshot(dev)
	if !ok || !strings.Contains(string(snap), `"15.7(3)M9"`) {
		t.Fatalf("snapshot %s does not hold the version", snap)
	}
	e2 := New(Config{})
	if err := e2.Restore(dev, snap, t0); err != nil {
		t.Fatal(err)
	}
	alerts := feed(e2, iosRestart(t0.Add(time.Hour), "15.0(1)M1", "C2900-UNIVERSALK9-M"))
	if got := ofKind(alerts, AlertFirmwareDowngrade); len(got) != 1 {
		t.Fatalf("after restore: %s, want one firmware_downgrade", kindsOf(alerts))
	}
}

// TestApplianceLinesOnAnAgentHost: the same lines tailed from a file on an
// agent host raise the same alerts, for that host.
func TestApplianceLinesOnAnAgentHost(t *testing.T) {
	in := *line(t0, "mgd[5012]: UI_COMMIT: User 'admin' requested 'commit' operation (comment: none)").in
	in.Device, in.Source = "syslog-host", "file:/var/log/network/mx480.log"
	alerts := New(Config{}).Observe(in)
	if got := ofKind(alerts, AlertConfigChange); len(got) != 1 || got[0].Device != "syslog-host" || got[0].Fields["user"] != "admin" {
		t.Fatalf("alerts %+v, want one config_change by admin on syslog-host", alerts)
	}
}
