package recordkind

import (
	"slices"
	"strings"
	"testing"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TestMatchesWireEnum holds the list to the wire enum: every value of
// offbox.v1.Kind has a name here, the same number, and the same spelling.
func TestMatchesWireEnum(t *testing.T) {
	t.Parallel()
	if got, want := len(names), len(offboxv1.Kind_name); got != want {
		t.Errorf("%d kinds here, %d in offbox.v1.Kind", got, want)
	}
	for v, wire := range offboxv1.Kind_name {
		got, ok := Name(v)
		want := strings.ToLower(strings.TrimPrefix(wire, "KIND_"))
		if !ok || got != want {
			t.Errorf("Name(%d) = %q, %v; want %q (offbox.v1.%s)", v, got, ok, want, wire)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		k    Kind
		want string
	}{
		{Unspecified, "unspecified"},
		{Log, "log"},
		{Boot, "boot"},
		{Heartbeat, "heartbeat"},
		{Clock, "clock"},
		{ConfigChange, "config_change"},
		{PasswordChange, "password_change"},
		{AccountChange, "account_change"},
		{Gap, "gap"},
		{AgentStatus, "agent_status"},
		{PasswordAge, "password_age"},
		{PasswordAge + 1, "unknown"},
		{255, "unknown"},
	}
	for _, tc := range tests {
		if got := tc.k.String(); got != tc.want {
			t.Errorf("Kind(%d).String() = %q, want %q", tc.k, got, tc.want)
		}
		got, ok := Parse(tc.want)
		if tc.want == "unknown" {
			if ok {
				t.Errorf("Parse(%q) = %v, true; want false", tc.want, got)
			}
			continue
		}
		if !ok || got != tc.k {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.want, got, ok, tc.k)
		}
	}
	for _, s := range []string{"", "Log", "LOG", "logs", " log"} {
		if k, ok := Parse(s); ok {
			t.Errorf("Parse(%q) = %v, true; want false", s, k)
		}
	}
	// A wire value out of range is never narrowed onto a known kind.
	for _, v := range []int32{-1, int32(PasswordAge) + 1, 256, 257} {
		if n, ok := Name(v); ok {
			t.Errorf("Name(%d) = %q, true; want false", v, n)
		}
	}
	for v, want := range map[int32]string{1: "log", 10: "password_age", 0: "unspecified", 11: "11", 256: "256", -3: "-3"} {
		if got := WireName(v); got != want {
			t.Errorf("WireName(%d) = %q, want %q", v, got, want)
		}
		if got := offboxv1.Kind(v).String(); v > 10 || v < 0 {
			if got != want {
				t.Errorf("offbox.v1.Kind(%d).String() = %q, want WireName's %q", v, got, want)
			}
		}
	}
	names := Names()
	if slices.Contains(names, "unspecified") || len(names) != int(PasswordAge) || names[0] != "log" {
		t.Errorf("Names() = %v, want every kind but unspecified, from log", names)
	}
	names[0] = "changed"
	if Log.String() != "log" {
		t.Error("Names() hands out the list itself")
	}
}
