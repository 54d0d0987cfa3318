// Package loggen generates realistic security log lines for benchmarks and
// load tests: a seeded, reproducible mix of the lines a busy bastion host or
// edge router writes (sshd failures and logins, brute-force bursts, PAM
// sessions, sudo, cron, kernel, systemd, and Cisco IOS, Junos and FortiOS
// appliance lines in their own formats), each in the RFC 3164-style
// "Mmm dd hh:mm:ss host prog[pid]: msg" framing a syslog server writes to
// its files. The same Config gives the same lines, byte for byte, on every
// machine. It must stay cheap (a few hundred ns per line, no allocation per
// line) so that it never dominates what it feeds; it never reads or writes
// anything but the buffer or writer it is given.
package loggen

import (
	"bufio"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// Kind is one family of lines in a Mix.
type Kind int

// The kinds of line a Mix weighs. Auth kinds are written so that the
// collector's authlog parser reads them as events; the others are the
// traffic around them that no rule reads.
const (
	SSHFailed      Kind = iota // "Failed password for USER from IP" (valid users, some from inside)
	SSHInvalidUser             // "Invalid user X", its failed password, its preauth close
	SSHAccepted                // "Accepted password|publickey for USER from IP"
	SSHOther                   // disconnects and preauth closes, no authentication
	BruteForce                 // a burst of failures from one of a few attacking addresses
	PAMSession                 // pam_unix session opened/closed (sshd, cron, sudo)
	Sudo                       // sudo command lines
	Cron                       // CRON command lines
	Kernel                     // kernel lines: firewall drops, link, OOM
	Systemd                    // systemd and systemd-logind unit/session lines
	Cisco                      // Cisco IOS: %SEC_LOGIN, %SEC-6-IPACCESSLOGP, %LINEPROTO
	Junos                      // Junos: SSHD_LOGIN_FAILED, UI_LOGIN_EVENT, RT_FLOW sessions
	FortiOS                    // FortiOS key=value: traffic, admin logins
	NumKinds                   // the number of kinds, for sizing tables
)

var kindNames = [NumKinds]string{"ssh_failed", "ssh_invalid_user", "ssh_accepted", "ssh_other",
	"brute_force", "pam_session", "sudo", "cron", "kernel", "systemd", "cisco", "junos", "fortios"}

func (k Kind) String() string {
	if k < 0 || k >= NumKinds {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// Mix weighs each Kind; a kind's share of the lines is its weight over the
// sum. The zero Mix means Bastion.
type Mix [NumKinds]int

// Bastion is a busy internet-facing SSH bastion: about 13 % failed passwords
// (bursts included) and 14 % accepted logins, as in issue 19's sample, with
// sessions, sudo, cron, kernel and systemd lines, and a few appliance lines
// relayed by the same syslog server.
var Bastion = Mix{
	SSHFailed: 60, SSHInvalidUser: 60, SSHAccepted: 140, SSHOther: 80, BruteForce: 40,
	PAMSession: 200, Sudo: 50, Cron: 110, Kernel: 80, Systemd: 100,
	Cisco: 25, Junos: 25, FortiOS: 30,
}

// EdgeRouter is a syslog server in front of edge routers and firewalls:
// mostly flow and traffic lines, with their logins and some Unix hosts.
var EdgeRouter = Mix{
	SSHFailed: 30, SSHInvalidUser: 30, SSHAccepted: 20, SSHOther: 30, BruteForce: 20,
	PAMSession: 40, Sudo: 10, Cron: 30, Kernel: 50, Systemd: 30,
	Cisco: 200, Junos: 200, FortiOS: 310,
}

// Config says what to generate. The zero value is one device's bastion mix
// from 2026-11-22 00:00:00 UTC, a million lines over an hour.
type Config struct {
	Seed    uint64        // the same seed gives the same lines
	Devices int           // hosts named in the lines (bastion-01, rtr-01, mx-01, fw-01, ...); 0: 1
	Start   time.Time     // the first line's time; zero: 2026-11-22 00:00:00 UTC
	Span    time.Duration // the time Lines lines cover (the pace; later lines go on at it); 0: 1 hour
	Lines   int           // the planned number of lines, for the pace; 0: 1,000,000
	Mix     Mix           // the zero Mix: Bastion
}

// Gen is a generator; it is not safe for concurrent use.
type Gen struct {
	rng     *rand.Rand
	cum     [NumKinds]int // cumulative weights
	total   int
	devices int
	start   time.Time
	stepNs  float64 // nanoseconds between two lines
	n       int     // lines generated
	counts  [NumKinds]int

	stampSec int64 // the second stamp holds
	stamp    []byte
	year     string

	scanners []string // external addresses that try passwords
	inside   []string // internal addresses that log in
	burst    burst
	session  int // systemd session numbers
	uptimeUs int64
}

type burst struct {
	left   int // lines left in the current burst
	source string
	device int
	port   int
}

// New returns a generator for c.
func New(c Config) *Gen {
	if c.Devices <= 0 {
		c.Devices = 1
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	}
	if c.Span <= 0 {
		c.Span = time.Hour
	}
	if c.Lines <= 0 {
		c.Lines = 1_000_000
	}
	if c.Mix == (Mix{}) {
		c.Mix = Bastion
	}
	g := &Gen{rng: rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)), devices: c.Devices,
		start: c.Start.UTC(), stepNs: float64(c.Span) / float64(c.Lines), stampSec: -1 << 62,
		session: 1000, uptimeUs: 86400 * 1e6}
	for k, w := range c.Mix {
		if w > 0 {
			g.total += w
		}
		g.cum[k] = g.total
	}
	g.scanners = make([]string, 300)
	for i := range g.scanners {
		g.scanners[i] = g.publicIP()
	}
	g.inside = make([]string, 40)
	for i := range g.inside {
		g.inside[i] = "10.20." + strconv.Itoa(1+g.rng.IntN(8)) + "." + strconv.Itoa(2+g.rng.IntN(250))
	}
	return g
}

var publicFirst = []int{5, 23, 31, 37, 45, 46, 61, 77, 80, 89, 91, 103, 109, 112, 116, 118, 121, 141,
	159, 164, 167, 178, 180, 185, 188, 193, 194, 195, 206, 212, 218, 221, 222}

func (g *Gen) publicIP() string {
	return strconv.Itoa(publicFirst[g.rng.IntN(len(publicFirst))]) + "." + strconv.Itoa(g.rng.IntN(256)) + "." +
		strconv.Itoa(g.rng.IntN(256)) + "." + strconv.Itoa(1+g.rng.IntN(254))
}

// Append appends the next line, newline included, to dst.
func (g *Gen) Append(dst []byte) []byte {
	at := g.start.Add(time.Duration(float64(g.n) * g.stepNs))
	g.n++
	k := g.kind()
	g.counts[k]++
	return g.line(dst, k, at)
}

// Count is how many lines of kind k the generator has produced.
func (g *Gen) Count(k Kind) int {
	if k < 0 || k >= NumKinds {
		return 0
	}
	return g.counts[k]
}

// Write writes the next n lines to w and returns the bytes written.
func (g *Gen) Write(w io.Writer, n int) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var written int64
	buf := make([]byte, 0, 1024)
	for range n {
		buf = g.Append(buf[:0])
		m, err := bw.Write(buf)
		written += int64(m)
		if err != nil {
			return written, err
		}
	}
	return written, bw.Flush()
}

func (g *Gen) kind() Kind {
	r := g.rng.IntN(g.total)
	for k := range NumKinds {
		if r < g.cum[k] {
			return k
		}
	}
	return SSHOther
}

// pick returns an element of s, the first ones far more often (a few
// accounts and addresses make most of the lines, as in real logs).
func pick(g *Gen, s []string) string {
	i := g.rng.IntN(len(s))
	if g.rng.IntN(4) != 0 {
		i = i * i / len(s) // squares bias towards the head
	}
	return s[i]
}
