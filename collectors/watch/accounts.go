package watch

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// secret holds a password hash field read from shadow or passwd, inside a
// closure: no printer can show it (fmt and slog print a func as an address,
// encoding/json skips the unexported field), even with a wrong verb. The
// collector only ever feeds it to a keyed digest.
type secret func() string

func newSecret(s string) secret { return func() string { return s } }

// shadowEntry is one parsed /etc/shadow line. Every exported field is safe to
// display; the hash is only in hash.
type shadowEntry struct {
	User       string
	LastChange int64 // field 3: days since 1970-01-01; -1 when empty or not a number
	Locked     bool  // the hash field starts with ! or *
	NoPassword bool  // the hash field is empty: login without a password
	hash       secret
}

// account is one parsed /etc/passwd line. Every exported field is safe to
// display; the password field (normally "x") is only in pw.
type account struct {
	User       string
	UID, GID   uint32
	Home       string
	Shell      string
	NoPassword bool // the password field is empty: login without a password
	pw         secret
}

// parseShadow parses shadow(5) bytes. Blank lines and # comments are skipped;
// badLines are the 1-based numbers of lines without a user and a hash field
// (never their content: it may hold a hash). The first entry of a user wins,
// as with getspnam(3).
func parseShadow(b []byte) (entries []shadowEntry, badLines []int) {
	seen := make(map[string]bool)
	forEachLine(b, func(n int, line string) {
		f := strings.Split(line, ":")
		if len(f) < 2 || f[0] == "" {
			badLines = append(badLines, n)
			return
		}
		if seen[f[0]] {
			return
		}
		seen[f[0]] = true
		e := shadowEntry{User: f[0], LastChange: -1, hash: newSecret(f[1])}
		e.Locked = strings.HasPrefix(f[1], "!") || strings.HasPrefix(f[1], "*")
		e.NoPassword = f[1] == ""
		if len(f) > 2 {
			if d, err := strconv.ParseInt(f[2], 10, 64); err == nil && d >= 0 && d <= maxDay {
				e.LastChange = d
			}
		}
		entries = append(entries, e)
	})
	return entries, badLines
}

// maxDay bounds a shadow day number so that day arithmetic cannot overflow
// (year 10000 is day 2,932,897).
const maxDay = 1 << 32

// parsePasswd parses passwd(5) bytes: user:password:uid:gid:gecos:home:shell.
// Blank lines and # comments are skipped; lines with fewer than seven fields
// or a uid/gid that is not a 32-bit number are badLines (1-based). The first
// entry of a user wins, as with getpwnam(3).
func parsePasswd(b []byte) (accounts []account, badLines []int) {
	seen := make(map[string]bool)
	forEachLine(b, func(n int, line string) {
		f := strings.Split(line, ":")
		if len(f) < 7 || f[0] == "" {
			badLines = append(badLines, n)
			return
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			badLines = append(badLines, n)
			return
		}
		if seen[f[0]] {
			return
		}
		seen[f[0]] = true
		accounts = append(accounts, account{
			User:       f[0],
			UID:        uint32(uid),
			GID:        uint32(gid),
			Home:       f[5],
			Shell:      strings.Join(f[6:], ":"),
			NoPassword: f[1] == "",
			pw:         newSecret(f[1]),
		})
	})
	return accounts, badLines
}

// forEachLine calls fn with each line of b that is neither blank nor a #
// comment, without its line ending, and its 1-based number.
func forEachLine(b []byte, fn func(n int, line string)) {
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		fn(n, string(line))
	}
}

// dayDate is the date of a shadow day number, "" for -1.
func dayDate(day int64) string {
	if day < 0 {
		return ""
	}
	return time.Unix(day*86400, 0).UTC().Format(time.DateOnly)
}

// epochDay is the number of whole days from 1970-01-01 UTC to t.
func epochDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}
