// Package recordkind is the one list of record kinds and their names ("log",
// "boot", "heartbeat" ...), shared by the agent's collectors and by the
// collector's rules, exports and query flags. The numbers equal the wire enum
// offbox.v1.Kind and the names are its value names without "KIND_", in lower
// case (a test holds the two together). It imports nothing of offbox, so
// every package may use it; it must never import transport, gRPC or protobuf,
// which the collectors may not link.
package recordkind

import "strconv"

// Kind is the kind of observation a record carries.
type Kind uint8

const (
	Unspecified Kind = iota
	Log
	Boot
	Heartbeat
	Clock
	ConfigChange
	PasswordChange
	AccountChange
	Gap
	AgentStatus
	PasswordAge
)

// names is indexed by Kind.
var names = [...]string{
	Unspecified:    "unspecified",
	Log:            "log",
	Boot:           "boot",
	Heartbeat:      "heartbeat",
	Clock:          "clock",
	ConfigChange:   "config_change",
	PasswordChange: "password_change",
	AccountChange:  "account_change",
	Gap:            "gap",
	AgentStatus:    "agent_status",
	PasswordAge:    "password_age",
}

// String is k's name, or "unknown" for a kind this version has no name for.
func (k Kind) String() string {
	if n, ok := Name(int32(k)); ok {
		return n
	}
	return "unknown"
}

// Name names the wire value v (offbox.v1.Kind); false when this version has
// no name for it. It takes the wire's int32 rather than a Kind so that a
// value from the network is never narrowed onto a known kind first.
func Name(v int32) (string, bool) {
	if v < 0 || int(v) >= len(names) {
		return "", false
	}
	return names[v], true
}

// WireName is Name, or for a wire value this version has no name for its
// decimal number (as the generated enum's String spells it), so a record of
// a newer kind still shows what it was.
func WireName(v int32) string {
	if n, ok := Name(v); ok {
		return n
	}
	return strconv.Itoa(int(v))
}

// Parse is the inverse of Kind.String, exact (case matters); "unknown" is
// not a kind.
func Parse(s string) (Kind, bool) {
	for i, n := range names {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// Names are the names of every kind but Unspecified, in wire order: what a
// filter may ask for.
func Names() []string {
	return append([]string(nil), names[Unspecified+1:]...)
}
