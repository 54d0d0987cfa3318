package authlog

import (
	"strconv"
	"strings"
)

// parseMessage dispatches on the message's first words, then on the few
// vendor markers that can sit anywhere in it. No parser runs a regexp.
func parseMessage(h header, depth int) (Event, bool) {
	m := stripInnerPrefix(h.msg)
	if rest, ok := strings.CutPrefix(m, "message repeated "); ok && depth == 0 {
		return parseRepeated(h, rest)
	}
	if h.msgid != "" && strings.IndexByte(h.msgid, '_') > 0 {
		if ev, ok := parseJunos(h.prog, h.msgid, m); ok {
			return ev, true
		}
	}
	if ev, ok := parseByPrefix(h.prog, m); ok {
		return ev, true
	}
	for r := m; ; {
		i := strings.IndexByte(r, '%')
		if i < 0 {
			break
		}
		r = r[i+1:]
		switch {
		case strings.HasPrefix(r, "SEC_LOGIN-") || strings.HasPrefix(r, "SSH-"):
			return parseCisco(r)
		case strings.HasPrefix(r, "ASA-") || strings.HasPrefix(r, "FWSM-") || strings.HasPrefix(r, "PIX-"):
			return parseASA(r)
		case strings.HasPrefix(r, "AUTHPRIV-"):
			return parseNXOS(r)
		case strings.HasPrefix(r, "SYS-") || strings.HasPrefix(r, "VSHD-"):
			if ev, ok := parseCiscoConfig(r); ok {
				return ev, true
			}
			if ev, ok := parseIOSRestart(r); ok {
				return ev, true
			}
		case len(r) > 4 && r[0] == '%' && isDigit(r[1]) && isDigit(r[2]):
			return parseVRP(r)
		}
	}
	// Most lines are none of these: one scan for '=' clears both
	// key=value formats, and the needles are looked for by their rarer
	// bytes (a search led by ' ' stops at every word).
	if strings.IndexByte(m, '=') >= 0 {
		switch {
		case strings.Contains(m, "logid="):
			return parseFortiOS(m, h)
		case strings.Contains(m, "op=PAM:authentication"):
			return parseAudit(m)
		}
	}
	if hasAround(m, "via", ' ', ' ') {
		if ev, ok := parseRouterOS(m); ok {
			return ev, true
		}
	}
	if h.prog == "" || h.prog == "sudo" {
		if i := indexAround(m, ":", ' ', ' '); i > 1 {
			return parseSudo(m, i-1)
		}
	}
	return Event{}, false
}

// indexAround returns the index in s of the first word with the byte
// before before it and the byte after after it, -1 if there is none: it
// is strings.Index(s, before+word+after) less one, searched by word.
func indexAround(s, word string, before, after byte) int {
	for at := 1; at < len(s); {
		i := strings.Index(s[at:], word)
		if i < 0 {
			return -1
		}
		i += at
		if end := i + len(word); s[i-1] == before && end < len(s) && s[end] == after {
			return i
		}
		at = i + 1
	}
	return -1
}

// hasAround reports whether s holds before+word+after.
func hasAround(s, word string, before, after byte) bool {
	return indexAround(s, word, before, after) >= 0
}

// stripInnerPrefix removes what some systems put between the tag and the
// message: Solaris's "[ID 800047 auth.info] " and the "[pid] Mmm dd
// hh:mm:ss " that dropbear repeats when its stderr goes to the journal.
func stripInnerPrefix(m string) string {
	if !strings.HasPrefix(m, "[") {
		return m
	}
	end := strings.IndexByte(m, ']')
	if end < 0 || end+2 > len(m) || m[end+1] != ' ' {
		return m
	}
	in, rest := m[1:end], m[end+2:]
	switch {
	case strings.HasPrefix(in, "ID ") && strings.IndexByte(in, '.') > 0:
		return rest
	case allDigits(in):
		if _, _, _, _, _, after, ok := clock(rest); ok && strings.HasPrefix(after, " ") {
			return after[1:]
		}
	}
	return m
}

// parseRepeated reads rsyslog's "message repeated N times: [ msg]".
func parseRepeated(h header, rest string) (Event, bool) {
	ns, rest, ok := strings.Cut(rest, " times: [")
	n, err := strconv.Atoi(ns)
	if !ok || err != nil || n < 1 {
		return Event{}, false
	}
	h.msg = strings.TrimSuffix(strings.TrimPrefix(rest, " "), "]")
	ev, ok := parseMessage(h, 1)
	if !ok {
		return Event{}, false
	}
	ev.Count = max(ev.Count, 1) * n
	return ev, true
}

func parseByPrefix(prog, m string) (Event, bool) {
	if m == "" {
		return Event{}, false
	}
	switch m[0] {
	case 'F':
		if strings.HasPrefix(m, "Failed ") {
			return sshdFailedAccepted(prog, AuthFailure, m[len("Failed "):])
		}
		if strings.HasPrefix(m, "FAILED SU ") {
			return parseSu(prog, m)
		}
		if strings.HasPrefix(m, "FAILED su for ") {
			return parseSu(prog, m)
		}
		if strings.HasPrefix(m, "FAILED LOGIN") {
			return parseLogin(prog, m)
		}
	case 'A':
		if strings.HasPrefix(m, "Accepted ") {
			return sshdFailedAccepted(prog, AuthSuccess, m[len("Accepted "):])
		}
		if strings.HasPrefix(m, "Auth: ") {
			return parseRADIUS(prog, m[len("Auth: "):])
		}
	case 'I', 'C', 'D', 'm', 'e', 'P', 'p':
		if ev, ok := parseSSHDOther(prog, m); ok {
			return ev, true
		}
		if ev, ok := parsePAM(prog, m); ok {
			return ev, true
		}
		if ev, ok := parseDropbear(prog, m); ok {
			return ev, true
		}
		return parseShadow(prog, m)
	case 'B', 'L', 'b', 'l':
		if ev, ok := parseDropbear(prog, m); ok {
			return ev, true
		}
		if strings.HasPrefix(m, "LOGIN ON ") {
			return parseLogin(prog, m)
		}
		if strings.HasPrefix(m, "LOGIN_FAILED: ") {
			return parseJunos(prog, "LOGIN_FAILED", m[len("LOGIN_FAILED: "):])
		}
		return parseShadow(prog, m)
	case 'R', 'T':
		if strings.HasPrefix(m, "ROOT LOGIN") || strings.HasPrefix(m, "TOO MANY LOGIN TRIES") {
			return parseLogin(prog, m)
		}
	case '(':
		if strings.HasPrefix(m, "(to ") {
			return parseSu(prog, m)
		}
		return parseRADIUS(prog, m)
	case '+', '-':
		if prog == "su" {
			return parseSu(prog, m)
		}
	case 'S', 'U':
		if strings.HasPrefix(m, "Successful su for ") {
			return parseSu(prog, m)
		}
		if strings.HasPrefix(m, "User ") {
			return parseSSHDOther(prog, m)
		}
		if mn, rest, ok := strings.Cut(m, ": "); ok && (mn == "SSHD_LOGIN_FAILED" || mn == "UI_AUTH_EVENT" || mn == "UI_COMMIT" || mn == "UI_LOGIN_EVENT") {
			return parseJunos(prog, mn, rest)
		}
	case 'f', 'a':
		if strings.HasPrefix(m, "failed login on ") || strings.HasPrefix(m, "accepted login on ") {
			return parseLuCI(prog, m)
		}
		if svc, mod, ok := strings.Cut(prog, "("); ok && strings.HasPrefix(mod, "pam_") {
			// RHEL 4: "sshd(pam_unix)[pid]: authentication failure; ..."
			return parsePAM(svc, mod[:len(mod)-1]+"("+svc+":auth): "+m)
		}
		return parseShadow(prog, m)
	case 'n', 'c', 'd', 'u':
		return parseShadow(prog, m)
	case '/':
		return parseWebGUI(prog, m)
	case 's':
		if strings.HasPrefix(m, "system,info ") {
			return parseRouterOSConfig(m[len("system,info "):])
		}
	case 'J':
		if strings.HasPrefix(m, "JUNOS ") {
			return parseJunosKernel(prog, m)
		}
	case 'i':
		if strings.HasPrefix(m, "id=firewall ") {
			return parseSonicWall(m)
		}
	case '0', '1':
		if len(m) > 2 && m[1] == ',' {
			return parsePANOS(m)
		}
	}
	return Event{}, false
}

// Helpers shared by the parsers.

// quoted returns s without one pair of surrounding single or double quotes.
func quoted(s string) string {
	if len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'' || s[0] == '"' && s[len(s)-1] == '"') {
		return s[1 : len(s)-1]
	}
	return s
}

// fieldAfter returns the value following key (for example " rhost=") up to
// the next space, "" when absent.
func fieldAfter(s, key string) string {
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	v := s[i+len(key):]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// validAddr reports whether s can be a remote address or host name.
func validAddr(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isTagChar(c) || c == ':' || c == '[' || c == ']' || c == '%') {
			return false
		}
	}
	return true
}

// hostPort splits dropbear's "A:P", "[A]:P" or "<A:P>".
func hostPort(s string) string {
	s = strings.Trim(s, "<>")
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			return s[1:i]
		}
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && allDigits(s[i+1:]) {
		return s[:i]
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
