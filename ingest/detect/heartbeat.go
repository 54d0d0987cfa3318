package detect

import "time"

// interval is the device's heartbeat interval (see Config.HeartbeatInterval).
func (e *Engine) interval(device string, d *deviceState) time.Duration {
	if e.cfg.IntervalOf != nil {
		if iv := e.cfg.IntervalOf(device); iv > 0 {
			return iv
		}
	}
	if d.interval > 0 {
		return d.interval
	}
	return e.cfg.HeartbeatInterval
}

// learnInterval keeps the interval a HEARTBEAT record reports in its
// heartbeat_interval attribute (a Go duration). A value that does not
// parse, or is under a second or over a day, is ignored.
func learnInterval(d *deviceState, in *Input) {
	v, ok := in.Attrs["heartbeat_interval"]
	if !ok {
		return
	}
	if iv, err := time.ParseDuration(v); err == nil && iv >= time.Second && iv <= 24*time.Hour {
		d.interval = iv
	}
}

// heartbeat raises heartbeat_missing once a device has sent nothing for
// more than HeartbeatMisses + ½ intervals of the collector's clock. Any record
// counts as a sign of life, not only HEARTBEAT: the agent sends heartbeats
// whatever else it sends, so a device that sends anything is alive.
func (e *Engine) heartbeat(out []Alert, name string, d *deviceState, now time.Time) []Alert {
	iv := e.interval(name, d)
	limit := time.Duration(e.cfg.HeartbeatMisses)*iv + iv/2
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
