package detect

import "time"

// interval is the device's heartbeat interval.
func (e *Engine) interval(device string) time.Duration {
	if iv, ok := e.cfg.HeartbeatIntervals[device]; ok && iv > 0 {
		return iv
	}
	return e.cfg.HeartbeatInterval
}

// heartbeat raises heartbeat_missing once a device has sent nothing for
// more than HeartbeatMisses intervals of the collector's clock. Any record
// counts as a sign of life, not only HEARTBEAT: the agent sends heartbeats
// whatever else it sends, so a device that sends anything is alive.
func (e *Engine) heartbeat(out []Alert, name string, d *deviceState, now time.Time) []Alert {
	limit := time.Duration(e.cfg.HeartbeatMisses) * e.interval(name)
	silent := now.Sub(d.lastSeen)
	if d.missing || silent <= limit {
		return out
	}
	d.missing = true
	return append(out, e.raiseOne(Alert{Kind: AlertHeartbeatMissing, Severity: SeverityWarning, Device: name,
		Summary: "nothing heard from the device for " + silent.Round(time.Second).String(),
		Fields: map[string]string{"last_seen": d.lastSeen.UTC().Format(time.RFC3339Nano),
			"silent_for": silent.String(), "limit": limit.String()}}, now, now, d.labels))
}

// resumed is heartbeat_resumed: the first record after heartbeat_missing.
func (e *Engine) resumed(d *deviceState, in *Input) Alert {
	d.missing = false
	silent := in.seen().Sub(d.lastSeen)
	return e.raiseOne(Alert{Kind: AlertHeartbeatResumed, Severity: SeverityInfo, Device: in.Device,
		Summary:  "device heard again after " + silent.Round(time.Second).String(),
		Fields:   map[string]string{"last_seen": d.lastSeen.UTC().Format(time.RFC3339Nano), "silent_for": silent.String()},
		Evidence: []Ref{in.ref()}}, in.seen(), in.seen(), d.labels)
}
