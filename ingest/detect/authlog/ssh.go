package authlog

import (
	"strconv"
	"strings"
)

// The SSH servers' lines: OpenSSH's sshd and Dropbear.

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
