package detect

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/offbox/offbox/ingest/detect/authlog"
)

// configChange raises config_change for a CONFIG_CHANGE record
// (collectors/watch attrs path, change, old_sha256, new_sha256).
func (e *Engine) configChange(out []Alert, d *deviceState, in *Input) []Alert {
	p := in.Attrs["path"]
	f := map[string]string{"path": p, "change": in.Attrs["change"],
		"old_sha256": in.Attrs["old_sha256"], "new_sha256": in.Attrs["new_sha256"]}
	return append(out, e.raiseOne(Alert{Kind: AlertConfigChange, Severity: SeverityWarning, Device: in.Device, Key: p,
		Summary: "config file " + p + " " + orDefault(in.Attrs["change"], "changed"), Fields: f,
		Evidence: []Ref{in.ref()}}, in.at(), in.seen(), d.labels))
}

// passwordChange raises password_change for a PASSWORD_CHANGE record
// (attrs user, last_change, locked, no_password).
func (e *Engine) passwordChange(out []Alert, d *deviceState, in *Input) []Alert {
	f := map[string]string{"user": in.Attrs["user"], "last_change": in.Attrs["last_change"],
		"locked": in.Attrs["locked"], "no_password": in.Attrs["no_password"]}
	return append(out, e.raisePasswordChange(d, in, in.Attrs["user"], in.Attrs["no_password"] == "true", f))
}

func (e *Engine) raisePasswordChange(d *deviceState, in *Input, user string, noPassword bool, f map[string]string) Alert {
	sev, summary := SeverityWarning, "password of "+quote(user)+" changed"
	if noPassword {
		sev, summary = SeverityCritical, "password of "+quote(user)+" removed: login without a password"
	}
	return e.raiseOne(Alert{Kind: AlertPasswordChange, Severity: sev, Device: in.Device, Key: user,
		Summary: summary, Fields: f, Evidence: []Ref{in.ref()}}, in.at(), in.seen(), d.labels)
}

// accountChange raises account_added or account_removed for an
// ACCOUNT_CHANGE record (attrs action, user, uid, uid0, shell, home), and
// account_uid0 for a "changed" account whose uid became 0 (old_uid): an
// existing account given root's powers. Other changes raise nothing.
func (e *Engine) accountChange(out []Alert, d *deviceState, in *Input) []Alert {
	kind := ""
	switch in.Attrs["action"] {
	case "added":
		kind = AlertAccountAdded
	case "removed":
		kind = AlertAccountRemoved
	case "changed":
		if in.Attrs["uid"] != "0" || in.Attrs["old_uid"] == "" || in.Attrs["old_uid"] == "0" {
			return out
		}
		user := in.Attrs["user"]
		return append(out, e.raiseOne(Alert{Kind: AlertAccountUID0, Severity: SeverityCritical, Device: in.Device,
			Key: user, Summary: "account " + quote(user) + " given uid 0 (root), was uid " + in.Attrs["old_uid"],
			Fields:   map[string]string{"user": user, "uid": "0", "old_uid": in.Attrs["old_uid"], "shell": in.Attrs["shell"], "home": in.Attrs["home"]},
			Evidence: []Ref{in.ref()}}, in.at(), in.seen(), d.labels))
	default:
		return out
	}
	f := map[string]string{"user": in.Attrs["user"], "uid": in.Attrs["uid"], "gid": in.Attrs["gid"],
		"shell": in.Attrs["shell"], "home": in.Attrs["home"]}
	uid0 := kind == AlertAccountAdded && (in.Attrs["uid0"] == "true" || in.Attrs["uid"] == "0")
	return append(out, e.raiseAccount(d, in, kind, in.Attrs["user"], uid0, f))
}

func (e *Engine) raiseAccount(d *deviceState, in *Input, kind, user string, uid0 bool, f map[string]string) Alert {
	sev, summary := SeverityWarning, "account "+quote(user)+" removed"
	if kind == AlertAccountAdded {
		summary = "account " + quote(user) + " added"
		if uid0 {
			sev, summary = SeverityCritical, summary+" with uid 0 (root)"
		}
	}
	f["uid0"] = strconv.FormatBool(uid0)
	return e.raiseOne(Alert{Kind: kind, Severity: sev, Device: in.Device, Key: user, Summary: summary,
		Fields: f, Evidence: []Ref{in.ref()}}, in.at(), in.seen(), d.labels)
}

// passwordAgeEntry is one entry of a PASSWORD_AGE body (collectors/watch
// PasswordAge).
type passwordAgeEntry struct {
	User       string `json:"user"`
	AgeDays    *int64 `json:"age_days"`
	Locked     bool   `json:"locked"`
	NoPassword bool   `json:"no_password"`
	MustChange bool   `json:"must_change"`
}

// passwordAge replaces the device's password ages with those of a
// PASSWORD_AGE record and raises password_too_old for each usable password
// over the limit not already reported. The body lists every user; a body
// that does not decode falls back to the attrs oldest_user and oldest_days.
func (e *Engine) passwordAge(out []Alert, d *deviceState, in *Input) []Alert {
	var list []passwordAgeEntry
	if json.Unmarshal(in.Body, &list) != nil || len(list) == 0 {
		list = nil
		if days, err := strconv.ParseInt(in.Attrs["oldest_days"], 10, 64); err == nil && in.Attrs["oldest_user"] != "" {
			list = []passwordAgeEntry{{User: in.Attrs["oldest_user"], AgeDays: &days}}
		}
	}
	old := d.pwAges
	d.pwAges = map[string]*pwAge{}
	for _, u := range list {
		if u.AgeDays == nil || u.Locked || u.NoPassword || u.MustChange || u.User == "" {
			continue // no password in use, or no date to age
		}
		if len(d.pwAges) >= e.cfg.MaxUsersPerDevice {
			break
		}
		p := &pwAge{days: *u.AgeDays, seen: in.seen(), ref: in.ref()}
		if o := old[u.User]; o != nil {
			p.alerted = o.alerted
		}
		d.pwAges[u.User] = p
	}
	for user, p := range d.pwAges {
		out = e.checkAge(out, in.Device, d, user, p, p.days, in.at(), in.seen())
	}
	return out
}

// passwordAgeTick ages each kept password by the days since its report.
func (e *Engine) passwordAgeTick(out []Alert, device string, d *deviceState, now time.Time) []Alert {
	for user, p := range d.pwAges {
		days := p.days + int64(now.Sub(p.seen)/(24*time.Hour))
		out = e.checkAge(out, device, d, user, p, days, now, now)
	}
	return out
}

func (e *Engine) checkAge(out []Alert, device string, d *deviceState, user string, p *pwAge, days int64, at, seen time.Time) []Alert {
	if days <= int64(e.cfg.PasswordMaxAgeDays) {
		p.alerted = false
		return out
	}
	if p.alerted {
		return out
	}
	p.alerted = true
	return append(out, e.raiseOne(Alert{Kind: AlertPasswordTooOld, Severity: SeverityWarning, Device: device, Key: user,
		Summary: "password of " + quote(user) + " is " + strconv.FormatInt(days, 10) + " days old",
		Fields: map[string]string{"user": user, "age_days": strconv.FormatInt(days, 10),
			"max_age_days": strconv.Itoa(e.cfg.PasswordMaxAgeDays)},
		Evidence: []Ref{p.ref}}, at, seen, d.labels))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// applianceConfigChange raises config_change for an administrator's change
// read from a log line (an appliance's, or one tailed on an agent host):
// Key is the configuration path the line names, else "running-config",
// and the alert names who made the change and from where.
func (e *Engine) applianceConfigChange(d *deviceState, in *Input, ev authlog.Event, f map[string]string) Alert {
	p := orDefault(ev.Path, "running-config")
	f["path"], f["change"] = p, "modified"
	summary := "configuration " + p + " changed by " + quote(ev.User) + from(ev.Source) + " (" + ev.Program + ")"
	return e.raiseOne(Alert{Kind: AlertConfigChange, Severity: SeverityWarning, Device: in.Device, Key: p,
		Summary: summary, Fields: f, Evidence: []Ref{in.ref()}}, in.at(), in.seen(), d.labels)
}
