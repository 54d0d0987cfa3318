package detect

import (
	"strings"

	"github.com/offbox/offbox/ingest/detect/authlog"
)

// lineFirmware is the firmware an appliance's own restart line last named
// (authlog.Restart). It is kept apart from the BOOT record's firmware: an
// agent host that tails the syslog of other boxes must not see its own
// firmware "change" to a router's, and versions are only compared within
// one vendor and model (as collectors/boot's are within one source).
type lineFirmware struct {
	Version string `json:"version"`
	Source  string `json:"source"` // "syslog:ios", "syslog:junos", "syslog:fortios", "syslog:pan-os"
	Model   string `json:"model,omitempty"`
}

// restartVendor names the vendor of a restart event, from its program.
func restartVendor(ev authlog.Event) string {
	if strings.Contains(ev.Program, "RESTART") {
		return "ios"
	}
	return ev.Program // junos, fortios, pan-os
}

// lineRestart runs the reboot and firmware rules over a log line saying
// the device came up: device_reboot (and reboot_loop) whatever it names;
// with a version, firmware_changed and firmware_downgrade against the
// version the last restart line of the same vendor and model named, and
// firmware_not_approved against Config.ApprovedFirmware, looked up by the
// model the line names (an IOS image such as C2900-UNIVERSALK9-M, a
// FortiGate model such as FGT60F) or, when it names none, by the vendor
// (junos, pan-os). A line is its own evidence that the device restarted,
// so the first one heard raises device_reboot too: an appliance has no
// boot id to compare.
func (e *Engine) lineRestart(out []Alert, d *deviceState, in *Input, ev authlog.Event, fields map[string]string) []Alert {
	at, seen, ref := in.at(), in.seen(), in.ref()
	vendor := restartVendor(ev)
	fw := lineFirmware{Version: ev.Version, Source: "syslog:" + vendor, Model: ev.Model}
	model := orDefault(fw.Model, vendor)
	delete(fields, "user")
	delete(fields, "source")
	delete(fields, "method")
	fields["version"], fields["model"], fields["firmware_source"] = fw.Version, model, fw.Source
	base := func(kind, sev, key, summary string, f map[string]string) Alert {
		return Alert{Kind: kind, Severity: sev, Device: in.Device, Key: key, Summary: summary, Fields: f, Evidence: []Ref{ref}}
	}
	summary := "device restarted (" + vendor + ")"
	if fw.Version != "" {
		summary = "device restarted running " + quote(fw.Version) + " (" + vendor + ")"
	}
	out = append(out, e.raiseOne(base(AlertDeviceReboot, SeverityInfo, "restart:"+orDefault(fw.Version, vendor), summary, fields), at, seen, d.labels))
	out = e.rebootLoop(out, d, in, at)
	if fw.Version == "" {
		return out
	}
	if old := d.lineFW; old != nil && old.Source == fw.Source && old.Model == fw.Model && old.Version != fw.Version {
		f := map[string]string{"old_version": old.Version, "new_version": fw.Version, "old_source": old.Source,
			"firmware_source": fw.Source, "old_model": model, "model": model}
		out = append(out, e.raiseOne(base(AlertFirmwareChanged, SeverityWarning, fw.Version,
			"firmware changed from "+quote(old.Version)+" to "+quote(fw.Version), f), at, seen, d.labels))
		if CompareVersions(fw.Version, old.Version) < 0 {
			out = append(out, e.raiseOne(base(AlertFirmwareDowngrade, SeverityCritical, fw.Version,
				"firmware downgraded from "+quote(old.Version)+" to "+quote(fw.Version), copyFields(f)), at, seen, d.labels))
		}
	}
	if approved, ok := e.cfg.ApprovedFirmware[model]; ok && !contains(approved, fw.Version) {
		out = append(out, e.raiseOne(base(AlertFirmwareNotApproved, SeverityWarning, fw.Version,
			"firmware "+quote(fw.Version)+" is not approved for "+quote(model),
			map[string]string{"version": fw.Version, "firmware_source": fw.Source, "model": model}), at, seen, d.labels))
	}
	d.lineFW = &fw
	return out
}
