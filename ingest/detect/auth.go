package detect

import (
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/detect/authlog"
)

// authLine runs the authentication rules over one log line.
func (e *Engine) authLine(out []Alert, d *deviceState, in *Input) []Alert {
	ev, ok := authlog.ParseAll(in.Body, in.at())
	if !ok {
		return out
	}
	return e.authEvent(out, d, in, ev)
}

// authEvent applies one parsed event. Windows and working hours use the
// record's time, not ev.Time (see the package doc); ev.Time is kept in
// Fields["line_time"].
func (e *Engine) authEvent(out []Alert, d *deviceState, in *Input, ev authlog.Event) []Alert {
	at, seen := in.at(), in.seen()
	who := "user=" + ev.User + " source=" + ev.Source
	switch ev.Kind {
	case authlog.AuthFailure:
		a := Alert{Device: in.Device, Key: who, Evidence: []Ref{in.ref()},
			Kind: AlertAuthFailure, Severity: SeverityInfo, Count: ev.Count}
		out = append(out, e.raiseLazy(a, &authText{ev: ev}, at, seen, ev.Count, a.Evidence, d.labels))
		return e.failure(out, d, in, ev)
	case authlog.AuthSuccess:
		a := Alert{Device: in.Device, Key: who, Evidence: []Ref{in.ref()}, Kind: AlertAuthSuccess, Severity: SeverityInfo}
		off := !e.workingHours(at)
		if off {
			a.Severity = SeverityWarning
		}
		out = append(out, e.raiseLazy(a, &authText{ev: ev, success: true, off: off}, at, seen, ev.Count, a.Evidence, d.labels))
		return e.successAfter(out, d, in, ev)
	}
	fields := authFields(ev)
	switch ev.Kind {
	case authlog.PasswordChange:
		return append(out, e.raisePasswordChange(d, in, ev.User, false, fields))
	case authlog.AccountAdded:
		fields["uid"] = ev.UID
		return append(out, e.raiseAccount(d, in, AlertAccountAdded, ev.User, ev.UID == "0", fields))
	case authlog.AccountRemoved:
		return append(out, e.raiseAccount(d, in, AlertAccountRemoved, ev.User, false, fields))
	case authlog.ConfigChange:
		return append(out, e.applianceConfigChange(d, in, ev, fields))
	case authlog.Restart:
		return e.lineRestart(out, d, in, ev, fields)
	}
	return out
}

// authFields is the Fields of an alert raised by an auth event.
func authFields(ev authlog.Event) map[string]string {
	fields := map[string]string{"user": ev.User, "source": ev.Source, "method": ev.Method,
		"program": ev.Program, "count": strconv.Itoa(ev.Count)}
	if !ev.Time.IsZero() {
		fields["line_time"] = ev.Time.UTC().Format(time.RFC3339)
	}
	return fields
}

// authText is the Summary and Fields of an auth_failure or auth_success
// occurrence, built only if it is the one its group keeps (see
// raiseLazy): most occurrences of a busy group are overwritten by the next.
type authText struct {
	ev           authlog.Event
	success, off bool
}

func (t *authText) fill(a *Alert) {
	ev := t.ev
	a.Fields = authFields(ev)
	if !t.success {
		a.Summary = "authentication failed for " + quote(ev.User) + from(ev.Source) + " (" + ev.Method + ")"
		return
	}
	a.Summary = "authentication succeeded for " + quote(ev.User) + from(ev.Source) + " (" + ev.Method + ")"
	a.Fields["off_hours"] = strconv.FormatBool(t.off)
	if t.off {
		a.Summary += " outside working hours"
	}
}

// bruteText is a brute_force occurrence's Summary and Fields (raiseLazy),
// from values taken when it happened. entries is the failure window as it
// was then: a window never changes an entry in place, it appends past its
// end and drops from its front by reslicing (failWindow.add), so the
// slice keeps showing what the occurrence saw.
type bruteText struct {
	key, source, user string
	entries           []failEntry
	failures, sources int // sources: for the device-wide alert
	window            time.Duration
}

func (t *bruteText) fill(a *Alert) {
	failures := strconv.Itoa(t.failures)
	if t.key != "device" {
		a.Summary = failures + " authentication failures " + keyPhrase(t.key) + " within " + t.window.String()
		a.Fields = map[string]string{"source": t.source, "user": t.user, "users": users(t.entries),
			"failures": failures, "scope": "source"}
		return
	}
	sources := strconv.Itoa(t.sources)
	a.Summary = failures + " authentication failures against the device from " + sources + " sources within " + t.window.String()
	a.Fields = map[string]string{"source": t.source, "user": t.user, "users": users(t.entries),
		"failures": failures, "sources": sources, "scope": "device"}
}

// sourceKey is what failures and successes are correlated by: the remote
// address, or the user for local attempts (su, sudo, console).
func sourceKey(ev authlog.Event) string {
	if ev.Source != "" {
		return "source=" + ev.Source
	}
	if ev.User != "" {
		return "user=" + ev.User
	}
	return ""
}

// failure counts a failure into its source's window and the device's, and
// raises brute_force when either reaches the threshold. The device-wide
// alert is raised only for failures their own source's window does not
// already account for, so one noisy address raises one alert, not two.
func (e *Engine) failure(out []Alert, d *deviceState, in *Input, ev authlog.Event) []Alert {
	at, seen := in.at(), in.seen()
	limit := max(2*e.cfg.BruteForceThreshold, 64)
	k := sourceKey(ev)
	f := failEntry{at: at, n: ev.Count, key: k, user: ev.User, ref: in.ref()}
	bySource := 0
	if k != "" {
		w := d.fails[k]
		if w == nil {
			if len(d.fails) >= e.cfg.MaxSourcesPerDevice {
				keep := e.cfg.MaxSourcesPerDevice - e.cfg.MaxSourcesPerDevice/8 - 1
				e.stats.EvictedWindows += evictOldest(d.fails, func(w *failWindow) time.Time { return w.touched }, keep)
			}
			w = &failWindow{}
			d.fails[k] = w
		}
		w.add(f, e.cfg.BruteForceWindow, limit, seen)
		bySource = w.total()
		if bySource >= e.cfg.BruteForceThreshold {
			var ev0 []Ref // the whole window's, only for a new alert
			if !e.isOpen(AlertBruteForce, in.Device, k, at, seen) {
				ev0 = w.refs()
			}
			a := Alert{Kind: AlertBruteForce, Severity: SeverityWarning, Device: in.Device, Key: k,
				Count: bySource, Evidence: ev0, First: w.entries[0].at}
			text := &bruteText{key: k, source: ev.Source, user: ev.User, entries: w.entries, failures: bySource,
				window: e.cfg.BruteForceWindow}
			out = append(out, e.raiseLazy(a, text, at, seen, ev.Count, []Ref{in.ref()}, d.labels))
		}
	}
	d.all.add(f, e.cfg.BruteForceWindow, limit, seen)
	if total := d.all.total(); total >= e.cfg.BruteForceThreshold && bySource < e.cfg.BruteForceThreshold {
		var ev0 []Ref
		if !e.isOpen(AlertBruteForce, in.Device, "device", at, seen) {
			ev0 = d.all.refs()
		}
		a := Alert{Kind: AlertBruteForce, Severity: SeverityWarning, Device: in.Device, Key: "device",
			Count: total, Evidence: ev0, First: d.all.entries[0].at}
		text := &bruteText{key: "device", source: ev.Source, user: ev.User, entries: d.all.entries, failures: total,
			sources: d.all.distinct(), window: e.cfg.BruteForceWindow}
		out = append(out, e.raiseLazy(a, text, at, seen, ev.Count, []Ref{in.ref()}, d.labels))
	}
	return out
}

// successAfter raises success_after_failures when the source of a success
// failed within the window, and forgets those failures.
func (e *Engine) successAfter(out []Alert, d *deviceState, in *Input, ev authlog.Event) []Alert {
	k := sourceKey(ev)
	w := d.fails[k]
	if k == "" || w == nil {
		return out
	}
	at := in.at()
	w.expire(at, e.cfg.BruteForceWindow)
	n := w.total()
	delete(d.fails, k)
	if n == 0 {
		return out
	}
	sev := SeverityWarning
	if n >= e.cfg.BruteForceThreshold {
		sev = SeverityCritical
	}
	a := Alert{Kind: AlertSuccessAfterFailures, Severity: sev, Device: in.Device, Key: k,
		Evidence: append(w.refs(), in.ref()),
		Summary:  "authentication succeeded for " + quote(ev.User) + " " + keyPhrase(k) + " after " + strconv.Itoa(n) + " failures",
		Fields: map[string]string{"user": ev.User, "source": ev.Source, "method": ev.Method,
			"failures": strconv.Itoa(n), "failed_users": users(w.entries)}}
	return append(out, e.raiseOne(a, at, in.seen(), d.labels))
}

// workingHours reports whether t falls in the configured working window.
func (e *Engine) workingHours(t time.Time) bool {
	t = t.In(e.cfg.Location)
	found := false
	for _, wd := range e.cfg.WorkDays {
		if t.Weekday() == wd {
			found = true
		}
	}
	if !found {
		return false
	}
	y, m, dd := t.Date()
	tod := t.Sub(time.Date(y, m, dd, 0, 0, 0, 0, e.cfg.Location))
	if e.cfg.WorkStart <= e.cfg.WorkEnd {
		return tod >= e.cfg.WorkStart && tod < e.cfg.WorkEnd
	}
	return tod >= e.cfg.WorkStart || tod < e.cfg.WorkEnd // a window across midnight
}

const maxListed = 10 // users named in a Fields list

func users(fs []failEntry) string {
	var list []string
	for _, f := range fs {
		if f.user != "" && !contains(list, f.user) {
			if len(list) == maxListed {
				list = append(list, "...")
				break
			}
			list = append(list, f.user)
		}
	}
	return strings.Join(list, ",")
}

func distinctKeys(fs []failEntry) int {
	seen := make(map[string]struct{}, len(fs))
	for _, f := range fs {
		seen[f.key] = struct{}{}
	}
	return len(seen)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quote(s string) string { return strconv.Quote(s) }

func from(source string) string {
	if source == "" {
		return ""
	}
	return " from " + source
}

func keyPhrase(k string) string {
	if v, ok := strings.CutPrefix(k, "source="); ok {
		return "from " + v
	}
	if v, ok := strings.CutPrefix(k, "user="); ok {
		return "by local user " + strconv.Quote(v)
	}
	return k
}
