package authlog

import (
	"strings"
)

// Login lines of appliances that cannot run the agent and send syslog
// instead: Cisco ASA, Cisco NX-OS, Huawei VRP, Palo Alto PAN-OS, pfSense and
// OPNsense, SonicWall. Each is reached from a cheap prefix or '%' marker
// test in parseMessage, so a line that is none of them costs no more than
// before. Logouts, session time-outs and summaries are never logins.

// parseASA reads Cisco ASA (and FWSM/PIX) messages; m starts after the '%'
// at "ASA-". Handled: 605004 (management login denied), 605005 (management
// login permitted), 113015 (AAA authentication rejected) and 113004 (AAA
// authentication successful, which names no address).
func parseASA(m string) (Event, bool) {
	name, rest, ok := strings.Cut(m, ": ")
	if !ok || len(name) < len("ASA-6-605004") {
		return Event{}, false
	}
	id := name[len(name)-6:]
	ev := Event{Count: 1, Program: name}
	switch id {
	case "605004", "605005":
		// "Login denied from 192.0.2.1/52786 to outside:10.0.0.1/ssh for user "admin""
		// "Login permitted from serial to console for user "admin""
		var r string
		if r, ok = strings.CutPrefix(rest, "Login denied from "); ok {
			ev.Kind = AuthFailure
		} else if r, ok = strings.CutPrefix(rest, "Login permitted from "); ok {
			ev.Kind = AuthSuccess
		} else {
			return Event{}, false
		}
		i := strings.LastIndex(r, " for user ")
		if i < 0 {
			return Event{}, false
		}
		ev.User = quoted(strings.TrimSpace(r[i+len(" for user "):]))
		src, dst, ok := strings.Cut(r[:i], " to ")
		if !ok {
			return Event{}, false
		}
		if src == "serial" {
			ev.Method = MethodConsole
		} else {
			if j := strings.LastIndexByte(src, '/'); j > 0 {
				src = src[:j]
			}
			if !validAddr(src) {
				return Event{}, false
			}
			ev.Source = src
			ev.Method = serviceMethod(dst[strings.LastIndexByte(dst, '/')+1:])
		}
	case "113015":
		// "AAA user authentication Rejected : reason = AAA failure : server = 10.1.1.5 : user = admin : user IP = 192.0.2.1"
		if !strings.HasPrefix(rest, "AAA user authentication Rejected") {
			return Event{}, false
		}
		ev.Kind, ev.Method = AuthFailure, MethodAAA
		ev.User = colonField(rest, "user = ")
		ev.Source = colonField(rest, "user IP = ")
	case "113004":
		// "AAA user authentication Successful : server = 10.1.1.5 : user = admin";
		// authorization and accounting share the id and are not logins.
		if !strings.HasPrefix(rest, "AAA user authentication Successful") {
			return Event{}, false
		}
		ev.Kind, ev.Method = AuthSuccess, MethodAAA
		ev.User = colonField(rest, "user = ")
	default:
		return Event{}, false
	}
	return ev, ev.User != ""
}

// colonField reads key's value from ASA's "k = v : k2 = v2".
func colonField(s, key string) string {
	i := strings.Index(s, " : "+key)
	if i < 0 {
		return ""
	}
	v, _, _ := strings.Cut(s[i+3+len(key):], " : ")
	return strings.TrimSpace(v)
}

// serviceMethod names the channel of a service or protocol name.
func serviceMethod(s string) string {
	switch strings.ToLower(s) {
	case "ssh", "22", "tcp/ssh", "stelnet", "sftp", "scp":
		return MethodSSH
	case "telnet", "23", "tcp/telnet":
		return MethodTelnet
	case "https", "http", "443", "80", "tcp/https", "tcp/http", "web":
		return MethodWeb
	}
	return MethodLogin
}

// parseNXOS reads Cisco NX-OS's "%AUTHPRIV-N-SYSTEM_MSG: MSG - sshd[pid]"
// (m starts after the '%'): the embedded sshd or PAM message is read as if
// it came from its own program. pam_aaa's "Authentication failed from A"
// names no user and repeats the failure sshd logs beside it, so it is not
// an event of its own.
func parseNXOS(m string) (Event, bool) {
	_, rest, ok := strings.Cut(m, "-SYSTEM_MSG: ")
	if !ok {
		return Event{}, false
	}
	// The trailer is cut off by relays that limit the line length; the
	// message is still read, as from an unnamed program.
	msg, prog := rest, ""
	if i := strings.LastIndex(rest, " - "); i >= 0 {
		p := rest[i+3:]
		if j := strings.IndexByte(p, '['); j > 0 && strings.HasSuffix(p, "]") {
			p = p[:j]
		}
		if p != "" && strings.IndexByte(p, ' ') < 0 {
			msg, prog = rest[:i], p
		}
	}
	return parseByPrefix(prog, msg)
}

// parseVRP reads Huawei VRP's SSH_USER_LOGIN and SSH_USER_LOGIN_FAIL; m
// starts after the first '%' of "%%01SSH/5/SSH_USER_LOGIN(l)[0]:The SSH user
// succeeded in logging in. (ServiceType=stelnet, UserName=admin,
// UserAddress=192.0.2.1, ...)". SSH_USER_LOGOUT is not a login.
func parseVRP(m string) (Event, bool) {
	name, rest, ok := strings.Cut(m[3:], ":")
	if !ok {
		return Event{}, false
	}
	if i := strings.IndexByte(name, '('); i > 0 {
		name = name[:i]
	}
	ev := Event{Count: 1, Program: name}
	mnemonic := name[strings.LastIndexByte(name, '/')+1:]
	switch mnemonic {
	case "SSH_USER_LOGIN":
		ev.Kind = AuthSuccess
	case "SSH_USER_LOGIN_FAIL":
		ev.Kind = AuthFailure
	case "CFG_FILE_CHANGE", "CFG_CHANGE":
	default:
		return Event{}, false
	}
	i := strings.LastIndexByte(rest, '(')
	if i < 0 {
		return Event{}, false
	}
	params := strings.TrimSuffix(strings.TrimSuffix(rest[i+1:], ")"), ".")
	if ev.Kind == "" {
		return vrpConfig(ev, params)
	}
	ev.User = commaField(params, "UserName=")
	ev.Source = commaField(params, "UserAddress=")
	if ev.Source == "" {
		ev.Source = commaField(params, "IPAddress=")
	}
	ev.Method = MethodSSH
	if st := commaField(params, "ServiceType="); st != "" {
		ev.Method = serviceMethod(st)
		if ev.Method == MethodLogin {
			ev.Method = MethodSSH // snetconf and the like still ride on SSH
		}
	}
	return ev, ev.User != ""
}

// parseWebGUI reads the pfSense and OPNsense web GUI lines, "/index.php:
// MSG" from php-fpm, php or audit:
//
//	webConfigurator authentication error for user 'admin' from: 192.0.2.1
//	webConfigurator authentication error for 'admin' from 192.0.2.1
//	Web GUI authentication error for 'root' from 192.0.2.1
//	Successful login for user 'admin' from: 192.0.2.1 (Local Database)
//
// "User logged out for user ..." and "Session timed out for user ..." are
// not logins.
func parseWebGUI(prog, m string) (Event, bool) {
	path, msg, ok := strings.Cut(m, ": ")
	if !ok || strings.IndexByte(path, ' ') >= 0 {
		return Event{}, false
	}
	ev := Event{Count: 1, Method: MethodWeb, Program: orDefault(prog, "webgui")}
	switch {
	case strings.HasPrefix(msg, "webConfigurator authentication error for "),
		strings.HasPrefix(msg, "Web GUI authentication error for "):
		ev.Kind = AuthFailure
	case strings.HasPrefix(msg, "Successful login for "):
		ev.Kind = AuthSuccess
	case strings.HasPrefix(msg, "Configuration Change: "):
		// pfSense: "Configuration Change: admin@192.0.2.1 (Local Database): Saved ..."
		who, _, _ := strings.Cut(msg[len("Configuration Change: "):], " ")
		at := strings.LastIndexByte(who, '@')
		if at <= 0 {
			return Event{}, false
		}
		ev.Kind, ev.User, ev.Source = ConfigChange, who[:at], strings.TrimSuffix(who[at+1:], ":")
		if !validAddr(ev.Source) {
			ev.Source = "" // "(system)" and the like
		}
		return ev, true
	default:
		return Event{}, false
	}
	i := strings.LastIndex(msg, " from")
	if i < 0 {
		return Event{}, false
	}
	// The name is what lies between the first and the last quote, so a
	// name with a quote in it is kept whole.
	who := msg[:i]
	if a, b := strings.IndexByte(who, '\''), strings.LastIndexByte(who, '\''); a >= 0 && b > a {
		ev.User = who[a+1 : b]
	}
	src := strings.TrimPrefix(strings.TrimPrefix(msg[i+len(" from"):], ":"), " ")
	src, _, _ = strings.Cut(src, " ")
	ev.Source = src
	return ev, ev.User != "" && validAddr(src)
}

// parsePANOS reads PAN-OS SYSTEM and CONFIG logs in their CSV syslog form
// ("1,RECEIVE,SERIAL,SYSTEM,SUBTYPE,,GENERATED,VSYS,EVENTID,OBJECT,,,MODULE,SEVERITY,"DESCRIPTION",...").
// A failure is event auth-fail ("failed authentication for user 'admin'.
// Reason: ... From: 192.0.2.1."); a success is an administrator's "User
// admin logged in via Web from 192.0.2.1 using https". auth-success is
// written for that same login and would count it twice, so it is not an
// event; "logged out" and "timed out" lines are not logins.
func parsePANOS(m string) (Event, bool) {
	var f [15]string
	rest := m
	for i := range f {
		if rest == "" && i < len(f)-1 {
			return Event{}, false
		}
		if strings.HasPrefix(rest, `"`) {
			// A quoted field; PAN-OS doubles embedded quotes.
			var b strings.Builder
			r := rest[1:]
			for {
				j := strings.IndexByte(r, '"')
				if j < 0 {
					return Event{}, false
				}
				b.WriteString(r[:j])
				if strings.HasPrefix(r[j+1:], `"`) {
					b.WriteByte('"')
					r = r[j+2:]
					continue
				}
				r = r[j+1:]
				break
			}
			f[i] = b.String()
			rest = strings.TrimPrefix(r, ",")
			continue
		}
		f[i], rest, _ = strings.Cut(rest, ",")
		if i == 3 && f[3] != "SYSTEM" && f[3] != "CONFIG" {
			return Event{}, false
		}
	}
	ev := Event{Count: 1, Program: "pan-os"}
	desc := f[14]
	switch {
	case f[3] == "CONFIG":
		// "1,RECEIVE,SERIAL,CONFIG,0,,GENERATED,HOST,VSYS,COMMAND,ADMIN,CLIENT,RESULT,PATH,..."
		if f[12] != "Succeeded" && f[12] != "Submitted" {
			return Event{}, false // a failed or refused change changed nothing
		}
		ev.Kind, ev.User, ev.Source, ev.Path = ConfigChange, f[10], f[7], strings.TrimSpace(f[13])
		switch f[11] {
		case "Web":
			ev.Method = MethodWeb
		case "CLI":
			ev.Method = MethodSSH
		default:
			ev.Method = strings.ToLower(firstWord(f[11]))
		}
	case f[8] == "auth-fail":
		r, ok := strings.CutPrefix(desc, "failed authentication for user ")
		if !ok {
			return Event{}, false
		}
		ev.Kind, ev.Method = AuthFailure, MethodLogin
		ev.User = quoted(strings.TrimSuffix(firstWord(r), "."))
		if i := strings.LastIndex(r, "From: "); i >= 0 {
			ev.Source = strings.TrimSuffix(firstWord(r[i+len("From: "):]), ".")
		}
	case strings.HasPrefix(desc, "User ") && strings.Contains(desc, " logged in via "):
		user, r, _ := strings.Cut(desc[len("User "):], " logged in via ")
		via, r, _ := strings.Cut(r, " ")
		ev.Kind, ev.User = AuthSuccess, user
		switch via {
		case "Web":
			ev.Method = MethodWeb
		case "CLI":
			ev.Method = MethodSSH
			if strings.Contains(r, "console") {
				ev.Method = MethodConsole
			}
		default:
			ev.Method = strings.ToLower(via) // "XML API" reads "xml"
		}
		if k := strings.Index(r, "from "); k >= 0 {
			ev.Source = firstWord(r[k+len("from "):])
		}
	case f[3] == "SYSTEM":
		return panosRestart(desc)
	default:
		return Event{}, false
	}
	if ev.Source != "" && !validAddr(ev.Source) {
		ev.Source = ""
	}
	return ev, ev.User != "" && strings.IndexByte(ev.User, ' ') < 0
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// parseSonicWall reads SonicOS "id=firewall sn=... msg="..." src=A:P:IF
// usr="admin" proto=tcp/https" lines by their message text: "Administrator
// login allowed", "Administrator login denied due to bad credentials",
// "User login denied due to bad credentials" and the like. Logouts are not
// logins.
func parseSonicWall(m string) (Event, bool) {
	msg := strings.ToLower(kv(m, "msg"))
	ev := Event{Count: 1, Program: "sonicwall"}
	switch {
	case strings.Contains(msg, "logged out"), strings.Contains(msg, "logout"):
		return Event{}, false
	case strings.Contains(msg, "login denied"), strings.Contains(msg, "login failed"), strings.Contains(msg, "login failure"):
		ev.Kind = AuthFailure
	case strings.Contains(msg, "login allowed"), strings.Contains(msg, "login successful"), strings.Contains(msg, "successful login"):
		ev.Kind = AuthSuccess
	default:
		return Event{}, false
	}
	ev.User = kv(m, "usr")
	if ev.User == "" {
		ev.User = kv(m, "user")
	}
	ev.Source = sonicAddr(kv(m, "src"))
	ev.Method = serviceMethod(kv(m, "proto"))
	if ev.Method == MethodLogin && strings.Contains(msg, "cli") {
		ev.Method = MethodSSH
	}
	return ev, ev.User != ""
}

// sonicAddr strips SonicOS's ":port[:interface]" from "A:P:IF".
func sonicAddr(s string) string {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) <= 3:
		return parts[0]
	case !allDigits(parts[len(parts)-1]) && allDigits(parts[len(parts)-2]):
		// IPv6 with port and interface
		return strings.Join(parts[:len(parts)-2], ":")
	}
	return s
}

// parseCiscoConfig reads IOS "%SYS-5-CONFIG_I: Configured from console by
// admin on vty0 (192.0.2.1)" and NX-OS "%VSHD-5-VSHD_SYSLOG_CONFIG_I:
// Configured from vty by admin on 192.0.2.1@pts/0"; m starts after the
// '%'. Without AAA, IOS names only the line ("by vty0 (192.0.2.1)", "by
// console"): the change is still reported, with no user.
func parseCiscoConfig(m string) (Event, bool) {
	name, rest, ok := strings.Cut(m, ": ")
	if !ok || !strings.HasSuffix(name, "CONFIG_I") {
		return Event{}, false
	}
	rest, ok = strings.CutPrefix(rest, "Configured from ")
	if !ok {
		return Event{}, false
	}
	_, who, ok := strings.Cut(rest, " by ")
	if !ok {
		return Event{}, false
	}
	ev := Event{Kind: ConfigChange, Count: 1, Program: name, Method: MethodLogin}
	user, line, hasLine := strings.Cut(who, " on ")
	if !hasLine {
		user, line = "", who
	}
	if strings.HasPrefix(user, "vty") || user == "console" {
		user, line = "", who // a line, not a user
	}
	ev.User = user
	switch {
	case strings.HasPrefix(line, "console"):
		ev.Method = MethodConsole
	case strings.Contains(line, "("): // IOS "vty0 (192.0.2.1)"
		_, a, _ := strings.Cut(line, "(")
		ev.Source, _, _ = strings.Cut(a, ")")
	case strings.Contains(line, "@"): // NX-OS "192.0.2.1@pts/0"
		ev.Source, _, _ = strings.Cut(line, "@")
	}
	if ev.Source != "" && !validAddr(ev.Source) {
		ev.Source = ""
	}
	return ev, true
}

// parseRouterOSConfig reads RouterOS configuration changes under the
// system,info topic (already removed): "filter rule changed by admin", and
// the form naming the client, "address added by
// winbox-3.41/tcp-msg(winbox):admin@192.0.2.1/action:12 (/ip address add
// ...)". The command echoed after it is the administrator's text and may
// hold " by " itself, so the first verb's " by " is taken.
func parseRouterOSConfig(m string) (Event, bool) {
	at := -1
	for _, v := range []string{" added by ", " changed by ", " removed by ", " moved by "} {
		if i := strings.Index(m, v); i >= 0 && (at < 0 || i < at) {
			at = i + len(v)
		}
	}
	if at < 0 {
		return Event{}, false
	}
	who := firstWord(m[at:])
	ev := Event{Kind: ConfigChange, Count: 1, Program: "routeros", User: who}
	if u, src, ok := strings.Cut(who, "@"); ok {
		if i := strings.LastIndexByte(u, ':'); i >= 0 {
			client := u[:i]
			if a, b := strings.IndexByte(client, '('), strings.IndexByte(client, ')'); a >= 0 && b > a {
				ev.Method = client[a+1 : b]
			} else if !strings.ContainsAny(client, "/ ") {
				ev.Method = client // "ssh", "api", "telnet"
			}
			u = u[i+1:]
		}
		src, _, _ = strings.Cut(src, "/")
		ev.User = u
		if validAddr(src) {
			ev.Source = src
		}
	}
	if ev.Method == "www" || ev.Method == "www-ssl" {
		ev.Method = MethodWeb
	}
	return ev, ev.User != ""
}
