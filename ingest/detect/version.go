package detect

import (
	"strconv"
	"strings"
	"time"
)

// CompareVersions orders two firmware version strings as collectors/boot
// reports them: -1 if a is older than b, 0 if they are the same release, +1
// if a is newer. It never fails: any two strings compare.
//
// Each string is reduced on its own to a list of tokens, and the lists are
// compared token by token, so the order is a total preorder:
// CompareVersions(a, a) == 0 and compareVersions(a, b) ==
// -compareVersions(b, a) for every a and b.
//
//   - Letters are compared case-insensitively; a leading "v" is dropped.
//   - Digits compare as numbers of any length ("10" > "9", "05" == "5").
//   - A whitespace-separated field that is an RFC 3339 time (Raspberry Pi
//     bootloader stamps) becomes year, month, day, hour, minute, second,
//     nanosecond in UTC, so zone offsets compare correctly.
//   - A field that looks like a commit hash (7 or more hex digits with at
//     least one letter and one digit, optionally after "g" as git describe
//     writes it) is dropped: OpenWrt "23.05.3 r23809-234f1a2efa" and SONiC
//     "SONiC.202311.540346-fbd3e6b2e" order by release and build number,
//     and two builds differing only in their hash are the same release.
//   - Pre-release words (alpha, beta, rc, pre, preview, dev, snapshot) and
//     Debian's "~" sort before the end of the string, so "1.2.0-rc1" <
//     "1.2.0" < "1.2.0.1"; other words sort after it ("1.0.2a" > "1.0.2",
//     "23.05.3 r23809" > "23.05.3"), and numbers sort after words.
func CompareVersions(a, b string) int {
	ta, tb := versionTokens(a), versionTokens(b)
	for i := 0; ; i++ {
		var x, y vtoken
		if i < len(ta) {
			x = ta[i]
		}
		if i < len(tb) {
			y = tb[i]
		}
		if i >= len(ta) && i >= len(tb) {
			return 0
		}
		if c := x.compare(y); c != 0 {
			return c
		}
	}
}

// Token ranks: the order of token classes at one position. The zero vtoken
// is the end of the string.
const (
	rankPre   = -1 // pre-release word or "~"
	rankEnd   = 0  // no more tokens
	rankWord  = 1  // any other letters
	rankDigit = 2  // a number
)

type vtoken struct {
	rank int
	text string // digits without leading zeros, or lower-case letters
}

func (t vtoken) compare(u vtoken) int {
	rt, ru := t.rank, u.rank
	switch {
	case rt != ru:
		return sign(rt - ru)
	case rt == rankDigit && len(t.text) != len(u.text):
		return sign(len(t.text) - len(u.text))
	}
	return strings.Compare(t.text, u.text)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

var preWords = map[string]bool{"alpha": true, "beta": true, "rc": true, "pre": true,
	"preview": true, "dev": true, "snapshot": true}

const maxVersionTokens = 64 // a version longer than this compares on its first 64 tokens

// versionTokens reduces one version string to its comparable tokens.
func versionTokens(s string) []vtoken {
	var out []vtoken
	for _, field := range strings.Fields(s) {
		if t, err := time.Parse(time.RFC3339Nano, field); err == nil {
			t = t.UTC()
			for _, n := range []int{t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()} {
				out = append(out, digitToken(strconv.Itoa(n)))
			}
			continue
		}
		out = appendFieldTokens(out, field)
		if len(out) >= maxVersionTokens {
			return out[:maxVersionTokens]
		}
	}
	if len(out) > 0 && out[0].rank == rankWord && out[0].text == "v" {
		out = out[1:]
	}
	return out
}

// appendFieldTokens splits one field at every byte that is not a letter,
// digit or "~", drops hash-like parts, and splits the rest into runs of
// digits and runs of letters.
func appendFieldTokens(out []vtoken, field string) []vtoken {
	for part := range strings.FieldsFuncSeq(field, func(r rune) bool { return !isAlnum(r) && r != '~' }) {
		if isHash(part) {
			continue
		}
		for i := 0; i < len(part); {
			c := lower(part[i])
			j := i + 1
			switch {
			case c == '~':
				out = append(out, vtoken{rank: rankPre, text: "~"})
			case isDigit(c):
				for j < len(part) && isDigit(part[j]) {
					j++
				}
				out = append(out, digitToken(part[i:j]))
			default:
				for j < len(part) && isLetter(lower(part[j])) {
					j++
				}
				w := strings.ToLower(part[i:j])
				r := rankWord
				if preWords[w] {
					r = rankPre
				}
				out = append(out, vtoken{rank: r, text: w})
			}
			i = j
		}
	}
	return out
}

func digitToken(d string) vtoken {
	d = strings.TrimLeft(d, "0")
	return vtoken{rank: rankDigit, text: d}
}

// isHash reports whether a part is a commit hash: at least 7 hex digits,
// with a letter and a digit, optionally prefixed by git describe's "g".
func isHash(p string) bool {
	if len(p) > 8 && (p[0] == 'g' || p[0] == 'G') && isHash(p[1:]) {
		return true
	}
	if len(p) < 7 {
		return false
	}
	var letter, digit bool
	for i := 0; i < len(p); i++ {
		c := lower(p[i])
		switch {
		case isDigit(c):
			digit = true
		case c >= 'a' && c <= 'f':
			letter = true
		default:
			return false
		}
	}
	return letter && digit
}

func isAlnum(r rune) bool {
	return r < 0x80 && (isDigit(byte(r)) || isLetter(lower(byte(r))))
}
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' }
func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
