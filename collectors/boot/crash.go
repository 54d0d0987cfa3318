package boot

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// The functions in this file are pure, like those of parse.go: they find the
// reason of a crash in the text of a pstore record and make that text safe
// to carry. Reading the records lives in read.go.

// Crash-line ranks, most telling highest. A panic whose reason names the
// fault (a root fs that cannot be mounted, init killed, a sysrq crash) beats
// everything; "Fatal exception" and its kind only say that an earlier line
// (an oops, a BUG, a lockup) was fatal, so that line beats them.
const (
	rankNone = iota
	rankGenericPanic
	rankOops
	rankCause
	rankPanic
)

// panicPrefix starts the line the kernel's panic() prints.
const panicPrefix = "Kernel panic - not syncing:"

// genericPanics are panic reasons that only repeat an earlier line's verdict.
var genericPanics = []string{
	"Fatal exception", // x86 and arm oops_end/die with panic_on_oops or in interrupt
	"softlockup: hung tasks",
	"hung_task: blocked tasks",
	"Hard LOCKUP",
	"RCU Stall",
	"panic_on_warn set",
	"Oops",
	"Aiee, killing interrupt handler!",
}

// crashCauses are the first lines of the kernel's fault reports, matched at
// the start of a message.
var crashCauses = []string{
	"BUG: ",                    // "BUG: unable to handle page fault", "BUG: kernel NULL pointer dereference", "BUG: KASAN: ..."
	"kernel BUG at ",           // BUG_ON
	"Unable to handle kernel ", // arm, arm64: NULL pointer dereference, paging request
	"general protection fault",
	"divide error: ",
	"invalid opcode: ",
	"double fault: ",
	"stack segment: ",
	"watchdog: BUG: soft lockup",
	"watchdog: Watchdog detected hard LOCKUP",
	"NMI watchdog: Watchdog detected hard LOCKUP",
	"INFO: task ", // hung task: "INFO: task X blocked for more than 120 seconds."
	"rcu: INFO: ",
	"INFO: rcu_",
	"SError Interrupt on CPU",
	"Bad mode in ",
	"mce: [Hardware Error]: ",
	"Internal error: Oops - BUG", // arm64 BUG_ON
}

// crashOopses are the kernel's summary lines of an oops: they say that it
// happened, the cause lines say what.
var crashOopses = []string{
	"Oops: ",
	"Oops - ",
	"Internal error: ",
}

// maxCrashLine bounds the line parseCrashLine returns, in bytes.
const maxCrashLine = 256

// crashLine is what parseCrashLine found in a crash record.
type crashLine struct {
	line  string // the most telling line without its log prefixes, raw bytes (escape it before showing)
	panic bool   // the record says the kernel panicked
	rank  int    // how telling line is: rankNone when there is none
}

// parseCrashLine finds the most telling line of a pstore crash record (the
// kernel log as kmsg_dump wrote it: "<0>[  12.345678] message" lines, maybe
// after a "Panic#1 Part1" header; or a console log without the "<n>"):
// a panic with a specific reason, else the first fault report (BUG, GPF,
// unable to handle, lockup, hung task), else the first oops line, else a
// generic panic line. The first of equally telling lines wins: later faults
// are usually the consequences of the first.
func parseCrashLine(data []byte) crashLine {
	var best crashLine
	first := true
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, "\r")
		if first {
			first = false
			// pstore names the dump reason in the header it puts
			// before a dmesg record: "Panic#3 Part1", "Oops#1 Part1".
			if bytes.HasPrefix(line, []byte("Panic#")) {
				best.panic = true
			}
		}
		msg := bytes.TrimSpace(stripLogPrefix(line))
		rank := rankOf(msg)
		if rank == rankGenericPanic || rank == rankPanic {
			best.panic = true
		}
		if rank > best.rank {
			best.rank, best.line = rank, clipLine(string(msg))
		}
	}
	return best
}

func rankOf(msg []byte) int {
	if reason, ok := bytes.CutPrefix(msg, []byte(panicPrefix)); ok {
		reason = bytes.TrimSpace(reason)
		for _, g := range genericPanics {
			if bytes.HasPrefix(reason, []byte(g)) {
				return rankGenericPanic
			}
		}
		return rankPanic
	}
	for _, c := range crashCauses {
		if bytes.HasPrefix(msg, []byte(c)) {
			return rankCause
		}
	}
	for _, c := range crashOopses {
		if bytes.HasPrefix(msg, []byte(c)) {
			return rankOops
		}
	}
	return rankNone
}

// stripLogPrefix drops what the kernel puts before a message: the syslog
// level ("<0>"), the time stamp ("[  150.321408]") and the caller id
// ("[    T1]", "[  C3]") of CONFIG_PRINTK_CALLER.
func stripLogPrefix(line []byte) []byte {
	if len(line) > 2 && line[0] == '<' {
		if i := bytes.IndexByte(line[:min(len(line), 6)], '>'); i > 1 && isDigits(line[1:i]) {
			line = line[i+1:]
		}
	}
	for n := 0; n < 2; n++ {
		t := bytes.TrimLeft(line, " ")
		if len(t) == 0 || t[0] != '[' {
			break
		}
		end := bytes.IndexByte(t, ']')
		if end < 0 || end > 24 || !isStampish(t[1:end]) {
			break
		}
		line = t[end+1:]
	}
	return bytes.TrimLeft(line, " ")
}

// isStampish reports whether b can sit between the brackets of a printk time
// stamp or caller id: digits, blanks, a dot, and the T or C of a caller id.
func isStampish(b []byte) bool {
	digits := false
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			digits = true
		case c == ' ' || c == '.' || c == 'T' || c == 'C':
		default:
			return false
		}
	}
	return digits
}

// clipLine cuts s to maxCrashLine bytes, on a rune boundary when s is UTF-8.
func clipLine(s string) string {
	if len(s) <= maxCrashLine {
		return s
	}
	cut := maxCrashLine
	for cut > maxCrashLine-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// escapeText makes crash text safe to carry as a JSON string and to show:
// valid UTF-8 stays as it is; each byte of invalid UTF-8 and each control
// character but newline and tab becomes \xNN (C1 controls \u00NN), and a
// backslash is doubled, so the escapes cannot be confused with the text.
// encoding/json would instead turn invalid bytes into U+FFFD, losing them.
func escapeText(b []byte) string {
	var out []byte
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				out = append(out, '\\', '\\')
			case c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f):
				out = append(out, c)
			default:
				out = appendHex(out, `\x`, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			out = appendHex(out, `\x`, c)
		case r >= 0x80 && r <= 0x9f:
			out = appendHex(out, `\u00`, byte(r))
		default:
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return string(out)
}

func appendHex(out []byte, prefix string, c byte) []byte {
	out = append(out, prefix...)
	if c < 0x10 {
		out = append(out, '0')
	}
	return strconv.AppendUint(out, uint64(c), 16)
}
