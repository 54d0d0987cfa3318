package detect

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// clock runs the NTP rules over a CLOCK record (collectors/clock attrs:
// offset_ns, error_bound_ns, falsetickers, unreachable, refused,
// no_majority) and keeps the offset for the timestamp rule.
func (e *Engine) clock(out []Alert, d *deviceState, in *Input) []Alert {
	at, seen, ref := in.at(), in.seen(), in.ref()
	noMajority := in.Attrs["no_majority"] == "true"
	ns, err := strconv.ParseInt(in.Attrs["offset_ns"], 10, 64)
	haveOffset := err == nil
	if haveOffset {
		d.haveOffset, d.offset = true, time.Duration(ns)
	}
	abs := time.Duration(ns)
	if abs < 0 {
		abs = -abs // MinInt64 stays negative and is then below every threshold: not a real offset
	}
	sev := ""
	switch {
	case haveOffset && abs >= e.cfg.ClockOffsetCritical:
		sev = SeverityCritical
	case haveOffset && abs >= e.cfg.ClockOffsetWarning, noMajority:
		sev = SeverityWarning
	}
	if sev != "" {
		f := map[string]string{"no_majority": strconv.FormatBool(noMajority),
			"error_bound_ns": in.Attrs["error_bound_ns"]}
		summary := "NTP servers disagree: no majority"
		if haveOffset {
			f["offset_ns"] = strconv.FormatInt(ns, 10)
			summary = "device clock is off by " + time.Duration(ns).String()
			if noMajority {
				summary += " (NTP servers disagree: no majority)"
			}
		}
		out = append(out, e.raiseOne(Alert{Kind: AlertClockOffset, Severity: sev, Device: in.Device,
			Summary: summary, Fields: f, Evidence: []Ref{ref}}, at, seen, d.labels))
	}
	for _, s := range splitList(in.Attrs["falsetickers"]) {
		out = append(out, e.raiseOne(Alert{Kind: AlertNTPFalseticker, Severity: SeverityWarning, Device: in.Device,
			Key: s, Summary: "NTP server " + s + " is a falseticker", Fields: map[string]string{"server": s},
			Evidence: []Ref{ref}}, at, seen, d.labels))
	}
	for _, reason := range []string{"unreachable", "refused"} {
		for _, s := range splitList(in.Attrs[reason]) {
			out = append(out, e.raiseOne(Alert{Kind: AlertNTPUnreachable, Severity: SeverityWarning, Device: in.Device,
				Key: s, Summary: "NTP server " + s + " is " + reason,
				Fields:   map[string]string{"server": s, "reason": reason},
				Evidence: []Ref{ref}}, at, seen, d.labels))
		}
	}
	return out
}

const maxListItems = 64 // servers read from one list attr

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" && len(out) < maxListItems {
			out = append(out, x)
		}
	}
	return out
}

// timestamp raises timestamp_mismatch when a record arrived much earlier or
// later than its device time says. The device's latest CLOCK offset (true
// minus local) separates the causes: if DeviceTime+offset is within the
// skew of ReceivedTime, the device clock is wrong ("device_clock");
// otherwise the record waited ("delivery_delay"). Only a record that is
// late by a plausible delay can have waited: one stamped in the future
// (after the offset is applied), at or before the Unix epoch (zero or
// negative time_ns), or older than Config.MaxDeliveryDelay on arrival says
// its device's clock is wrong, whatever the offset the device reports.
// A device_clock mismatch is a warning, critical from
// Config.TimestampCritical on: a clock set decades away is how a device
// would hide its records from "the last hour".
func (e *Engine) timestamp(out []Alert, d *deviceState, in *Input) []Alert {
	if in.ReceivedTime.IsZero() {
		return out
	}
	var skew time.Duration
	noTime := !in.DeviceTime.After(unixEpoch)
	if !noTime {
		skew = in.ReceivedTime.Sub(in.DeviceTime)
		if skew <= e.cfg.TimestampSkew && skew >= -e.cfg.TimestampSkew {
			return out // the common case: nothing is built for it
		}
	}
	f := map[string]string{"received_time": in.ReceivedTime.UTC().Format(time.RFC3339Nano),
		"clock_known": strconv.FormatBool(d.haveOffset)}
	if noTime {
		// time_ns 0 (DeviceTime zero) or negative: no clock that has ever
		// been set says this.
		f["device_time"] = "none"
		if !in.DeviceTime.IsZero() {
			f["device_time"] = in.DeviceTime.UTC().Format(time.RFC3339Nano)
		}
		skew = in.ReceivedTime.Sub(unixEpoch)
		if !in.DeviceTime.IsZero() {
			skew = in.ReceivedTime.Sub(in.DeviceTime)
		}
	} else {
		f["device_time"] = in.DeviceTime.UTC().Format(time.RFC3339Nano)
	}
	f["skew"] = skew.String()
	cause, delay := "device_clock", skew
	if d.haveOffset {
		f["offset"] = d.offset.String()
		delay = in.ReceivedTime.Sub(in.DeviceTime.Add(d.offset))
	}
	explained := d.haveOffset && delay <= e.cfg.TimestampSkew && delay >= -e.cfg.TimestampSkew
	if !noTime && !explained && delay > 0 && delay <= e.cfg.MaxDeliveryDelay {
		cause = "delivery_delay"
	}
	f["cause"] = cause
	if cause == "delivery_delay" {
		f["delay"] = delay.String()
		return append(out, e.raiseOne(Alert{Kind: AlertTimestampMismatch, Severity: SeverityInfo, Device: in.Device,
			Key: cause, Summary: "records delivered " + delay.String() + " late", Fields: f,
			Evidence: []Ref{in.ref()}}, in.at(), in.seen(), d.labels))
	}
	sev := SeverityWarning
	if noTime || absDuration(skew) >= e.cfg.TimestampCritical {
		sev = SeverityCritical
	}
	summary := "device clock differs from the collector's by " + (-skew).String()
	if noTime {
		summary = "record has no usable device time (" + f["device_time"] + ")"
	} else if skew == math.MinInt64 {
		summary = "device clock is more than " + time.Duration(math.MaxInt64).String() + " ahead of the collector's"
	}
	return append(out, e.raiseOne(Alert{Kind: AlertTimestampMismatch, Severity: sev, Device: in.Device, Key: cause,
		Summary: summary, Fields: f, Evidence: []Ref{in.ref()}}, in.at(), in.seen(), d.labels))
}

// unixEpoch is the Unix epoch; a device time at or before it is no time.
var unixEpoch = time.Unix(0, 0)

// absDuration is |d|; the most negative duration, which has no positive
// counterpart, is taken as the largest.
func absDuration(d time.Duration) time.Duration {
	switch {
	case d == math.MinInt64:
		return math.MaxInt64
	case d < 0:
		return -d
	}
	return d
}
