package authlog

import (
	"encoding/hex"
	"path"
	"strconv"
	"strings"
	"time"
)

// sshMethods are the method names sshd prints after "Failed" and "Accepted".
var sshMethods = map[string]string{
	"password":                     MethodPassword,
	"publickey":                    MethodPublickey,
	"keyboard-interactive":         MethodKbdInteract,
	"keyboard-interactive/pam":     MethodKbdInteract,
	"keyboard-interactive/bsdauth": MethodKbdInteract,
	"hostbased":                    "hostbased",
	"gssapi-with-mic":              "gssapi-with-mic",
	"gssapi-keyex":                 "gssapi-keyex",
	"none":                         "none",
}

// sshdFailedAccepted reads the rest of "Failed|Accepted METHOD for [invalid
// user ]USER from ADDR port PORT ssh2[: key]".
func sshdFailedAccepted(prog string, kind Kind, rest string) (Event, bool) {
	mname, rest, ok := strings.Cut(rest, " for ")
	method, known := sshMethods[mname]
	if !ok || !known {
		return Event{}, false
	}
	user, src, ok := userFromPort(rest)
	if !ok {
		return Event{}, false
	}
	return Event{Kind: kind, User: user, Source: src, Method: method, Count: 1, Program: orDefault(prog, "sshd")}, true
}

// userFromPort reads "[invalid user ]USER from ADDR[ port PORT[ ssh2[: info]]]".
// Both the user name (for invalid users) and the trailing info can carry
// text an attacker chose, including " from X port N", so the address is the
// first " from ADDR port N" followed by what sshd itself writes there (end of
// line, " ssh2", " ssh2: ...", " [preauth]"). Lines without a port (old sshd,
// PAM errors) take the last " from ".
func userFromPort(s string) (user, src string, ok bool) {
	s = trimInvalid(s)
	if strings.HasPrefix(s, "from ") { // empty user name
		s = " " + s
	}
	for i := 0; ; {
		j := strings.Index(s[i:], " from ")
		if j < 0 {
			break
		}
		j += i
		i = j + 1
		addr, rest, _ := strings.Cut(s[j+len(" from "):], " ")
		p, ok := strings.CutPrefix(rest, "port ")
		if !ok || !validAddr(addr) {
			continue
		}
		k := 0
		for k < len(p) && isDigit(p[k]) {
			k++
		}
		if k == 0 || !sshdTail(p[k:]) {
			continue
		}
		return strings.TrimPrefix(s[:j], " "), addr, true
	}
	i := strings.LastIndex(s, " from ")
	if i < 0 {
		return "", "", false
	}
	src = s[i+len(" from "):]
	if sp := strings.IndexByte(src, ' '); sp >= 0 { // "from A via B" (macOS), "from A ssh2"
		src = src[:sp]
	}
	return strings.TrimPrefix(s[:i], " "), src, validAddr(src)
}

// sshdTail reports whether t is what sshd writes after "port N".
func sshdTail(t string) bool {
	if t == "" || t == " [preauth]" {
		return true
	}
	for _, p := range []string{" ssh2", " ssh1"} {
		if r, ok := strings.CutPrefix(t, p); ok {
			return r == "" || r == " [preauth]" || strings.HasPrefix(r, ":")
		}
	}
	return false
}

// userAddrPort reads "USER ADDR port PORT..." as in "Connection closed by
// authenticating user USER ADDR port PORT [preauth]".
func userAddrPort(s string) (user, src string, ok bool) {
	s = trimInvalid(s)
	i := strings.LastIndex(s, " port ")
	if i < 0 {
		return "", "", false
	}
	s = s[:i]
	j := strings.LastIndexByte(s, ' ')
	if j < 0 {
		return "", "", false
	}
	return s[:j], s[j+1:], validAddr(s[j+1:])
}

func trimInvalid(s string) string {
	for _, p := range []string{"invalid user ", "illegal user ", "authenticating user "} {
		if r, ok := strings.CutPrefix(s, p); ok {
			return r
		}
	}
	return s
}

// parseSSHDOther reads the sshd failure lines other than "Failed ...".
func parseSSHDOther(prog, m string) (Event, bool) {
	if r, ok := strings.CutPrefix(m, "error: "); ok {
		m = r
	}
	ev := Event{Kind: AuthFailure, Method: MethodSSH, Count: 1, Program: orDefault(prog, "sshd")}
	var ok bool
	switch {
	case strings.HasPrefix(m, "Invalid user "), strings.HasPrefix(m, "Illegal user "):
		// Old sshd omitted the port; without it, insist on an sshd tag so
		// that other programs' "Invalid user ..." prose is not taken.
		if !strings.Contains(m, " port ") && !strings.HasPrefix(prog, "sshd") {
			return Event{}, false
		}
		ev.User, ev.Source, ok = userFromPort(m[len("Invalid user "):])
	case strings.HasPrefix(m, "maximum authentication attempts exceeded for "):
		ev.User, ev.Source, ok = userFromPort(m[len("maximum authentication attempts exceeded for "):])
	case strings.HasPrefix(m, "PAM: "):
		// "PAM: Authentication failure for X from A", macOS's "authentication
		// error for X from A via B", "User not known to the underlying
		// authentication module for illegal user X from A".
		_, rest, found := strings.Cut(m, " for ")
		low := strings.ToLower(m[:min(len(m), 60)])
		if !found || !strings.Contains(low, "authentication") {
			return Event{}, false
		}
		ev.Method = MethodPAM
		ev.User, ev.Source, ok = userFromPort(rest)
	case strings.HasPrefix(m, "User ") && strings.Contains(m, " not allowed because "):
		// "User X from A not allowed because not listed in AllowUsers"
		head, _, _ := strings.Cut(m[len("User "):], " not allowed because ")
		i := strings.LastIndex(head, " from ")
		if i < 0 {
			return Event{}, false
		}
		ev.User, ev.Source, ok = head[:i], head[i+len(" from "):], validAddr(head[i+len(" from "):])
	case strings.HasPrefix(m, "Disconnecting: Too many authentication failures for "):
		ev.User = strings.TrimSuffix(m[len("Disconnecting: Too many authentication failures for "):], " [preauth]")
		ok = ev.User != ""
	case strings.HasPrefix(m, "PAM "):
		// "PAM 2 more authentication failures; logname= ... rhost=A  user=X"
		n, rest, found := strings.Cut(m[len("PAM "):], " more authentication failure")
		c, err := strconv.Atoi(n)
		if !found || err != nil || c < 1 {
			return Event{}, false
		}
		ev.Method, ev.Count = MethodPAM, c
		ev.User, ev.Source, ok = fieldAfter(rest, " user="), fieldAfter(rest, " rhost="), true
	default:
		for _, p := range []string{"Connection closed by ", "Connection reset by ", "Disconnected from ", "Disconnecting "} {
			if r, found := strings.CutPrefix(m, p); found {
				if !strings.HasPrefix(r, "authenticating user ") && !strings.HasPrefix(r, "invalid user ") {
					return Event{}, false // no user, or a session closing
				}
				ev.User, ev.Source, ok = userAddrPort(r)
				break
			}
		}
	}
	return ev, ok
}

// parsePAM reads "pam_MODULE(SERVICE:TYPE): ..." lines: authentication
// failures and password changes. Session lines are not events.
func parsePAM(prog, m string) (Event, bool) {
	if !strings.HasPrefix(m, "pam_") {
		return Event{}, false
	}
	open := strings.IndexByte(m, '(')
	end := strings.Index(m, "): ")
	if open < 0 || end < open {
		return Event{}, false
	}
	svc, typ, _ := strings.Cut(m[open+1:end], ":")
	rest := m[end+3:]
	ev := Event{Method: MethodPAM, Count: 1, Program: orDefault(prog, svc)}
	switch {
	case typ == "auth" && strings.HasPrefix(rest, "authentication failure;"):
		ev.Kind = AuthFailure
		ev.User = fieldAfter(rest, " user=")
		ev.Source = fieldAfter(rest, " rhost=")
		return ev, true
	case typ == "chauthtok" && strings.HasPrefix(rest, "password changed for "):
		ev.Kind, ev.Method = PasswordChange, ""
		ev.User = strings.TrimSpace(rest[len("password changed for "):])
		return ev, ev.User != ""
	}
	return Event{}, false
}

// parseDropbear reads dropbear's authentication lines.
func parseDropbear(prog, m string) (Event, bool) {
	ev := Event{Count: 1, Program: orDefault(prog, "dropbear"), Method: MethodPassword}
	var rest string
	switch {
	case strings.HasPrefix(m, "Bad password attempt for "), strings.HasPrefix(m, "bad password attempt for "):
		ev.Kind, rest = AuthFailure, m[len("Bad password attempt for "):]
	case strings.HasPrefix(m, "Bad PAM password attempt for "):
		ev.Kind, rest = AuthFailure, m[len("Bad PAM password attempt for "):]
	case strings.HasPrefix(m, "Password auth succeeded for "):
		ev.Kind, rest = AuthSuccess, m[len("Password auth succeeded for "):]
	case strings.HasPrefix(m, "PAM password auth succeeded for "):
		ev.Kind, rest = AuthSuccess, m[len("PAM password auth succeeded for "):]
	case strings.HasPrefix(m, "Pubkey auth succeeded for "):
		ev.Kind, ev.Method, rest = AuthSuccess, MethodPublickey, m[len("Pubkey auth succeeded for "):]
	case strings.HasPrefix(m, "Login attempt for nonexistent user"), strings.HasPrefix(m, "login attempt for nonexistent user"):
		ev.Kind, ev.Method, rest = AuthFailure, MethodSSH, strings.TrimPrefix(m[len("Login attempt for nonexistent user"):], " ")
	default:
		return Event{}, false
	}
	i := strings.LastIndex(rest, "from ")
	if i < 0 {
		return Event{}, false
	}
	ev.Source = hostPort(strings.TrimSpace(rest[i+len("from "):]))
	user := strings.TrimSpace(rest[:i])
	if strings.HasPrefix(user, "'") {
		if j := strings.IndexByte(user[1:], '\''); j >= 0 {
			user = user[1 : j+1]
		}
	}
	ev.User = user
	return ev, validAddr(ev.Source)
}

// parseSu reads util-linux, shadow and BusyBox su lines. User is the
// invoking user; the target account is not kept.
func parseSu(prog, m string) (Event, bool) {
	ev := Event{Method: MethodSu, Count: 1, Program: orDefault(prog, "su")}
	switch {
	case strings.HasPrefix(m, "FAILED SU (to ") || strings.HasPrefix(m, "(to "):
		ev.Kind = AuthSuccess
		if m[0] == 'F' {
			ev.Kind, m = AuthFailure, m[len("FAILED SU "):]
		}
		j := strings.IndexByte(m, ')')
		if j < 0 {
			return Event{}, false
		}
		user, _, _ := strings.Cut(strings.TrimSpace(m[j+1:]), " on ")
		ev.User = user
	case strings.HasPrefix(m, "Successful su for "), strings.HasPrefix(m, "FAILED su for "):
		ev.Kind = AuthSuccess
		if m[0] == 'F' {
			ev.Kind = AuthFailure
		}
		_, by, ok := strings.Cut(m, " by ")
		if !ok {
			return Event{}, false
		}
		ev.User = by
	case len(m) > 2 && (m[0] == '+' || m[0] == '-') && m[1] == ' ':
		ev.Kind = AuthSuccess
		if m[0] == '-' {
			ev.Kind = AuthFailure
		}
		_, pair, ok := strings.Cut(m[2:], " ")
		from, _, ok2 := strings.Cut(pair, ":")
		if !ok || !ok2 {
			return Event{}, false
		}
		ev.User = from
	default:
		return Event{}, false
	}
	return ev, ev.User != ""
}

// parseLogin reads shadow and util-linux login(1) lines.
func parseLogin(prog, m string) (Event, bool) {
	ev := Event{Method: MethodLogin, Count: 1, Program: orDefault(prog, "login")}
	switch {
	case strings.HasPrefix(m, "FAILED LOGIN"), strings.HasPrefix(m, "TOO MANY LOGIN TRIES"):
		ev.Kind = AuthFailure
		i := strings.Index(m, " FOR ")
		if i < 0 {
			return Event{}, false
		}
		u := m[i+len(" FOR "):]
		if strings.HasPrefix(u, "'") {
			if j := strings.IndexByte(u[1:], '\''); j >= 0 {
				u = u[1 : j+1]
			}
		} else if j := strings.IndexByte(u, ','); j >= 0 {
			u = u[:j]
		}
		ev.User = u
		ev.Source = loginFrom(m[:i])
	case strings.HasPrefix(m, "ROOT LOGIN REFUSED"):
		// sshd with PermitRootLogin no (old releases), login on an insecure tty
		ev.Kind, ev.User = AuthFailure, "root"
		ev.Source = loginFrom(m)
		if strings.HasPrefix(prog, "sshd") {
			ev.Method = MethodSSH
		}
	case strings.HasPrefix(m, "ROOT LOGIN"):
		ev.Kind, ev.User = AuthSuccess, "root"
		ev.Source = loginFrom(m)
	case strings.HasPrefix(m, "LOGIN ON "):
		ev.Kind = AuthSuccess
		_, by, ok := strings.Cut(m, " BY ")
		if !ok {
			return Event{}, false
		}
		user, from, _ := strings.Cut(by, " FROM ")
		ev.User, ev.Source = user, from
	default:
		return Event{}, false
	}
	return ev, true
}

// loginFrom returns the host after " FROM " or " from ", unquoted.
func loginFrom(s string) string {
	for _, k := range []string{" FROM ", " from "} {
		if i := strings.Index(s, k); i >= 0 {
			v := s[i+len(k):]
			if strings.HasPrefix(v, "'") {
				if j := strings.IndexByte(v[1:], '\''); j >= 0 {
					return v[1 : j+1]
				}
			}
			v, _, _ = strings.Cut(v, " ")
			return strings.TrimSuffix(v, ",")
		}
	}
	return ""
}

// parseShadow reads shadow-utils (useradd, userdel, usermod, passwd,
// chpasswd) and BusyBox passwd lines.
func parseShadow(prog, m string) (Event, bool) {
	ev := Event{Count: 1, Program: prog}
	switch {
	case strings.HasPrefix(m, "new user: name="):
		ev.Kind = AccountAdded
		f := m[len("new user: "):]
		ev.User = commaField(f, "name=")
		ev.UID = commaField(f, "UID=")
		ev.Program = orDefault(prog, "useradd")
	case strings.HasPrefix(m, "delete user '"):
		ev.Kind = AccountRemoved
		ev.User = firstQuoted(m)
		ev.Program = orDefault(prog, "userdel")
	case strings.HasPrefix(m, "change user name '"):
		ev.Kind = AccountChanged
		ev.User = firstQuoted(m)
		ev.Program = orDefault(prog, "usermod")
	case strings.HasPrefix(m, "change user '"):
		ev.User = firstQuoted(m)
		ev.Kind = AccountChanged
		if strings.HasSuffix(m, "' password") {
			ev.Kind = PasswordChange
		}
		ev.Program = orDefault(prog, "usermod")
	case strings.HasPrefix(m, "lock user '"), strings.HasPrefix(m, "unlock user '"):
		ev.Kind = AccountChanged
		ev.User = firstQuoted(m)
		ev.Program = orDefault(prog, "usermod")
	case strings.HasPrefix(m, "add '") && strings.Contains(m, "' to "),
		strings.HasPrefix(m, "delete '") && strings.Contains(m, "' from "):
		if !strings.Contains(m, "group '") {
			return Event{}, false
		}
		ev.Kind = AccountChanged
		ev.User = firstQuoted(m)
		ev.Program = orDefault(prog, "usermod")
	case strings.HasPrefix(m, "password for ") && strings.Contains(m, " changed by "):
		ev.Kind = PasswordChange
		u, _, _ := strings.Cut(m[len("password for "):], " changed by ")
		ev.User = quoted(u)
		ev.Program = orDefault(prog, "passwd")
	case strings.HasPrefix(m, "password changed for "):
		ev.Kind = PasswordChange
		ev.User = strings.TrimSpace(m[len("password changed for "):])
		ev.Program = orDefault(prog, "passwd")
	default:
		return Event{}, false
	}
	return ev, ev.User != ""
}

func firstQuoted(s string) string {
	i := strings.IndexByte(s, '\'')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(s[i+1:], '\'')
	if j < 0 {
		return ""
	}
	return s[i+1 : i+1+j]
}

// commaField reads key's value from "k1=v1, k2=v2, ...".
func commaField(s, key string) string {
	for f := range strings.SplitSeq(s, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(f), key); ok {
			return v
		}
	}
	return ""
}

// parseSudo reads "USER : TTY=... ; COMMAND=..." (success) and
// "USER : N incorrect password attempts ; ..." and the other refusals.
func parseSudo(m string, i int) (Event, bool) {
	user := strings.TrimLeft(m[:i], " ")
	if user == "" || strings.ContainsAny(user, " ;=") {
		return Event{}, false
	}
	rest := m[i+3:]
	ev := Event{User: user, Method: MethodSudo, Count: 1, Program: "sudo"}
	switch {
	case strings.HasPrefix(rest, "TTY=") || strings.HasPrefix(rest, "PWD="):
		if !strings.Contains(rest, "COMMAND=") {
			return Event{}, false
		}
		ev.Kind = AuthSuccess
	case strings.HasPrefix(rest, "user NOT in sudoers ;"),
		strings.HasPrefix(rest, "user NOT authorized on host ;"),
		strings.HasPrefix(rest, "command not allowed ;"):
		ev.Kind = AuthFailure
	default:
		n, after, ok := strings.Cut(rest, " incorrect password attempt")
		c, err := strconv.Atoi(n)
		if !ok || err != nil || c < 1 || !strings.Contains(after, "TTY=") && !strings.Contains(after, "COMMAND=") {
			return Event{}, false
		}
		ev.Kind, ev.Count = AuthFailure, c
	}
	return ev, true
}

// parseAudit reads an auditd USER_AUTH record, in its log-file form
// ("type=USER_AUTH msg=audit(...)"), its kernel form ("type=1100 audit(...)")
// or its journald form ("USER_AUTH pid=...").
func parseAudit(m string) (Event, bool) {
	res := auditField(m, "res=")
	ev := Event{Method: MethodPAM, Count: 1, Program: "auditd"}
	switch strings.TrimSuffix(res, "'") {
	case "success":
		ev.Kind = AuthSuccess
	case "failed":
		ev.Kind = AuthFailure
	default:
		return Event{}, false
	}
	ev.User = auditField(m, "acct=")
	if exe := auditField(m, "exe="); exe != "" && exe != "?" {
		ev.Program = path.Base(exe)
	}
	ev.Source = auditField(m, " addr=")
	if ev.Source == "" || ev.Source == "?" {
		ev.Source = auditField(m, " hostname=")
	}
	if i := strings.Index(m, "audit("); i >= 0 {
		ts, _, _ := strings.Cut(m[i+len("audit("):], ":")
		sec, frac, _ := strings.Cut(ts, ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		ms, err2 := strconv.ParseInt(frac, 10, 64)
		if err1 == nil && err2 == nil && len(frac) == 3 && s > 0 {
			ev.Time = time.Unix(s, ms*int64(time.Millisecond)).UTC()
		}
	}
	return ev, true
}

// auditField reads key's value, unquoting "..." and decoding the hex form
// audit uses for values with spaces or special characters.
func auditField(m, key string) string {
	i := strings.Index(m, key)
	if i < 0 {
		return ""
	}
	v := m[i+len(key):]
	if strings.HasPrefix(v, "\"") {
		if j := strings.IndexByte(v[1:], '"'); j >= 0 {
			return v[1 : j+1]
		}
		return ""
	}
	if j := strings.IndexAny(v, " '"); j >= 0 {
		v = v[:j]
	}
	if key == "acct=" && len(v)%2 == 0 && v != "" {
		if b, err := hex.DecodeString(v); err == nil {
			return string(b)
		}
	}
	return v
}
