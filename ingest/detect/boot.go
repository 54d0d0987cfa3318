package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/offbox/offbox/internal/recordkind"
)

// bootBody is the part of a BOOT body (collectors/boot Info) the rules
// read when an attr is missing: firmware_source is only in the body.
type bootBody struct {
	BootID          string `json:"boot_id"`
	FirmwareVersion string `json:"firmware_version"`
	FirmwareSource  string `json:"firmware_source"`
	Model           string `json:"model"`
	Pstore          struct {
		Panic     bool   `json:"panic"`      // a crash record of the previous boot says the kernel panicked
		CrashLine string `json:"crash_line"` // its most telling line ("Kernel panic - not syncing: ...", "BUG: ...")
		Records   []struct {
			Text string `json:"text"`
		} `json:"records"`
	} `json:"pstore"`
}

// crashDigest identifies the crash records a BOOT carries, "" when none.
// pstore keeps a record until something deletes it (systemd-pstore does,
// OpenWrt has nothing that does), so the records of one crash can come
// with several boots; their text, time stamps included, tells them apart.
func (b *bootBody) crashDigest() string {
	if len(b.Pstore.Records) == 0 {
		return ""
	}
	h := sha256.New()
	for _, r := range b.Pstore.Records {
		h.Write([]byte(strconv.Itoa(len(r.Text))))
		h.Write([]byte{0})
		h.Write([]byte(r.Text))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func readBoot(in *Input) bootBody {
	var b bootBody
	if len(in.Body) > 0 {
		_ = json.Unmarshal(in.Body, &b) // a body that is not JSON leaves the attrs to speak
	}
	pick := func(dst *string, key string) {
		if v, ok := in.Attrs[key]; ok {
			*dst = v
		}
	}
	pick(&b.BootID, "boot_id")
	pick(&b.FirmwareVersion, "firmware_version")
	pick(&b.FirmwareSource, "firmware_source")
	pick(&b.Model, "model")
	return b
}

// boot runs the reboot, firmware and agent-restart rules over a BOOT record.
// The first BOOT of a device is its baseline: nothing to compare it with.
func (e *Engine) boot(out []Alert, d *deviceState, in *Input) []Alert {
	b := readBoot(in)
	crash := b.crashDigest()
	at, seen, ref := in.at(), in.seen(), in.ref()
	base := func(kind, sev, key, summary string, fields map[string]string) Alert {
		fields["boot_id"], fields["model"] = b.BootID, b.Model
		return Alert{Kind: kind, Severity: sev, Device: in.Device, Key: key, Summary: summary, Fields: fields, Evidence: []Ref{ref}}
	}
	if d.haveBoot && b.BootID != "" {
		switch {
		case b.BootID != d.bootID:
			summary, fields := rebootSummary(b, crash != "" && crash == d.crashDigest)
			fields["previous_boot_id"] = d.bootID
			out = append(out, e.raiseOne(base(AlertDeviceReboot, SeverityInfo, b.BootID, summary, fields), at, seen, d.labels))
			out = e.rebootLoop(out, d, in, at)
		case in.SessionID == "" || d.restartReport != in.SessionID:
			// The agent writes one BOOT record when it starts: the same
			// boot id again is an agent restart without a reboot.
			out = append(out, e.raiseOne(base(AlertAgentRestart, SeverityWarning, b.BootID,
				"agent restarted without a reboot", map[string]string{}), at, seen, d.labels))
			d.restartReport = in.SessionID
		}
	}
	if d.haveBoot && b.FirmwareVersion != "" && d.firmware != "" && b.FirmwareVersion != d.firmware {
		f := map[string]string{"old_version": d.firmware, "new_version": b.FirmwareVersion,
			"old_source": d.fwSource, "firmware_source": b.FirmwareSource, "old_model": d.model}
		out = append(out, e.raiseOne(base(AlertFirmwareChanged, SeverityWarning, b.FirmwareVersion,
			"firmware changed from "+quote(d.firmware)+" to "+quote(b.FirmwareVersion), f), at, seen, d.labels))
		// Versions from different sources or models are different
		// sequences (collectors/boot): only compare like with like.
		if b.FirmwareSource == d.fwSource && b.Model == d.model && CompareVersions(b.FirmwareVersion, d.firmware) < 0 {
			out = append(out, e.raiseOne(base(AlertFirmwareDowngrade, SeverityCritical, b.FirmwareVersion,
				"firmware downgraded from "+quote(d.firmware)+" to "+quote(b.FirmwareVersion), copyFields(f)), at, seen, d.labels))
		}
	}
	if approved, ok := e.cfg.ApprovedFirmware[b.Model]; ok && !contains(approved, b.FirmwareVersion) {
		out = append(out, e.raiseOne(base(AlertFirmwareNotApproved, SeverityWarning, b.FirmwareVersion,
			"firmware "+quote(b.FirmwareVersion)+" is not approved for "+quote(b.Model),
			map[string]string{"version": b.FirmwareVersion, "firmware_source": b.FirmwareSource}), at, seen, d.labels))
	}
	if b.BootID != "" {
		d.haveBoot, d.bootID, d.crashDigest = true, b.BootID, crash
	}
	if b.FirmwareVersion != "" {
		d.haveBoot, d.firmware, d.fwSource, d.model = true, b.FirmwareVersion, b.FirmwareSource, b.Model
	}
	return out
}

// maxCrashLine bounds the crash line quoted into a reboot alert, in bytes.
// The device's agent already bounds it; the collector does not rely on that.
const maxCrashLine = 300

// rebootSummary says why the device rebooted when its BOOT record carries a
// crash record of the previous boot: "device rebooted after a kernel panic:
// <line>", with the line in the fields as crash_line and the crash kind
// ("kernel panic", "kernel crash" when no record says it panicked) as crash.
// Records the previous BOOT carried already (stale) are an older crash: the
// summary does not blame this reboot on them, the line is stale_crash_line.
func rebootSummary(b bootBody, stale bool) (string, map[string]string) {
	fields := map[string]string{}
	line := oneLine(b.Pstore.CrashLine, maxCrashLine)
	if stale {
		if line != "" {
			fields["stale_crash_line"] = line
		}
		return "device rebooted", fields
	}
	kind := "kernel crash"
	if b.Pstore.Panic {
		kind = "kernel panic"
	} else if line == "" {
		return "device rebooted", fields
	}
	fields["crash"] = kind
	if line == "" {
		return "device rebooted after a " + kind, fields
	}
	fields["crash_line"] = line
	return "device rebooted after a " + kind + ": " + line, fields
}

// oneLine makes device text fit one line of an alert: control characters
// become spaces, invalid UTF-8 U+FFFD, and it is cut to max bytes on a rune
// boundary.
func oneLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// rebootLoop counts a reboot and raises reboot_loop at RebootLoopCount
// reboots within RebootLoopWindow.
func (e *Engine) rebootLoop(out []Alert, d *deviceState, in *Input, at time.Time) []Alert {
	n := 0
	for n < len(d.reboots) && at.Sub(d.reboots[n]) > e.cfg.RebootLoopWindow {
		n++
	}
	d.reboots, d.rebootRefs = append(d.reboots[n:], at), append(d.rebootRefs[n:], in.ref())
	if limit := 2 * e.cfg.RebootLoopCount; len(d.reboots) > limit {
		d.reboots, d.rebootRefs = d.reboots[len(d.reboots)-limit:], d.rebootRefs[len(d.rebootRefs)-limit:]
	}
	if len(d.reboots) < e.cfg.RebootLoopCount {
		return out
	}
	a := Alert{Kind: AlertRebootLoop, Severity: SeverityCritical, Device: in.Device,
		Summary:  strconv.Itoa(len(d.reboots)) + " reboots within " + e.cfg.RebootLoopWindow.String(),
		Fields:   map[string]string{"reboots": strconv.Itoa(len(d.reboots))},
		Count:    len(d.reboots),
		First:    d.reboots[0],
		Evidence: append([]Ref(nil), d.rebootRefs...)}
	return append(out, e.raise(a, at, in.seen(), 1, []Ref{in.ref()}, d.labels))
}

// session raises agent_restart when the batch's agent session changes while
// the boot id stays the same.
func (e *Engine) session(out []Alert, d *deviceState, in *Input) []Alert {
	if in.SessionID == "" || in.SessionID == d.session {
		return out
	}
	boot := in.BootID
	if boot == "" && (in.Kind == recordkind.Heartbeat.String() || in.Kind == recordkind.Boot.String()) {
		boot = in.Attrs["boot_id"]
	}
	if d.session != "" && boot != "" && boot == d.sessionBoot {
		a := Alert{Kind: AlertAgentRestart, Severity: SeverityWarning, Device: in.Device, Key: boot,
			Summary:  "agent restarted without a reboot",
			Fields:   map[string]string{"boot_id": boot, "session_id": in.SessionID, "previous_session_id": d.session},
			Evidence: []Ref{in.ref()}}
		out = append(out, e.raiseOne(a, in.at(), in.seen(), d.labels))
		d.restartReport = in.SessionID
	}
	d.session, d.sessionBoot = in.SessionID, boot
	return out
}

func copyFields(f map[string]string) map[string]string {
	c := make(map[string]string, len(f))
	for k, v := range f {
		c[k] = v
	}
	return c
}
