package detect

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// want is what the last alert of the case's kind must look like.
type want struct {
	severity string
	summary  string // "": not checked
	key      string
	count    int
	fields   map[string]string // a subset of Alert.Fields
	evidence []uint64          // the Seq of each evidence ref, in order; nil: not checked
}

type ruleCase struct {
	name  string
	kind  string
	cfg   Config
	steps []step
	want  *want // nil: the kind must not be raised
}

const attacker = "203.0.113.5"

// panicDump is a crash record as collectors/boot carries it, and panicLine
// the line it finds most telling in it.
const (
	panicLine = "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000010"
	panicDump = "Panic#1 Part1\n<1>[ 8131.774903] " + panicLine + "\n<0>[ 8131.831355] Internal error: Oops: 96000005 [#1] SMP\n" +
		"<0>[ 8132.017542] Kernel panic - not syncing: Oops: Fatal exception\n"
)

// failures is n failed root logins from source, every gap apart from start.
func failures(n int, start time.Time, gap time.Duration, source string) []step {
	var s []step
	for i := range n {
		s = append(s, failed(start.Add(time.Duration(i)*gap), "root", source))
	}
	return s
}

func cat(parts ...any) []step {
	var s []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			s = append(s, p)
		case []step:
			s = append(s, p...)
		}
	}
	return s
}

var ruleCases = []ruleCase{
	// Authentication.
	{name: "one failure", kind: AlertAuthFailure, steps: cat(failed(t0, "root", attacker)),
		want: &want{severity: SeverityInfo, key: "user=root source=" + attacker, count: 1,
			fields: map[string]string{"user": "root", "source": attacker, "method": "password", "program": "sshd"}, evidence: []uint64{1}}},
	{name: "repeated message counts N", kind: AlertAuthFailure,
		steps: cat(line(t0, "sshd[1]: message repeated 3 times: [ Failed password for root from %s port 22 ssh2]", attacker)),
		want:  &want{severity: SeverityInfo, key: "user=root source=" + attacker, count: 3, fields: map[string]string{"count": "3"}}},
	{name: "session lines are not failures", kind: AlertAuthFailure,
		steps: cat(line(t0, "sshd[1]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)"), accepted(t0, "alice", attacker))},

	{name: "success in working hours", kind: AlertAuthSuccess, steps: cat(accepted(t0, "alice", attacker)),
		want: &want{severity: SeverityInfo, key: "user=alice source=" + attacker, count: 1,
			fields: map[string]string{"user": "alice", "source": attacker, "off_hours": "false"}}},
	{name: "success on Saturday night", kind: AlertAuthSuccess, steps: cat(accepted(t0.AddDate(0, 0, 5).Add(-7*time.Hour), "alice", attacker)),
		want: &want{severity: SeverityWarning, count: 1, fields: map[string]string{"off_hours": "true"}}},
	{name: "success at 19:30 in UTC-5 (00:30 UTC)", kind: AlertAuthSuccess, cfg: Config{Location: time.FixedZone("EST", -5*3600)},
		steps: cat(accepted(time.Date(2026, 3, 3, 0, 30, 0, 0, time.UTC), "alice", attacker)),
		want:  &want{severity: SeverityWarning, fields: map[string]string{"off_hours": "true"}}},
	{name: "success at 08:00 in UTC-5 (13:00 UTC), custom window", kind: AlertAuthSuccess,
		cfg:   Config{Location: time.FixedZone("EST", -5*3600), WorkStart: 8 * time.Hour, WorkEnd: 17 * time.Hour},
		steps: cat(accepted(time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC), "alice", attacker)),
		want:  &want{severity: SeverityInfo, fields: map[string]string{"off_hours": "false"}}},
	{name: "a failure is no success", kind: AlertAuthSuccess, steps: cat(failed(t0, "alice", attacker))},

	{name: "5 failures from one source", kind: AlertBruteForce, steps: failures(5, t0, 30*time.Second, attacker),
		want: &want{severity: SeverityWarning, key: "source=" + attacker, count: 5,
			fields: map[string]string{"user": "root", "source": attacker, "failures": "5", "scope": "source"}, evidence: []uint64{1, 2, 3, 4, 5}}},
	{name: "5 failures against the device from 5 sources", kind: AlertBruteForce,
		steps: cat(failed(t0, "root", "198.51.100.1"), failed(t0, "admin", "198.51.100.2"), failed(t0, "root", "198.51.100.3"),
			failed(t0, "pi", "198.51.100.4"), failed(t0, "root", "198.51.100.5")),
		want: &want{severity: SeverityWarning, key: "device", count: 5,
			fields: map[string]string{"failures": "5", "sources": "5", "users": "root,admin,pi", "scope": "device"}}},
	{name: "4 failures are below the threshold", kind: AlertBruteForce, steps: failures(4, t0, 10*time.Second, attacker)},
	{name: "5 failures spread over 10 minutes", kind: AlertBruteForce, steps: failures(5, t0, 150*time.Second, attacker)},
	{name: "threshold 10 configured", kind: AlertBruteForce, cfg: Config{BruteForceThreshold: 10}, steps: failures(9, t0, time.Second, attacker)},

	{name: "success after 2 failures", kind: AlertSuccessAfterFailures,
		steps: cat(failures(2, t0, time.Second, attacker), accepted(t0.Add(time.Minute), "root", attacker)),
		want: &want{severity: SeverityWarning, key: "source=" + attacker, count: 1,
			fields: map[string]string{"user": "root", "source": attacker, "failures": "2"}, evidence: []uint64{1, 2, 3}}},
	{name: "success after a brute force is critical", kind: AlertSuccessAfterFailures,
		steps: cat(failures(6, t0, time.Second, attacker), accepted(t0.Add(time.Minute), "admin", attacker)),
		want:  &want{severity: SeverityCritical, fields: map[string]string{"user": "admin", "failures": "6", "failed_users": "root"}}},
	{name: "local su failure then success", kind: AlertSuccessAfterFailures,
		steps: cat(line(t0, "su[9]: FAILED SU (to root) alice on pts/0"), line(t0.Add(time.Minute), "su[9]: (to root) alice on pts/0")),
		want:  &want{severity: SeverityWarning, key: "user=alice", fields: map[string]string{"user": "alice", "failures": "1"}}},
	{name: "success without failures", kind: AlertSuccessAfterFailures, steps: cat(accepted(t0, "root", attacker))},
	{name: "failures from another source", kind: AlertSuccessAfterFailures,
		steps: cat(failures(5, t0, time.Second, "198.51.100.9"), accepted(t0.Add(time.Minute), "root", attacker))},
	{name: "failures outside the window", kind: AlertSuccessAfterFailures,
		steps: cat(failures(5, t0, time.Second, attacker), accepted(t0.Add(6*time.Minute), "root", attacker))},

	// Boot and firmware.
	{name: "new boot id", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), boot(t0.Add(time.Hour), "b2", "1.0", "os-release", "m")),
		want:  &want{severity: SeverityInfo, key: "b2", count: 1, fields: map[string]string{"previous_boot_id": "b1", "boot_id": "b2"}, evidence: []uint64{2}}},
	{name: "same boot id again", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), boot(t0.Add(time.Hour), "b1", "1.0", "os-release", "m"))},
	{name: "first boot is a baseline", kind: AlertDeviceReboot, steps: cat(boot(t0, "b1", "1.0", "os-release", "m"))},
	{name: "a plain reboot names no crash", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), boot(t0.Add(time.Hour), "b2", "1.0", "os-release", "m")),
		want:  &want{summary: "device rebooted", fields: map[string]string{"crash": "", "crash_line": ""}}},
	{name: "reboot after a kernel panic", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), crashBoot(t0.Add(time.Hour), "b2", true, panicLine, panicDump)),
		want: &want{severity: SeverityInfo, key: "b2", summary: "device rebooted after a kernel panic: " + panicLine,
			fields: map[string]string{"crash": "kernel panic", "crash_line": panicLine, "previous_boot_id": "b1", "boot_id": "b2"}}},
	{name: "reboot after an oops without a panic", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), crashBoot(t0.Add(time.Hour), "b2", false, "Oops: 0000 [#1] SMP", "Oops#1 Part1\n<4>[ 9.9] Oops: 0000 [#1] SMP\n")),
		want:  &want{summary: "device rebooted after a kernel crash: Oops: 0000 [#1] SMP", fields: map[string]string{"crash": "kernel crash"}}},
	{name: "a panic record without a telling line", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), crashBoot(t0.Add(time.Hour), "b2", true, "", "Panic#1 Part2\n<6>[ 1.0] eth0: link up\n")),
		want:  &want{summary: "device rebooted after a kernel panic", fields: map[string]string{"crash": "kernel panic", "crash_line": ""}}},
	{name: "a hostile crash line is one bounded line", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), crashBoot(t0.Add(time.Hour), "b2", true, "BUG: a\x1b[2J\xffb\n"+strings.Repeat("x", 400), "x")),
		want: &want{summary: "device rebooted after a kernel panic: BUG: a [2J\uFFFDb " + strings.Repeat("x", 285) + "...",
			fields: map[string]string{"crash_line": "BUG: a [2J\uFFFDb " + strings.Repeat("x", 285) + "..."}}},
	{name: "the first boot's panic is a baseline", kind: AlertDeviceReboot, steps: cat(crashBoot(t0, "b1", true, panicLine, panicDump))},
	{name: "a crash record left from an earlier boot is not this reboot's cause", kind: AlertDeviceReboot,
		steps: cat(boot(t0, "b1", "1.0", "os-release", "m"), crashBoot(t0.Add(time.Hour), "b2", true, panicLine, panicDump),
			crashBoot(t0.Add(2*time.Hour), "b3", true, panicLine, panicDump)),
		want: &want{key: "b3", summary: "device rebooted", fields: map[string]string{"crash": "", "crash_line": "", "stale_crash_line": panicLine}}},
	{name: "the same panic again is a new crash", kind: AlertDeviceReboot,
		steps: cat(crashBoot(t0, "b1", true, panicLine, panicDump), crashBoot(t0.Add(time.Hour), "b2", true, panicLine,
			strings.ReplaceAll(panicDump, "[ 8131.", "[ 2207."))),
		want: &want{key: "b2", summary: "device rebooted after a kernel panic: " + panicLine, fields: map[string]string{"stale_crash_line": ""}}},

	{name: "3 reboots in 20 minutes", kind: AlertRebootLoop,
		steps: cat(boot(t0, "b1", "1", "s", "m"), boot(t0.Add(mins(5)), "b2", "1", "s", "m"),
			boot(t0.Add(mins(12)), "b3", "1", "s", "m"), boot(t0.Add(mins(20)), "b4", "1", "s", "m")),
		want: &want{severity: SeverityCritical, count: 3, fields: map[string]string{"reboots": "3"}, evidence: []uint64{2, 3, 4}}},
	{name: "3 reboots 20 minutes apart", kind: AlertRebootLoop,
		steps: cat(boot(t0, "b1", "1", "s", "m"), boot(t0.Add(mins(20)), "b2", "1", "s", "m"),
			boot(t0.Add(mins(40)), "b3", "1", "s", "m"), boot(t0.Add(mins(60)), "b4", "1", "s", "m"))},

	{name: "upgrade is a change", kind: AlertFirmwareChanged,
		steps: cat(boot(t0, "b1", "23.05.2 r23630-842932a63d", "openwrt", "GL.iNet GL-MT6000"),
			boot(t0.Add(time.Hour), "b2", "23.05.3 r23809-234f1a2efa", "openwrt", "GL.iNet GL-MT6000")),
		want: &want{severity: SeverityWarning, key: "23.05.3 r23809-234f1a2efa",
			fields: map[string]string{"old_version": "23.05.2 r23630-842932a63d", "new_version": "23.05.3 r23809-234f1a2efa"}}},
	{name: "same firmware after reboot", kind: AlertFirmwareChanged,
		steps: cat(boot(t0, "b1", "1.2", "dmi", "m"), boot(t0.Add(time.Hour), "b2", "1.2", "dmi", "m"))},

	{name: "OpenWrt downgrade", kind: AlertFirmwareDowngrade,
		steps: cat(boot(t0, "b1", "23.05.3 r23809-234f1a2efa", "openwrt", "GL.iNet GL-MT6000"),
			boot(t0.Add(time.Hour), "b2", "23.05.2 r23630-842932a63d", "openwrt", "GL.iNet GL-MT6000")),
		want: &want{severity: SeverityCritical, key: "23.05.2 r23630-842932a63d", count: 1,
			fields: map[string]string{"old_version": "23.05.3 r23809-234f1a2efa", "new_version": "23.05.2 r23630-842932a63d",
				"model": "GL.iNet GL-MT6000", "firmware_source": "openwrt"}}},
	{name: "SONiC downgrade", kind: AlertFirmwareDowngrade,
		steps: cat(boot(t0, "b1", "SONiC.202311.540346-fbd3e6b2e", "sonic", "MSN3700"),
			boot(t0.Add(time.Hour), "b2", "SONiC.202305.12345-0a1b2c3d4", "sonic", "MSN3700")),
		want: &want{severity: SeverityCritical}},
	{name: "upgrade is not a downgrade", kind: AlertFirmwareDowngrade,
		steps: cat(boot(t0, "b1", "23.05.2 r23630-842932a63d", "openwrt", "m"), boot(t0.Add(time.Hour), "b2", "23.05.3 r23809-234f1a2efa", "openwrt", "m"))},
	{name: "lower version from another source", kind: AlertFirmwareDowngrade,
		steps: cat(boot(t0, "b1", "debian 12", "os-release", "m"), boot(t0.Add(time.Hour), "b2", "1.0", "dmi", "m"))},
	{name: "lower version on another model", kind: AlertFirmwareDowngrade,
		steps: cat(boot(t0, "b1", "2.0", "dmi", "m1"), boot(t0.Add(time.Hour), "b2", "1.0", "dmi", "m2"))},

	{name: "version not on the model's list", kind: AlertFirmwareNotApproved,
		cfg:   Config{ApprovedFirmware: map[string][]string{"MSN3700": {"SONiC.202311.540346-fbd3e6b2e"}}},
		steps: cat(boot(t0, "b1", "SONiC.202311.999-abcdef12", "sonic", "MSN3700")),
		want:  &want{severity: SeverityWarning, key: "SONiC.202311.999-abcdef12", fields: map[string]string{"model": "MSN3700", "version": "SONiC.202311.999-abcdef12"}}},
	{name: "approved version", kind: AlertFirmwareNotApproved,
		cfg:   Config{ApprovedFirmware: map[string][]string{"MSN3700": {"SONiC.202311.540346-fbd3e6b2e"}}},
		steps: cat(boot(t0, "b1", "SONiC.202311.540346-fbd3e6b2e", "sonic", "MSN3700"))},
	{name: "model without a list", kind: AlertFirmwareNotApproved,
		cfg:   Config{ApprovedFirmware: map[string][]string{"MSN3700": {"x"}}},
		steps: cat(boot(t0, "b1", "1.0", "dmi", "other"))},

	// Agent and liveness.
	{name: "BOOT repeats the boot id", kind: AlertAgentRestart,
		steps: cat(boot(t0, "b1", "1", "s", "m"), boot(t0.Add(time.Hour), "b1", "1", "s", "m")),
		want:  &want{severity: SeverityWarning, key: "b1", count: 1, evidence: []uint64{2}}},
	{name: "new session, same boot: one alert for session and BOOT", kind: AlertAgentRestart,
		steps: cat(session(rec("heartbeat", t0, "boot_id", "b1"), "s1", ""), session(boot(t0, "b1", "1", "s", "m"), "s1", "b1"),
			session(rec("heartbeat", t0.Add(time.Hour), "boot_id", "b1"), "s2", ""),
			session(boot(t0.Add(time.Hour), "b1", "1", "s", "m"), "s2", "b1")),
		want: &want{severity: SeverityWarning, key: "b1", count: 1,
			fields: map[string]string{"session_id": "s2", "previous_session_id": "s1"}, evidence: []uint64{3}}},
	{name: "new session after a reboot", kind: AlertAgentRestart,
		steps: cat(session(boot(t0, "b1", "1", "s", "m"), "s1", "b1"), session(boot(t0.Add(time.Hour), "b2", "1", "s", "m"), "s2", "b2"))},

	{name: "silent for more than 2.5 intervals", kind: AlertHeartbeatMissing,
		steps: cat(rec("heartbeat", t0), tick(t0.Add(time.Second+38*time.Second))),
		want:  &want{severity: SeverityWarning, count: 1, fields: map[string]string{"limit": "37.5s"}}},
	{name: "silent for exactly 2.5 intervals", kind: AlertHeartbeatMissing,
		steps: cat(rec("heartbeat", t0), tick(t0.Add(time.Second+37500*time.Millisecond)))},
	{name: "per-device interval", kind: AlertHeartbeatMissing, cfg: Config{IntervalOf: func(d string) time.Duration {
		return map[string]time.Duration{dev: time.Minute}[d]
	}},
		steps: cat(rec("heartbeat", t0), tick(t0.Add(100*time.Second)))},
	{name: "interval the heartbeat reports", kind: AlertHeartbeatMissing,
		steps: cat(rec("heartbeat", t0, "heartbeat_interval", "1s"), tick(t0.Add(time.Second+2600*time.Millisecond))),
		want:  &want{severity: SeverityWarning, count: 1, fields: map[string]string{"limit": "2.5s"}}},
	{name: "reported interval, silent for 2.4 of them", kind: AlertHeartbeatMissing,
		steps: cat(rec("heartbeat", t0, "heartbeat_interval", "1s"), tick(t0.Add(time.Second+2400*time.Millisecond)))},
	{name: "absurd reported interval ignored", kind: AlertHeartbeatMissing,
		steps: cat(rec("heartbeat", t0, "heartbeat_interval", "1ms"), tick(t0.Add(time.Second+30*time.Second)))},
	{name: "records keep it alive", kind: AlertHeartbeatMissing,
		steps: cat(rec("heartbeat", t0), tick(t0.Add(30*time.Second)), rec("log", t0.Add(40*time.Second)), tick(t0.Add(75*time.Second)))},

	{name: "record after missing", kind: AlertHeartbeatResumed,
		steps: cat(rec("heartbeat", t0), tick(t0.Add(time.Minute)), rec("heartbeat", t0.Add(2*time.Minute))),
		want:  &want{severity: SeverityInfo, count: 1, fields: map[string]string{"silent_for": "2m0s"}, evidence: []uint64{3}}},
	{name: "record without missing", kind: AlertHeartbeatResumed,
		steps: cat(rec("heartbeat", t0), tick(t0.Add(30*time.Second)), rec("heartbeat", t0.Add(40*time.Second)))},

	// Time.
	{name: "late delivery, no clock known", kind: AlertTimestampMismatch,
		steps: cat(received(rec("heartbeat", t0), t0.Add(5*time.Minute))),
		want:  &want{severity: SeverityInfo, key: "delivery_delay", fields: map[string]string{"cause": "delivery_delay", "clock_known": "false", "delay": "5m0s"}}},
	{name: "device 10 min behind, the offset explains it", kind: AlertTimestampMismatch,
		steps: cat(rec("clock", t0.Add(-10*time.Minute), "offset_ns", "600000000000"),
			received(rec("heartbeat", t0), t0.Add(10*time.Minute+5*time.Second))),
		want: &want{severity: SeverityWarning, key: "device_clock", fields: map[string]string{"cause": "device_clock", "offset": "10m0s"}}},
	{name: "device clock in the future, no offset known", kind: AlertTimestampMismatch,
		steps: cat(received(rec("heartbeat", t0), t0.Add(-time.Hour))),
		want:  &want{severity: SeverityWarning, fields: map[string]string{"cause": "device_clock"}}},
	{name: "clock fine, record 5 min late", kind: AlertTimestampMismatch,
		steps: cat(rec("clock", t0, "offset_ns", "1000"), received(rec("log", t0), t0.Add(5*time.Minute))),
		want:  &want{severity: SeverityInfo, fields: map[string]string{"cause": "delivery_delay", "clock_known": "true"}}},
	{name: "90 s late is within the skew", kind: AlertTimestampMismatch,
		steps: cat(received(rec("heartbeat", t0), t0.Add(90*time.Second)))},
	// A device clock is the device's to set: far off in either direction,
	// or no time at all, is the clock, never an info "delivery delay".
	{name: "device clock 50 years ahead", kind: AlertTimestampMismatch,
		steps: cat(received(rec("log", t0.AddDate(50, 0, 0)), t0)),
		want:  &want{severity: SeverityCritical, key: "device_clock", fields: map[string]string{"cause": "device_clock"}}},
	{name: "device clock 50 years behind, no offset known", kind: AlertTimestampMismatch,
		steps: cat(received(rec("log", t0.AddDate(-50, 0, 0)), t0)),
		want:  &want{severity: SeverityCritical, key: "device_clock", fields: map[string]string{"cause": "device_clock", "clock_known": "false"}}},
	{name: "device clock 50 years behind, NTP offset says fine", kind: AlertTimestampMismatch,
		steps: cat(rec("clock", t0, "offset_ns", "1000"), received(rec("log", t0.AddDate(-50, 0, 0)), t0)),
		want:  &want{severity: SeverityCritical, key: "device_clock", fields: map[string]string{"cause": "device_clock", "clock_known": "true"}}},
	{name: "device clock 50 years ahead, NTP offset says fine", kind: AlertTimestampMismatch,
		steps: cat(rec("clock", t0, "offset_ns", "1000"), received(rec("log", t0.AddDate(50, 0, 0)), t0)),
		want:  &want{severity: SeverityCritical, key: "device_clock", fields: map[string]string{"cause": "device_clock"}}},
	{name: "device time zero", kind: AlertTimestampMismatch,
		steps: cat(received(rec("log", time.Time{}), t0)),
		want:  &want{severity: SeverityCritical, key: "device_clock", fields: map[string]string{"cause": "device_clock", "device_time": "none"}}},
	{name: "device time negative", kind: AlertTimestampMismatch,
		steps: cat(received(rec("log", time.Unix(0, -5)), t0)),
		want:  &want{severity: SeverityCritical, key: "device_clock", fields: map[string]string{"cause": "device_clock", "device_time": "1969-12-31T23:59:59.999999995Z"}}},
	{name: "device clock 2 h ahead is a warning", kind: AlertTimestampMismatch,
		steps: cat(received(rec("log", t0.Add(2*time.Hour)), t0)),
		want:  &want{severity: SeverityWarning, key: "device_clock"}},
	{name: "3 days late, no offset known, is a delivery delay", kind: AlertTimestampMismatch,
		steps: cat(received(rec("log", t0), t0.Add(72*time.Hour))),
		want:  &want{severity: SeverityInfo, key: "delivery_delay", fields: map[string]string{"delay": "72h0m0s"}}},
	{name: "30 days late cannot be a delivery delay", kind: AlertTimestampMismatch,
		steps: cat(received(rec("log", t0), t0.Add(30*24*time.Hour))),
		want:  &want{severity: SeverityCritical, key: "device_clock"}},

	{name: "offset 150 ms", kind: AlertClockOffset, steps: cat(rec("clock", t0, "offset_ns", "150000000", "no_majority", "false")),
		want: &want{severity: SeverityWarning, count: 1, fields: map[string]string{"offset_ns": "150000000", "no_majority": "false"}}},
	{name: "offset -2 s", kind: AlertClockOffset, steps: cat(rec("clock", t0, "offset_ns", "-2000000000")),
		want: &want{severity: SeverityCritical, fields: map[string]string{"offset_ns": "-2000000000"}}},
	{name: "no majority", kind: AlertClockOffset, steps: cat(rec("clock", t0, "offset_ns", "1000", "no_majority", "true")),
		want: &want{severity: SeverityWarning, fields: map[string]string{"no_majority": "true"}}},
	{name: "offset 50 ms", kind: AlertClockOffset, steps: cat(rec("clock", t0, "offset_ns", "50000000", "no_majority", "false"))},
	{name: "no servers answered", kind: AlertClockOffset, steps: cat(rec("clock", t0, "unreachable", "10.0.0.1:123"))},

	{name: "server unreachable", kind: AlertNTPUnreachable, steps: cat(rec("clock", t0, "offset_ns", "0", "unreachable", "10.0.0.2:123")),
		want: &want{severity: SeverityWarning, key: "10.0.0.2:123", fields: map[string]string{"server": "10.0.0.2:123", "reason": "unreachable"}}},
	{name: "server refused", kind: AlertNTPUnreachable, steps: cat(rec("clock", t0, "refused", "10.0.0.3:123")),
		want: &want{severity: SeverityWarning, key: "10.0.0.3:123", fields: map[string]string{"reason": "refused"}}},
	{name: "all reachable", kind: AlertNTPUnreachable, steps: cat(rec("clock", t0, "offset_ns", "0", "unreachable", "", "reachable", "3"))},

	{name: "falseticker", kind: AlertNTPFalseticker, steps: cat(rec("clock", t0, "offset_ns", "0", "falsetickers", "10.0.0.4:123,10.0.0.5:123")),
		want: &want{severity: SeverityWarning, key: "10.0.0.5:123", fields: map[string]string{"server": "10.0.0.5:123"}}},
	{name: "no falseticker", kind: AlertNTPFalseticker, steps: cat(rec("clock", t0, "offset_ns", "0", "falsetickers", ""))},

	// Changes.
	{name: "sshd_config modified", kind: AlertConfigChange,
		steps: cat(rec("config_change", t0, "path", "/etc/ssh/sshd_config", "change", "modified", "old_sha256", "aa", "new_sha256", "bb")),
		want: &want{severity: SeverityWarning, key: "/etc/ssh/sshd_config", count: 1,
			fields: map[string]string{"path": "/etc/ssh/sshd_config", "change": "modified", "old_sha256": "aa", "new_sha256": "bb"}}},
	{name: "agent status about a path", kind: AlertConfigChange, steps: cat(rec("agent_status", t0, "path", "/etc/ssh/sshd_config", "status", "ok"))},
	{name: "IOS configured by an administrator", kind: AlertConfigChange,
		steps: cat(line(t0, "1235: *Mar  2 10:00:00.001: %%SYS-5-CONFIG_I: Configured from console by admin on vty0 (%s)", attacker)),
		want: &want{severity: SeverityWarning, key: "running-config", count: 1,
			fields: map[string]string{"user": "admin", "source": attacker, "program": "SYS-5-CONFIG_I", "path": "running-config"}}},
	{name: "FortiOS policy edited", kind: AlertConfigChange,
		steps: cat(line(t0, `date=2026-03-02 time=10:00:00 logid="0100044547" type="event" subtype="system" user="admin" ui="GUI(%s)" action="Edit" cfgpath="firewall.policy" cfgobj="7"`, attacker)),
		want: &want{severity: SeverityWarning, key: "firewall.policy", count: 1,
			fields: map[string]string{"user": "admin", "source": attacker, "method": "web", "path": "firewall.policy"}}},
	{name: "Junos commit complete is not a change of its own", kind: AlertConfigChange,
		steps: cat(line(t0, "mgd[5012]: UI_COMMIT_COMPLETED: commit complete"))},
	{name: "a config change is not a login", kind: AlertAuthSuccess,
		steps: cat(line(t0, "mgd[5012]: UI_COMMIT: User 'admin' requested 'commit' operation (comment: none)"))},

	{name: "password changed", kind: AlertPasswordChange, steps: cat(rec("password_change", t0, "user", "alice", "no_password", "false")),
		want: &want{severity: SeverityWarning, key: "alice", fields: map[string]string{"user": "alice"}}},
	{name: "password removed", kind: AlertPasswordChange, steps: cat(rec("password_change", t0, "user", "alice", "no_password", "true")),
		want: &want{severity: SeverityCritical, key: "alice"}},
	{name: "password age is no change", kind: AlertPasswordChange, steps: cat(rec("password_age", t0, "oldest_user", "alice", "oldest_days", "3"))},

	{name: "400 days old", kind: AlertPasswordTooOld,
		steps: cat(withBody(rec("password_age", t0), `[{"user":"alice","age_days":400},{"user":"bob","age_days":10}]`)),
		want:  &want{severity: SeverityWarning, key: "alice", count: 1, fields: map[string]string{"user": "alice", "age_days": "400", "max_age_days": "365"}}},
	{name: "from attrs when the body is not a list", kind: AlertPasswordTooOld,
		steps: cat(rec("password_age", t0, "oldest_user", "root", "oldest_days", "366")),
		want:  &want{severity: SeverityWarning, key: "root"}},
	{name: "ages past the limit between reports (Tick)", kind: AlertPasswordTooOld,
		steps: cat(withBody(rec("password_age", t0), `[{"user":"alice","age_days":360}]`), tick(t0.Add(4*24*time.Hour)), tick(t0.Add(6*24*time.Hour+time.Minute))),
		want:  &want{severity: SeverityWarning, key: "alice", fields: map[string]string{"age_days": "366"}, evidence: []uint64{1}}},
	{name: "custom age", kind: AlertPasswordTooOld, cfg: Config{PasswordMaxAgeDays: 90},
		steps: cat(withBody(rec("password_age", t0), `[{"user":"alice","age_days":91}]`)),
		want:  &want{fields: map[string]string{"max_age_days": "90"}}},
	{name: "365 days is not too old", kind: AlertPasswordTooOld,
		steps: cat(withBody(rec("password_age", t0), `[{"user":"alice","age_days":365}]`), tick(t0.Add(12*time.Hour)))},
	{name: "locked and must-change accounts", kind: AlertPasswordTooOld,
		steps: cat(withBody(rec("password_age", t0), `[{"user":"old","age_days":900,"locked":true},{"user":"new","age_days":900,"must_change":true}]`))},

	{name: "account added", kind: AlertAccountAdded, steps: cat(rec("account_change", t0, "action", "added", "user", "deploy", "uid", "1001", "uid0", "false")),
		want: &want{severity: SeverityWarning, key: "deploy", fields: map[string]string{"user": "deploy", "uid": "1001", "uid0": "false"}}},
	{name: "uid 0 account added", kind: AlertAccountAdded, steps: cat(rec("account_change", t0, "action", "added", "user", "toor", "uid", "0", "uid0", "true")),
		want: &want{severity: SeverityCritical, key: "toor", fields: map[string]string{"uid0": "true"}}},
	{name: "uid 0 account added, from the log", kind: AlertAccountAdded,
		steps: cat(line(t0, "useradd[99]: new user: name=eve, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0")),
		want:  &want{severity: SeverityCritical, key: "eve", fields: map[string]string{"uid": "0", "program": "useradd"}}},
	{name: "account changed", kind: AlertAccountAdded, steps: cat(rec("account_change", t0, "action", "changed", "user", "deploy", "uid", "0"))},

	{name: "account removed", kind: AlertAccountRemoved, steps: cat(rec("account_change", t0, "action", "removed", "user", "deploy", "uid", "1001")),
		want: &want{severity: SeverityWarning, key: "deploy", fields: map[string]string{"uid0": "false"}}},
	{name: "account removed, from the log", kind: AlertAccountRemoved, steps: cat(line(t0, "userdel[99]: delete user 'eve'")),
		want: &want{severity: SeverityWarning, key: "eve"}},
	{name: "existing account given uid 0", kind: AlertAccountUID0,
		steps: cat(rec("account_change", t0, "action", "changed", "user", "alice", "uid", "0", "old_uid", "1000")),
		want:  &want{severity: SeverityCritical, key: "alice", count: 1, fields: map[string]string{"old_uid": "1000"}}},
	{name: "shell change is not uid 0", kind: AlertAccountUID0,
		steps: cat(rec("account_change", t0, "action", "changed", "user", "alice", "uid", "1000", "old_uid", "1000", "shell", "/bin/zsh"))},
	{name: "root stays root", kind: AlertAccountUID0,
		steps: cat(rec("account_change", t0, "action", "changed", "user", "root", "uid", "0", "old_uid", "0", "shell", "/bin/zsh"))},
	{name: "added is not removed", kind: AlertAccountRemoved, steps: cat(rec("account_change", t0, "action", "added", "user", "deploy", "uid", "1001"))},

	// Integrity.
	{name: "bad signature", kind: AlertBadSignature, steps: cat(integrity("bad_signature", t0, 7)),
		want: &want{severity: SeverityCritical, fields: map[string]string{"seq": "7", "detail": "test"}, evidence: []uint64{7}}},
	{name: "gap is no bad signature", kind: AlertBadSignature, steps: cat(integrity("gap", t0, 7))},
	{name: "identity mismatch", kind: AlertIdentityMismatch, steps: cat(integrity("identity_mismatch", t0, 0)),
		want: &want{severity: SeverityCritical, evidence: []uint64{}}},
	{name: "bad signature is no identity mismatch", kind: AlertIdentityMismatch, steps: cat(integrity("bad_signature", t0, 1))},
	{name: "gap", kind: AlertGap, steps: cat(integrity("gap", t0, 9)), want: &want{severity: SeverityWarning, fields: map[string]string{"seq": "9"}}},
	{name: "fork is no gap", kind: AlertGap, steps: cat(integrity("fork", t0, 9))},
	{name: "fork", kind: AlertFork, steps: cat(integrity("fork", t0, 9)), want: &want{severity: SeverityCritical}},
	{name: "replay is no fork", kind: AlertFork, steps: cat(integrity("replay", t0, 9))},
	{name: "replay", kind: AlertReplay, steps: cat(integrity("replay", t0, 9)), want: &want{severity: SeverityWarning}},
	{name: "records raise no replay", kind: AlertReplay, steps: cat(rec("heartbeat", t0), rec("heartbeat", t0))},
	{name: "concurrent session", kind: AlertConcurrentSession, steps: cat(integrity("concurrent_session", t0, 0)),
		want: &want{severity: SeverityCritical}},
	{name: "agent restart is no concurrent session", kind: AlertConcurrentSession,
		steps: cat(boot(t0, "b1", "1", "s", "m"), boot(t0.Add(time.Minute), "b1", "1", "s", "m"))},
	{name: "malformed", kind: AlertMalformed, steps: cat(integrity("malformed", t0, 3)), want: &want{severity: SeverityWarning}},
	{name: "unknown is not malformed", kind: AlertMalformed, steps: cat(integrity("tampered", t0, 3))},
	{name: "unknown integrity kind", kind: AlertIntegrityOther, steps: cat(integrity("tampered", t0, 3)),
		want: &want{severity: SeverityWarning, fields: map[string]string{"event": "tampered"}}},
	{name: "known kinds are not other", kind: AlertIntegrityOther, steps: cat(integrity("gap", t0, 3), integrity("fork", t0, 4))},
	{name: "chain restart without reboot", kind: AlertChainRestart,
		steps: cat(boot(t0, "b1", "1", "s", "m"), step{integ: &IntegrityInput{Device: dev, Kind: EventChainRestart, Time: t0.Add(time.Minute), Seq: 1, BootID: "b1"}}),
		want:  &want{severity: SeverityCritical, fields: map[string]string{"rebooted": "false", "boot_id": "b1"}}},
	{name: "chain restart after a reboot is only a warning", kind: AlertChainRestart,
		steps: cat(boot(t0, "b1", "1", "s", "m"), step{integ: &IntegrityInput{Device: dev, Kind: EventChainRestart, Time: t0.Add(time.Minute), Seq: 1, BootID: "b2"}}),
		want:  &want{severity: SeverityWarning, fields: map[string]string{"rebooted": "true"}}},
	{name: "a reboot is no chain restart", kind: AlertChainRestart,
		steps: cat(boot(t0, "b1", "1", "s", "m"), boot(t0.Add(time.Hour), "b2", "1", "s", "m"))},
}

func TestRules(t *testing.T) {
	t.Parallel()
	for _, c := range ruleCases {
		t.Run(c.kind+"/"+c.name, func(t *testing.T) {
			t.Parallel()
			_, alerts := run(c.cfg, c.steps)
			got := ofKind(alerts, c.kind)
			if c.want == nil {
				if len(got) > 0 {
					t.Fatalf("raised %s, want none: %+v", c.kind, got[len(got)-1])
				}
				return
			}
			if len(got) == 0 {
				t.Fatalf("no %s raised; alerts: %+v", c.kind, alerts)
			}
			a := got[len(got)-1]
			w := c.want
			if a.Device != dev {
				t.Errorf("device = %q, want %q", a.Device, dev)
			}
			if w.severity != "" && a.Severity != w.severity {
				t.Errorf("severity = %q, want %q", a.Severity, w.severity)
			}
			if w.summary != "" && a.Summary != w.summary {
				t.Errorf("summary = %q, want %q", a.Summary, w.summary)
			}
			if w.key != "" && a.Key != w.key {
				t.Errorf("key = %q, want %q", a.Key, w.key)
			}
			if w.count != 0 && a.Count != w.count {
				t.Errorf("count = %d, want %d", a.Count, w.count)
			}
			for k, v := range w.fields {
				if a.Fields[k] != v {
					t.Errorf("Fields[%q] = %q, want %q (all: %v)", k, a.Fields[k], v, a.Fields)
				}
			}
			if w.evidence != nil {
				var seqs []uint64
				for _, r := range a.Evidence {
					seqs = append(seqs, r.Seq)
					if r.Device != dev {
						t.Errorf("evidence device = %q, want %q", r.Device, dev)
					}
				}
				if !slices.Equal(seqs, w.evidence) && !(len(seqs) == 0 && len(w.evidence) == 0) {
					t.Errorf("evidence seqs = %v, want %v", seqs, w.evidence)
				}
			}
			if a.Summary == "" {
				t.Error("empty summary")
			}
			if a.First.IsZero() || a.Last.Before(a.First) {
				t.Errorf("First %v, Last %v", a.First, a.Last)
			}
		})
	}
}

// TestEveryKindHasCases holds the table to acceptance 1 of issue 4: every
// alert kind has a case that raises it and one that must not.
func TestEveryKindHasCases(t *testing.T) {
	t.Parallel()
	kinds := []string{AlertAuthFailure, AlertAuthSuccess, AlertBruteForce, AlertSuccessAfterFailures, AlertDeviceReboot,
		AlertRebootLoop, AlertFirmwareChanged, AlertFirmwareDowngrade, AlertFirmwareNotApproved, AlertAgentRestart,
		AlertHeartbeatMissing, AlertHeartbeatResumed, AlertTimestampMismatch, AlertClockOffset, AlertNTPUnreachable,
		AlertNTPFalseticker, AlertConfigChange, AlertPasswordChange, AlertPasswordTooOld, AlertAccountAdded,
		AlertAccountRemoved, AlertAccountUID0, AlertBadSignature, AlertIdentityMismatch, AlertGap, AlertFork, AlertReplay,
		AlertConcurrentSession, AlertMalformed, AlertChainRestart, AlertIntegrityOther,
		AlertSourceQuiet, AlertSourceResumed}
	for _, k := range kinds {
		var raise, not bool
		for _, c := range ruleCases {
			if c.kind == k {
				raise = raise || c.want != nil
				not = not || c.want == nil
			}
		}
		if !raise || !not {
			t.Errorf("%s: raising case %v, must-not case %v; want both", k, raise, not)
		}
	}
}
