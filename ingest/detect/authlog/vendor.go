package authlog

import (
	"strings"
	"time"
)

// parseJunos reads Junos SSHD_LOGIN_FAILED, LOGIN_FAILED and UI_AUTH_EVENT
// messages, whether the mnemonic came as an RFC 5424 MSGID or as the first
// word of the message.
func parseJunos(prog, mnemonic, m string) (Event, bool) {
	ev := Event{Count: 1, Program: orDefault(prog, mnemonic)}
	switch mnemonic {
	case "SSHD_LOGIN_FAILED", "LOGIN_FAILED":
		rest, ok := strings.CutPrefix(m, "Login failed for user ")
		if !ok {
			return Event{}, false
		}
		ev.Kind, ev.Method = AuthFailure, MethodLogin
		if mnemonic == "SSHD_LOGIN_FAILED" {
			ev.Method = MethodSSH
		}
		user, host, _ := strings.Cut(rest, " from host ")
		ev.User, ev.Source = quoted(user), quoted(strings.TrimSpace(host))
	case "UI_AUTH_EVENT":
		rest, ok := strings.CutPrefix(m, "Authenticated user ")
		if !ok {
			return Event{}, false
		}
		ev.Kind, ev.Method = AuthSuccess, MethodLogin
		ev.User = firstQuoted(rest)
		if !strings.HasPrefix(rest, "'") {
			ev.User, _, _ = strings.Cut(rest, " ")
		}
	case "UI_LOGIN_EVENT":
		return junosLogin(ev, m)
	case "UI_COMMIT":
		// "User 'admin' requested 'commit' operation (comment: none)";
		// UI_COMMIT_COMPLETED and the like repeat it and are not events.
		rest, ok := strings.CutPrefix(m, "User ")
		if !ok || !strings.Contains(rest, " requested 'commit") {
			return Event{}, false
		}
		ev.Kind, ev.Method = ConfigChange, MethodLogin
		ev.User = firstQuoted(rest)
	default:
		return Event{}, false
	}
	return ev, ev.User != ""
}

// parseLuCI reads "failed|accepted login on PATH for USER from ADDR".
func parseLuCI(prog, m string) (Event, bool) {
	ev := Event{Kind: AuthFailure, Method: MethodWeb, Count: 1, Program: orDefault(prog, "luci")}
	if m[0] == 'a' {
		ev.Kind = AuthSuccess
	}
	_, rest, ok := strings.Cut(m, " for ")
	if !ok {
		return Event{}, false
	}
	i := strings.LastIndex(rest, " from ")
	if i < 0 {
		return Event{}, false
	}
	ev.User, ev.Source = rest[:i], strings.TrimSpace(rest[i+len(" from "):])
	return ev, validAddr(ev.Source)
}

// parseRADIUS reads FreeRADIUS "(N) Login OK: [USER] (from client C port P
// cli A)" and "(N) Login incorrect (reason): [USER/<via ...>] (...)", with
// the "Auth: " prefix already removed. Source is the calling station (cli).
func parseRADIUS(prog, m string) (Event, bool) {
	if strings.HasPrefix(m, "(") {
		j := strings.IndexByte(m, ')')
		if j < 0 || !allDigits(m[1:j]) {
			return Event{}, false
		}
		m = strings.TrimPrefix(m[j+1:], " ")
	}
	ev := Event{Method: MethodRADIUS, Count: 1, Program: orDefault(prog, "radiusd")}
	switch {
	case strings.HasPrefix(m, "Login OK"):
		ev.Kind = AuthSuccess
	case strings.HasPrefix(m, "Login incorrect"):
		ev.Kind = AuthFailure
	default:
		return Event{}, false
	}
	k := strings.LastIndex(m, "] (from client ")
	if k < 0 {
		return Event{}, false
	}
	i := strings.LastIndex(m[:k], ": [")
	if i < 0 {
		return Event{}, false
	}
	user := m[i+3 : k]
	if v := strings.Index(user, "/<via "); v >= 0 {
		user = user[:v]
	}
	ev.User = user
	tail := m[k:]
	if c := strings.Index(tail, " cli "); c >= 0 {
		src := tail[c+len(" cli "):]
		if e := strings.IndexAny(src, " )"); e >= 0 {
			src = src[:e]
		}
		ev.Source = src
	}
	return ev, true
}

// parseCisco reads IOS SEC_LOGIN and SSH messages; m starts after the '%'.
func parseCisco(m string) (Event, bool) {
	name, rest, ok := strings.Cut(m, ": ")
	if !ok {
		return Event{}, false
	}
	ev := Event{Count: 1, Program: name}
	switch {
	case strings.HasPrefix(name, "SEC_LOGIN-") && strings.HasSuffix(name, "-LOGIN_FAILED"):
		ev.Kind = AuthFailure
	case strings.HasPrefix(name, "SEC_LOGIN-") && strings.HasSuffix(name, "-LOGIN_SUCCESS"):
		ev.Kind = AuthSuccess
	case strings.HasPrefix(name, "SSH-") && strings.HasSuffix(name, "-SSH2_USERAUTH"):
		ev.Method = MethodSSH
		switch {
		case strings.HasSuffix(rest, " Succeeded"):
			ev.Kind = AuthSuccess
		case strings.HasSuffix(rest, " Failed"):
			ev.Kind = AuthFailure
		default:
			return Event{}, false
		}
		r, ok := strings.CutPrefix(rest, "User '")
		if !ok {
			return Event{}, false
		}
		user, after, ok := strings.Cut(r, "' authentication for SSH2 Session from ")
		if !ok {
			return Event{}, false
		}
		ev.User = user
		ev.Source, _, _ = strings.Cut(after, " ")
		return ev, validAddr(ev.Source)
	default:
		return Event{}, false
	}
	ev.User = bracketField(rest, "[user: ")
	ev.Source = bracketField(rest, "[Source: ")
	switch bracketField(rest, "[localport: ") {
	case "22":
		ev.Method = MethodSSH
	case "23":
		ev.Method = MethodTelnet
	case "80", "443":
		ev.Method = MethodWeb
	default:
		ev.Method = MethodLogin
	}
	return ev, strings.Contains(rest, "[user: ")
}

func bracketField(s, key string) string {
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	v := s[i+len(key):]
	if j := strings.IndexByte(v, ']'); j >= 0 {
		return v[:j]
	}
	return ""
}

// parseRouterOS reads "login failure for user U from A via M" and "user U
// logged in from A via M"; what precedes them (RouterOS topics) is ignored.
func parseRouterOS(m string) (Event, bool) {
	ev := Event{Count: 1, Program: "routeros"}
	var rest string
	if i := strings.Index(m, "login failure for user "); i >= 0 {
		ev.Kind, rest = AuthFailure, m[i+len("login failure for user "):]
	} else if i := strings.Index(m, " logged in from "); i >= 0 {
		j := strings.LastIndex(m[:i], "user ")
		if j < 0 || j > 0 && m[j-1] != ' ' {
			return Event{}, false
		}
		ev.Kind, rest = AuthSuccess, m[j+len("user "):]
		rest = strings.Replace(rest, " logged in from ", " from ", 1)
	} else {
		return Event{}, false
	}
	user, after, ok := strings.Cut(rest, " from ")
	if !ok {
		return Event{}, false
	}
	src, via, ok := strings.Cut(after, " via ")
	if !ok {
		return Event{}, false
	}
	ev.User, ev.Source = user, src
	ev.Method, _, _ = strings.Cut(via, " ")
	if ev.Method == "www" || ev.Method == "www-ssl" {
		ev.Method = MethodWeb
	}
	return ev, validAddr(src) && ev.Method != ""
}

// parseFortiOS reads FortiOS key=value event logs: admin logins (logid
// 0100032001 success, 0100032002 failure) and SSL VPN login failures.
func parseFortiOS(m string, h header) (Event, bool) {
	// The log id's first two digits are its type: 01 is an event (system,
	// VPN, user). Traffic and UTM logs, most of a FortiGate's volume, end
	// here after one scan.
	logid := kv(m, "logid")
	if !strings.HasPrefix(logid, "01") {
		return Event{}, false
	}
	if strings.HasSuffix(logid, "32009") {
		return parseFortiOSStart(m)
	}
	ev := Event{Count: 1, Program: "fortios"}
	action := kv(m, "action")
	status := kv(m, "status")
	switch {
	case action == "login" && status == "success":
		ev.Kind = AuthSuccess
	case action == "login" && status == "failed":
		ev.Kind = AuthFailure
	case action == "ssl-login-fail":
		ev.Kind, ev.Method = AuthFailure, MethodVPN
	case action != "" && kv(m, "cfgpath") != "":
		// A configuration event (logid 01000445xx): action Add, Edit,
		// Delete ..., ui "GUI(192.0.2.1)", "ssh(192.0.2.1)" or "console".
		ev.Kind, ev.Path = ConfigChange, kv(m, "cfgpath")
		ui := kv(m, "ui")
		ev.Method = fortiMethod("", ui)
		if _, a, ok := strings.Cut(ui, "("); ok {
			ev.Source = strings.TrimSuffix(a, ")")
		}
		if !validAddr(ev.Source) {
			ev.Source = ""
		}
	default:
		return Event{}, false
	}
	ev.User = kv(m, "user")
	switch {
	case ev.Kind == ConfigChange:
	case ev.Method == "":
		ev.Source = kv(m, "srcip")
		ev.Method = fortiMethod(kv(m, "method"), kv(m, "ui"))
	default:
		ev.Source = kv(m, "srcip")
		if r := kv(m, "remip"); r != "" {
			ev.Source = r
		}
	}
	if h.time.IsZero() {
		if d, t := kv(m, "date"), kv(m, "time"); d != "" && t != "" {
			tz := kv(m, "tz")
			if p, err := time.Parse("2006-01-02 15:04:05 -0700", d+" "+t+" "+tz); err == nil {
				ev.Time = p
			} else if p, err := time.Parse("2006-01-02 15:04:05", d+" "+t); err == nil {
				ev.Time = p
			}
		}
	}
	return ev, ev.User != ""
}

func fortiMethod(method, ui string) string {
	if method == "" {
		method, _, _ = strings.Cut(ui, "(")
	}
	switch strings.ToLower(method) {
	case "https", "http", "gui":
		return MethodWeb
	case "ssh":
		return MethodSSH
	case "telnet":
		return MethodTelnet
	case "console", "jsconsole":
		return MethodConsole
	}
	return MethodLogin
}

// kv returns the value of key in a FortiOS "k=v k2="v 2"" line.
func kv(s, key string) string {
	for i := 0; ; {
		j := strings.Index(s[i:], key+"=")
		if j < 0 {
			return ""
		}
		j += i
		if j > 0 && s[j-1] != ' ' && s[j-1] != '>' {
			i = j + len(key) + 1
			continue
		}
		v := s[j+len(key)+1:]
		if strings.HasPrefix(v, "\"") {
			if e := strings.IndexByte(v[1:], '"'); e >= 0 {
				return v[1 : e+1]
			}
			return ""
		}
		v, _, _ = strings.Cut(v, " ")
		return v
	}
}
