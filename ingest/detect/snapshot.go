package detect

import (
	"encoding/json"
	"fmt"
	"time"
)

// baseline is the part of a device's state that a collector restart must
// not forget: what the reboot, firmware, agent-restart, timestamp,
// password-age and liveness rules compare against. Failure windows and
// open groups are left out: they last minutes, and begin empty again.
// When the device was last heard is not in it either (it changes with every
// record); the caller passes it to Restore from the store.
type baseline struct {
	Missing       bool                   `json:"missing,omitempty"`
	Interval      time.Duration          `json:"interval,omitempty"`
	HaveBoot      bool                   `json:"have_boot,omitempty"`
	BootID        string                 `json:"boot_id,omitempty"`
	Firmware      string                 `json:"firmware,omitempty"`
	FwSource      string                 `json:"firmware_source,omitempty"`
	Model         string                 `json:"model,omitempty"`
	CrashDigest   string                 `json:"crash_digest,omitempty"`
	Reboots       []time.Time            `json:"reboots,omitempty"`
	RebootRefs    []Ref                  `json:"reboot_refs,omitempty"`
	Session       string                 `json:"session,omitempty"`
	SessionBoot   string                 `json:"session_boot,omitempty"`
	RestartReport string                 `json:"restart_report,omitempty"`
	HaveOffset    bool                   `json:"have_offset,omitempty"`
	Offset        time.Duration          `json:"offset,omitempty"`
	PwAges        map[string]pwAgeRecord `json:"password_ages,omitempty"`
	LineFirmware  *lineFirmware          `json:"line_firmware,omitempty"`
	Sources       map[string]quietRecord `json:"sources,omitempty"` // source_quiet (quiet.go), coarsened
	Back          time.Time              `json:"back,omitzero"`
}

type pwAgeRecord struct {
	Days    int64     `json:"days"`
	Seen    time.Time `json:"seen"`
	Ref     Ref       `json:"ref"`
	Alerted bool      `json:"alerted,omitempty"`
}

// Snapshot returns the device's baseline as JSON, or ok false for a device
// the engine does not know. The same baseline always gives the same bytes,
// so a caller can save only the snapshots that changed.
func (e *Engine) Snapshot(device string) (b []byte, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devices[device]
	if d == nil {
		return nil, false
	}
	s := baseline{Missing: d.missing, Interval: d.interval, HaveBoot: d.haveBoot, BootID: d.bootID,
		Firmware: d.firmware, FwSource: d.fwSource, Model: d.model, CrashDigest: d.crashDigest, Reboots: d.reboots, RebootRefs: d.rebootRefs,
		Session: d.session, SessionBoot: d.sessionBoot, RestartReport: d.restartReport,
		HaveOffset: d.haveOffset, Offset: d.offset, LineFirmware: d.lineFW,
		Sources: e.quietSnapshot(d), Back: d.back.Truncate(e.quietGrain())}
	if len(d.pwAges) > 0 {
		s.PwAges = make(map[string]pwAgeRecord, len(d.pwAges))
		for u, p := range d.pwAges {
			s.PwAges[u] = pwAgeRecord{Days: p.days, Seen: p.seen, Ref: p.ref, Alerted: p.alerted}
		}
	}
	b, err := json.Marshal(s) // maps marshal in key order
	if err != nil {
		panic(err) // only plain values above: cannot fail
	}
	return b, true
}

// Restore sets a device's baseline from a Snapshot, with lastSeen the
// collector-clock time it was last heard (a zero lastSeen: now is not
// known, the device counts as heard at its next record). Labels come with
// the next record. It replaces whatever the engine held for the device.
func (e *Engine) Restore(device string, snapshot []byte, lastSeen time.Time) error {
	var s baseline
	if len(snapshot) > 0 {
		if err := json.Unmarshal(snapshot, &s); err != nil {
			return fmt.Errorf("detect: device %q baseline: %w", device, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old := e.devices[device]; old != nil {
		e.forgetSources(old)
	}
	delete(e.devices, device)
	d := e.device(device, lastSeen)
	d.missing, d.interval = s.Missing, s.Interval
	d.haveBoot, d.bootID, d.firmware, d.fwSource, d.model = s.HaveBoot, s.BootID, s.Firmware, s.FwSource, s.Model
	d.crashDigest = s.CrashDigest
	d.reboots, d.rebootRefs = s.Reboots, s.RebootRefs
	d.session, d.sessionBoot, d.restartReport = s.Session, s.SessionBoot, s.RestartReport
	d.haveOffset, d.offset = s.HaveOffset, s.Offset
	d.lineFW = s.LineFirmware
	e.quietRestore(d, s.Sources, s.Back)
	d.pwAges = make(map[string]*pwAge, len(s.PwAges))
	for u, p := range s.PwAges {
		d.pwAges[u] = &pwAge{days: p.Days, seen: p.Seen, ref: p.Ref, alerted: p.Alerted}
	}
	return nil
}
