// Package authlog turns one log line into at most one authentication or
// account event: who (User), from where (Source), how (Method), how many
// times (Count) and when (Time). It understands the RFC 3164, RFC 5424,
// rsyslog ISO-timestamp and OpenWrt logread headers and the messages of
// OpenSSH, dropbear, sudo, su, login, PAM, shadow-utils, auditd, Cisco IOS,
// Junos, MikroTik RouterOS, FortiOS, OpenWrt LuCI and FreeRADIUS, and the
// login lines of appliances that cannot run the agent (Cisco ASA and NX-OS,
// Huawei VRP, PAN-OS, pfSense and OPNsense, SonicWall; see appliance.go).
// ParseAll also reports their administrators' configuration changes and
// their restarts with the firmware they came up with (restart.go). It is a
// pure parser, bytes in and events out: it never does I/O, never reads the
// clock (the caller passes the reference time) and never keeps state between
// lines, so each line is judged alone.
//
// One attempt often leaves several lines, and each line that reports a
// failure is an event of its own: sshd writes "Failed password" per attempt,
// but also a pam_unix line for the first failure of a connection, "PAM N
// more authentication failures" (Count N) and "maximum authentication
// attempts exceeded" or "Connection closed by authenticating user" when it
// ends. For sshd, events whose Method names an SSH method (password,
// publickey, keyboard-interactive, ...) are one per attempt; Method "ssh" and
// "pam" events echo or summarise attempts, and are the only trace of some
// (publickey-only scanners, invalid users). Rules that count attempts should
// keep that in mind rather than sum every Count.
//
// Lines that only report sessions (pam_unix session opened/closed,
// "Disconnected from user", "Received disconnect", a preauth close without a
// user) are not authentication events, nor are dropbear's "Exit before auth"
// summaries, which repeat the per-attempt lines before them.
package authlog

import (
	"bytes"
	"strings"
	"time"
	"unicode"
	"unsafe"
)

// Kind says what happened.
type Kind string

// The kinds of event Parse returns.
const (
	AuthFailure    Kind = "auth_failure"    // a login, sudo, su or admin login attempt was refused
	AuthSuccess    Kind = "auth_success"    // an attempt was accepted (for sudo: a command was run)
	PasswordChange Kind = "password_change" // a local account's password was changed
	AccountAdded   Kind = "account_added"   // a local account was created (see Event.UID)
	AccountRemoved Kind = "account_removed" // a local account was deleted
	AccountChanged Kind = "account_changed" // shell, home, uid, name, lock, expiry or group membership changed
	ConfigChange   Kind = "config_change"   // an appliance's configuration was changed or committed; only ParseAll returns it
	Restart        Kind = "restart"         // an appliance came up (see Event.Version); only ParseAll returns it
)

// The methods Parse reports. A line that names its SSH method keeps the
// method's own name (password, publickey, keyboard-interactive, hostbased,
// gssapi-with-mic, none); a line that names no method gets the channel it
// came through. Account and password-change events have no method ("").
const (
	MethodPassword    = "password"
	MethodPublickey   = "publickey"
	MethodKbdInteract = "keyboard-interactive"
	MethodSSH         = "ssh"     // an SSH login whose line does not name the method
	MethodPAM         = "pam"     // a PAM module or audit USER_AUTH record
	MethodSudo        = "sudo"    // sudo's own log line
	MethodSu          = "su"      // su's own log line
	MethodLogin       = "login"   // login(1), Junos CLI, a Cisco line on another port
	MethodTelnet      = "telnet"  // Cisco port 23, RouterOS telnet
	MethodWeb         = "web"     // LuCI, FortiOS https/http, Cisco port 80/443, RouterOS web
	MethodConsole     = "console" // FortiOS console
	MethodRADIUS      = "radius"  // FreeRADIUS
	MethodVPN         = "vpn"     // FortiOS SSL VPN
	MethodAAA         = "aaa"     // Cisco ASA AAA authentication (VPN, cut-through proxy or management)
	// RouterOS keeps its own channel names: winbox, api, api-ssl, ftp, ssh, telnet, web.
)

// Event is one authentication or account event read from one line.
type Event struct {
	Kind    Kind
	User    string    // the account acted on; for sudo and su the invoking user; "" when the line names none
	Source  string    // remote address (IP or host) when the line names one, else ""
	Method  string    // see the Method constants
	Count   int       // 1, or N for "message repeated N times", "N incorrect password attempts", "PAM N more"
	Program string    // sshd, dropbear, sudo, su, login, passwd, useradd, ...; Cisco: the %FACILITY-SEV-MNEMONIC without '%'; routeros, fortios, radiusd
	Time    time.Time // from the header or the message; zero if the line has none
	UID     string    // for account_added, the new account's numeric uid as logged ("0" is root); else ""
	Path    string    // for config_change, the configuration path the line names (PAN-OS, FortiOS); else ""
	Version string    // for restart, the firmware version the device came up with, "" when the line names none
	Model   string    // for restart, the model or image the line names (IOS image, FortiGate model); else ""
}

// Parse reads one line and returns the event it reports. ok is false for
// lines that are not authentication or account events. ref supplies the
// year (and location) of year-less RFC 3164 and logread stamps: pass the
// time the line was received. A stamp that would fall more than 7 days after
// ref is taken to be from the year before (December lines read in January).
func Parse(line []byte, ref time.Time) (Event, bool) {
	return parse(line, ref, false)
}

// ParseAll is Parse that also returns ConfigChange events: an appliance
// administrator's configuration change or commit (Cisco IOS
// %SYS-5-CONFIG_I, NX-OS VSHD_SYSLOG_CONFIG_I, Junos UI_COMMIT, FortiOS
// configuration events, PAN-OS CONFIG logs, Huawei VRP CFG_FILE_CHANGE,
// RouterOS, pfSense), with User naming who made it; and Restart events:
// an appliance that came up, with the firmware Version it names (IOS
// %SYS-5-RESTART, the Junos kernel banner, FortiOS "FortiGate started",
// PAN-OS system start). Both read the line once; Parse drops those events
// for callers that count only authentication and account events.
func ParseAll(line []byte, ref time.Time) (Event, bool) {
	return parse(line, ref, true)
}

func parse(line []byte, ref time.Time, changes bool) (Event, bool) {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) < 8 {
		return Event{}, false
	}
	// The line is read in place, not copied: most lines are no event, and
	// finish copies every string an event keeps, so nothing returned
	// refers to line.
	h := splitHeader(unsafe.String(unsafe.SliceData(line), len(line)), ref)
	ev, ok := parseMessage(h, 0)
	if !ok || (ev.Kind == ConfigChange || ev.Kind == Restart) && !changes {
		return Event{}, false
	}
	if ev.Time.IsZero() {
		ev.Time = h.time
	}
	return finish(ev), true
}

const maxField = 256 // bytes kept of User and Source

// finish makes the fields safe to print and store: valid UTF-8, no control
// characters, bounded length, Count at least 1, and each a copy, since the
// line they were read from is the caller's.
func finish(ev Event) Event {
	ev.User = clean(ev.User)
	ev.Source = clean(strings.Trim(ev.Source, "[]"))
	switch ev.Source {
	case "?", "-", "UNKNOWN", "unknown":
		ev.Source = ""
	}
	ev.Method = clean(ev.Method)
	ev.Program = clean(ev.Program)
	ev.UID = clean(ev.UID)
	ev.Path = clean(ev.Path)
	ev.Version = clean(ev.Version)
	ev.Model = clean(ev.Model)
	for _, f := range []*string{&ev.User, &ev.Source, &ev.Method, &ev.Program, &ev.UID, &ev.Path, &ev.Version, &ev.Model} {
		*f = strings.Clone(*f)
	}
	if ev.Count < 1 {
		ev.Count = 1
	}
	return ev
}

func clean(s string) string {
	if len(s) > maxField {
		s = s[:maxField]
	}
	ascii := true
	for i := 0; ascii && i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			ascii = false
		}
	}
	if ascii {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}
