package authlog

import (
	"strings"
	"time"
)

// header is what precedes the message: its time, the program (syslog tag or
// RFC 5424 APP-NAME, "" if none) and the RFC 5424 MSGID ("" if none).
type header struct {
	time  time.Time
	prog  string
	msgid string
	msg   string
}

// splitHeader strips a syslog header of any of the supported shapes. A line
// it does not recognise is a bare message, possibly still "prog[pid]: msg".
func splitHeader(s string, ref time.Time) header {
	if len(s) > 2 && s[0] == '<' {
		if j := strings.IndexByte(s[:min(len(s), 6)], '>'); j > 1 && allDigits(s[1:j]) {
			s = s[j+1:]
		}
	}
	switch {
	case len(s) > 2 && s[0] >= '1' && s[0] <= '9' && s[1] == ' ':
		if h, ok := split5424(s[2:]); ok {
			return h
		}
	case len(s) > 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && allDigits(s[:4]):
		ts, rest, _ := strings.Cut(s, " ")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err == nil {
			_, rest, _ = strings.Cut(rest, " ") // host
			h := afterHost(rest)
			h.time = t
			return h
		}
	case len(s) > 16 && s[3] == ' ' && monthOf(s) > 0:
		if t, rest, ok := stamp3164(s, ref); ok {
			h := hostAndTag(rest)
			h.time = t
			return h
		}
		// Cisco ASA and Huawei VRP: "Nov 22 2026 18:00:01[:] host ..."
		if h, ok := stampWithYear(s, "Jan _2 2006 15:04:05", ref); ok {
			return h
		}
	case len(s) > 21 && s[4] == ' ' && allDigits(s[:4]) && monthOf(s[5:]) > 0:
		// Cisco NX-OS: "2026 Nov 22 18:00:01 host ..."
		if h, ok := stampWithYear(s, "2006 Jan _2 15:04:05", ref); ok {
			return h
		}
	case len(s) > 25 && s[3] == ' ' && isWeekday(s[:3]) && monthOf(s[4:]) > 0:
		if h, ok := splitLogread(s[4:], ref); ok {
			return h
		}
	}
	return afterHost(s)
}

// split5424 reads "TIMESTAMP HOST APP PROCID MSGID SD [MSG]" (version
// already removed).
func split5424(s string) (header, bool) {
	var f [5]string
	for i := range f {
		var ok bool
		f[i], s, ok = strings.Cut(s, " ")
		if !ok || f[i] == "" {
			return header{}, false
		}
	}
	var h header
	if f[0] != "-" {
		t, err := time.Parse(time.RFC3339Nano, f[0])
		if err != nil {
			return header{}, false
		}
		h.time = t
	}
	if f[2] != "-" {
		h.prog = f[2]
	}
	if f[4] != "-" {
		h.msgid = f[4]
	}
	switch {
	case strings.HasPrefix(s, "-"):
		s = s[1:]
	case strings.HasPrefix(s, "["):
		s = skipSD(s)
	default:
		return header{}, false
	}
	s = strings.TrimPrefix(s, " ")
	h.msg = strings.TrimPrefix(s, "\xEF\xBB\xBF")
	return h, true
}

// skipSD returns what follows the structured-data elements at the start of
// s, honouring quoted values with escaped quotes and brackets.
func skipSD(s string) string {
	i := 0
	for i < len(s) && s[i] == '[' {
		inQuote := false
		i++
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && inQuote {
				i++
				continue
			}
			if c == '"' {
				inQuote = !inQuote
			} else if c == ']' && !inQuote {
				i++
				break
			}
		}
	}
	return s[min(i, len(s)):]
}

func monthOf(s string) time.Month {
	if len(s) < 3 {
		return 0
	}
	switch s[:3] {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}

func isWeekday(s string) bool {
	switch s {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}

// clock reads "Mmm dd hh:mm:ss" (day space-padded or not) and returns the
// parts and what follows the stamp.
func clock(s string) (mon time.Month, day, hh, mm, ss int, rest string, ok bool) {
	mon = monthOf(s)
	if mon == 0 || len(s) < 4 || s[3] != ' ' {
		return
	}
	s = s[4:]
	s = strings.TrimPrefix(s, " ")
	i := 0
	for i < len(s) && i < 2 && isDigit(s[i]) {
		day = day*10 + int(s[i]-'0')
		i++
	}
	if i == 0 || len(s) < i+9 || s[i] != ' ' {
		return
	}
	t := s[i+1 : i+9]
	if t[2] != ':' || t[5] != ':' || !allDigits(t[:2]) || !allDigits(t[3:5]) || !allDigits(t[6:]) {
		return
	}
	hh = int(t[0]-'0')*10 + int(t[1]-'0')
	mm = int(t[3]-'0')*10 + int(t[4]-'0')
	ss = int(t[6]-'0')*10 + int(t[7]-'0')
	if day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return
	}
	return mon, day, hh, mm, ss, s[i+9:], true
}

// stamp3164 reads a year-less "Mmm dd hh:mm:ss " stamp, taking the year and
// location from ref.
func stamp3164(s string, ref time.Time) (time.Time, string, bool) {
	mon, day, hh, mm, ss, rest, ok := clock(s)
	if !ok || !strings.HasPrefix(rest, " ") {
		return time.Time{}, "", false
	}
	loc := ref.Location()
	t := time.Date(ref.Year(), mon, day, hh, mm, ss, 0, loc)
	if !ref.IsZero() && t.Sub(ref) > 7*24*time.Hour {
		t = time.Date(ref.Year()-1, mon, day, hh, mm, ss, 0, loc)
	}
	return t, rest[1:], true
}

// splitLogread reads what follows the weekday of OpenWrt logread
// ("Nov 22 18:00:01 2026 authpriv.info prog[pid]: msg") and of FreeRADIUS's
// radius.log ("Nov 22 18:00:01 2026 : Auth: ...").
func splitLogread(s string, ref time.Time) (header, bool) {
	mon, day, hh, mm, ss, rest, ok := clock(s)
	if !ok || len(rest) < 6 || rest[0] != ' ' || !allDigits(rest[1:5]) {
		return header{}, false
	}
	year := 0
	for _, c := range rest[1:5] {
		year = year*10 + int(c-'0')
	}
	t := time.Date(year, mon, day, hh, mm, ss, 0, ref.Location())
	rest = strings.TrimPrefix(rest[5:], " ")
	if m, ok := strings.CutPrefix(rest, ": "); ok {
		return header{time: t, msg: m}, true
	}
	if fac, after, ok := strings.Cut(rest, " "); ok && strings.IndexByte(fac, '.') > 0 {
		rest = after
	}
	h := afterHost(rest)
	h.time = t
	return h, true
}

// hostAndTag reads "host tag: msg", or "tag: msg" when the host is missing.
func hostAndTag(s string) header {
	first, rest, ok := strings.Cut(s, " ")
	if ok && !strings.HasSuffix(first, ":") {
		s = rest
	}
	return afterHost(s)
}

// afterHost reads an optional "prog[pid]: " tag.
func afterHost(s string) header {
	i := 0
	for i < len(s) && i < 64 && isTagChar(s[i]) {
		i++
	}
	if i == 0 || i == len(s) {
		return header{msg: s}
	}
	j := i
	if s[j] == '(' { // RHEL 4's "sshd(pam_unix)[pid]:"
		k := strings.IndexByte(s[j:], ')')
		if k < 0 || k > 32 || strings.IndexByte(s[j:j+k], ':') >= 0 { // not "pam_unix(sshd:auth):"
			return header{msg: s}
		}
		j += k + 1
	}
	prog := s[:j]
	if j < len(s) && s[j] == '[' {
		k := strings.IndexByte(s[j:], ']')
		if k < 0 {
			return header{msg: s}
		}
		j += k + 1
	}
	if j >= len(s) || s[j] != ':' || notTag(prog) {
		return header{msg: s}
	}
	return header{prog: prog, msg: strings.TrimPrefix(s[j+1:], " ")}
}

// notTag tells words that end in ':' at the start of a message but are not
// program names: log levels, Junos and other upper-case mnemonics, numbers.
func notTag(p string) bool {
	switch p {
	case "error", "fatal", "warning", "Auth", "info", "debug", "notice":
		return true
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'a' && c <= 'z' {
			return false
		}
	}
	return true
}

func isTagChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '/'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// stampWithYear reads a 20-byte stamp of the given layout that carries its
// year, in ref's location, and the optional ':' after it, then the host and
// tag.
func stampWithYear(s, layout string, ref time.Time) (header, bool) {
	if len(s) < 21 {
		return header{}, false
	}
	t, ok := yearStamp(layout, s[:20], ref.Location())
	if !ok {
		return header{}, false
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(s[20:], ":"), " ")
	h := hostAndTag(rest)
	h.time = t
	return h, true
}

// yearStamp is time.ParseInLocation for the two 20-byte layouts
// stampWithYear reads, "Jan _2 2006 15:04:05" and "2006 Jan _2 15:04:05".
// It runs on every line of an ASA, a Huawei or an NX-OS box, so the
// canonical stamp is read by hand, at a tenth of the cost; anything else
// goes to time.ParseInLocation with its leniencies (case, spacing).
// FuzzYearStamp holds the two to the same answers.
func yearStamp(layout, s string, loc *time.Location) (time.Time, bool) {
	if t, ok := fastYearStamp(layout, s, loc); ok {
		return t, true
	}
	t, err := time.ParseInLocation(layout, s, loc)
	return t, err == nil
}

func fastYearStamp(layout, s string, loc *time.Location) (time.Time, bool) {
	var mon, day, year string
	switch {
	case len(s) != 20 || s[11] != ' ':
		return time.Time{}, false
	case layout == "Jan _2 2006 15:04:05" && s[3] == ' ' && s[6] == ' ':
		mon, day, year = s[:3], s[4:6], s[7:11]
	case layout == "2006 Jan _2 15:04:05" && s[4] == ' ' && s[8] == ' ':
		year, mon, day = s[:4], s[5:8], s[9:11]
	default:
		return time.Time{}, false
	}
	m := monthOf(mon)
	if day[0] == ' ' {
		day = day[1:]
	}
	c := s[12:]
	if m == 0 || !allDigits(year) || !allDigits(day) || day[0] == '0' && len(day) == 1 ||
		c[2] != ':' || c[5] != ':' || !allDigits(c[:2]) || !allDigits(c[3:5]) || !allDigits(c[6:]) {
		return time.Time{}, false
	}
	num := func(d string) int {
		n := 0
		for i := 0; i < len(d); i++ {
			n = n*10 + int(d[i]-'0')
		}
		return n
	}
	y, d, hh, mm, ss := num(year), num(day), num(c[:2]), num(c[3:5]), num(c[6:])
	if d < 1 || hh > 23 || mm > 59 || ss > 59 {
		return time.Time{}, false
	}
	t := time.Date(y, m, d, hh, mm, ss, 0, loc)
	if t.Day() != d { // the 31st of a 30-day month
		return time.Time{}, false
	}
	return t, true
}
