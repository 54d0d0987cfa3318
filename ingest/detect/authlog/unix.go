package authlog

import (
	"encoding/hex"
	"path"
	"strconv"
	"strings"
	"time"
)

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
