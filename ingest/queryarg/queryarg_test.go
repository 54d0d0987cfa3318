package queryarg

import (
	"strings"
	"testing"
	"time"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

func TestParseKind(t *testing.T) {
	t.Parallel()
	for name, v := range map[string]offboxv1.Kind{"log": offboxv1.Kind_KIND_LOG, "agent_status": offboxv1.Kind_KIND_AGENT_STATUS,
		"config_change": offboxv1.Kind_KIND_CONFIG_CHANGE, "password_age": offboxv1.Kind_KIND_PASSWORD_AGE,
		"Heartbeat": offboxv1.Kind_KIND_HEARTBEAT, "GAP": offboxv1.Kind_KIND_GAP} {
		if got, err := ParseKind(name); err != nil || got != v {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", name, got, err, v)
		}
	}
	if _, err := ParseKind("unspecified"); err == nil {
		t.Error("ParseKind accepted unspecified")
	}
	const list = "log, boot, heartbeat, clock, config_change, password_change, account_change, gap, agent_status, password_age"
	for _, bad := range []string{"logs", "", "KIND_LOG", "unknown", "11"} {
		_, err := ParseKind(bad)
		if err == nil || !strings.Contains(err.Error(), "want one of "+list) {
			t.Errorf("ParseKind(%q) err = %v, want the list of kinds", bad, err)
		}
	}
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	tests := map[string]time.Time{
		"10m":                            now.Add(-10 * time.Minute),
		"1h30m":                          now.Add(-90 * time.Minute),
		"2026-11-22T17:00:00Z":           now.Add(-time.Hour),
		"2026-11-22T19:00:00.5+02:00":    now.Add(-time.Hour + 500*time.Millisecond),
		"2026-11-22T17:00:00.000000001Z": now.Add(-time.Hour + 1),
	}
	for in, want := range tests {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5m", "2026-11-22"} {
		if _, err := ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}
