package detect

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/offbox/offbox/internal/recordkind"
)

// bootBody is the part of a BOOT body (collectors/boot Info) the rules
// read when an attr is missing: firmware_source is only in the body.
type bootBody struct {
	BootID          string `json:"boot_id"`
	FirmwareVersion string `json:"firmware_version"`
	FirmwareSource  string `json:"firmware_source"`
	Model           string `json:"model"`
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
	at, seen, ref := in.at(), in.seen(), in.ref()
	base := func(kind, sev, key, summary string, fields map[string]string) Alert {
		fields["boot_id"], fields["model"] = b.BootID, b.Model
		return Alert{Kind: kind, Severity: sev, Device: in.Device, Key: key, Summary: summary, Fields: fields, Evidence: []Ref{ref}}
	}
	if d.haveBoot && b.BootID != "" {
		switch {
		case b.BootID != d.bootID:
			out = append(out, e.raiseOne(base(AlertDeviceReboot, SeverityInfo, b.BootID, "device rebooted",
				map[string]string{"previous_boot_id": d.bootID}), at, seen, d.labels))
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
		d.haveBoot, d.bootID = true, b.BootID
	}
	if b.FirmwareVersion != "" {
		d.haveBoot, d.firmware, d.fwSource, d.model = true, b.FirmwareVersion, b.FirmwareSource, b.Model
	}
	return out
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
