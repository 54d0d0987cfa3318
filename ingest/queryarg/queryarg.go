// Package queryarg parses what a person types to narrow a query of the
// store, in offbox-ingest's flags and the query API's parameters alike: a
// time bound (RFC 3339 or "10m ago") and a record kind by name. It only
// parses; it never reads a store or writes output (that is ingest/export).
package queryarg

import (
	"fmt"
	"strings"
	"time"

	"github.com/offbox/offbox/internal/recordkind"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// ParseKind reads a record kind's name ("log", "heartbeat" ...; case does
// not matter). Unspecified is not a kind one can ask for.
func ParseKind(s string) (offboxv1.Kind, error) {
	names := recordkind.Names()
	// Upper case on both sides, not strings.EqualFold: the flag has always
	// matched this way, and EqualFold would also take the Kelvin sign for k.
	upper := strings.ToUpper(s)
	for _, n := range names {
		if upper == strings.ToUpper(n) {
			k, _ := recordkind.Parse(n)
			return offboxv1.Kind(k), nil
		}
	}
	return 0, fmt.Errorf("kind %q: want one of %s", s, strings.Join(names, ", "))
}

// ParseSince reads a time bound: RFC 3339, or a duration such as 10m
// meaning that long before now.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time or a duration such as 10m", s)
	}
	return now.Add(-d), nil
}
