package detect

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// AccessInput is one entry of the collector's access trail: a read of its
// data (CLI, API or dashboard), or a refused attempt at one.
type AccessInput struct {
	ID     int64     // the trail's id, kept in Fields["access_id"] (the latest)
	At     time.Time // collector clock
	Who    string    // the operator; WhoUnauthenticated for a refused call
	Via    string    // cli, api, dashboard
	Remote string    // the client's address (host:port) or ""
	What   string    // the command, or "METHOD path?query" (with RefusedPrefix when refused); a RefusalSummary stands for its n calls
}

// The access trail's names for refused calls (as ingest/api writes them).
const (
	WhoUnauthenticated = "unauthenticated"
	RefusedPrefix      = "refused: "
)

// Access groups one access into its log_access alert, like every other
// kind: one alert per operator, way in (via) and method, or for refused
// calls per source address (an IPv6 client's /64) and method, within
// GroupWindow, with a count. A refresh of a page already open joins its
// operator's open alert and opens no new one; a growing count is not news
// (Opened is false), so the sinks hear of a group once, when it opens.
func (e *Engine) Access(in AccessInput) Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	who := in.Who
	if who == "" {
		who = "unknown"
	}
	n := 1
	what, refused := strings.CutPrefix(in.What, RefusedPrefix)
	if count, latest, ok := parseRefusalSummary(in.Who, in.Via, in.What); ok {
		n, what = count, latest // grouped by the method of the calls it counts
	}
	key := who + " " + in.Via + " " + accessMethod(what, in.Via)
	if refused || who == WhoUnauthenticated {
		key = who + " from " + sourceNet(in.Remote) + " " + in.Via + " " + accessMethod(what, in.Via)
	}
	a := LogAccess(who, in.What, in.At)
	a.Key, a.Count = key, n
	a.Opened = false // raise says whether this occurrence opened the group
	a.Fields["via"], a.Fields["remote"], a.Fields["access_id"] = in.Via, in.Remote, strconv.FormatInt(in.ID, 10)
	via := in.Via
	if in.Remote != "" {
		via += " from " + in.Remote
	}
	a.Summary = strings.TrimSpace(who + " read " + in.What + " (" + via + ")")
	return e.raise(a, in.At, in.At, n, nil, nil)
}

// accessMethod is the grouping word of an access: the HTTP method (one of
// the standard ones, else "other": a client names its method and must not
// open a new alert per made-up one) or, for the CLI, the command.
func accessMethod(what, via string) string {
	word, _, _ := strings.Cut(what, " ")
	if via == "cli" {
		if len(word) > 64 {
			return "other"
		}
		return word
	}
	switch word {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE":
		return word
	}
	return "other"
}

// sourceNet is the client a refused call is grouped by: its IP, or the /64
// of an IPv6 address (one host commonly holds a whole /64).
func sourceNet(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	var ip netip.Addr
	if err == nil {
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(remote); err != nil {
		return "unknown"
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// RefusalSummary is the What of one access-trail row standing for n > 1
// refused calls from one address that were not recorded one by one
// (ingest/api rate-limits them), latest describing the last of them
// ("METHOD path?query"). It begins "refused: (", which no recorded request
// does: "(" is not allowed in an HTTP method.
func RefusalSummary(n int, latest string) string {
	return RefusedPrefix + "(" + strconv.Itoa(n) + summaryMid + latest + ")"
}

const summaryMid = " calls, not recorded one by one; the latest "

// RefusalCount is how many calls an access-trail row stands for: n of a
// RefusalSummary by WhoUnauthenticated outside the CLI, else 1.
func RefusalCount(who, via, what string) int {
	n, _, ok := parseRefusalSummary(who, via, what)
	if !ok {
		return 1
	}
	return n
}

func parseRefusalSummary(who, via, what string) (n int, latest string, ok bool) {
	rest, ok := strings.CutPrefix(what, RefusedPrefix+"(")
	if !ok || who != WhoUnauthenticated || via == "cli" {
		return 0, "", false
	}
	digits, rest, ok := strings.Cut(rest, summaryMid)
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return 0, "", false
	}
	return n, strings.TrimSuffix(rest, ")"), true
}
