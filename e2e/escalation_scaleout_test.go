package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store/postgres/pgtest"
)

// TestScaleOutEscalationOnce: two collectors share PostgreSQL with an
// escalation rule. A device's brute-force alert is escalated once, by the
// leader; the leader is killed and the other takes over without sending
// it again; a second device's alert, due after the takeover, is escalated
// once by the new leader.
func TestScaleOutEscalationOnce(t *testing.T) {
	skipShort(t)
	db := pgtest.URL(t)
	dir := t.TempDir()
	p := newPKI(t, "esc-p1", "esc-p2")
	hook := newEscHook(t)
	const after = 3 * time.Second
	cfg := collectorConfig(t, dir, fmt.Sprintf(`alerting:
  sinks:
    - {name: hook, type: webhook, url: %q, min_severity: warning}
  escalate:
    - {after: %s, min_severity: warning, sink: hook}
`, hook.URL, after))
	a := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	waitFor(t, 20*time.Second, "the first collector to lead", func() bool { return strings.Contains(a.out.String(), "leading") })
	b := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	burst := func(dev string) {
		var lines []string
		stamp := time.Now().Format(time.Stamp)
		for i := range 8 {
			lines = append(lines, fmt.Sprintf("%s %s sshd[%d]: Failed password for admin from 198.51.100.23 port %d ssh2", stamp, dev, 4100+i, 50000+i))
		}
		logf := filepath.Join(dir, dev+".log")
		os.WriteFile(logf, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		startAgent(t, p, dev, b.addr, "-tail", logf, "-start-at", "beginning") // to the follower, which stays up
	}
	escalated := func(dev string) map[string]int {
		m := map[string]int{}
		for _, d := range hook.deliveries(dev, true) {
			m[d.GroupID]++
		}
		return m
	}
	burst("esc-p1")
	waitFor(t, 40*time.Second, "esc-p1's escalation", func() bool { return len(escalated("esc-p1")) > 0 })
	time.Sleep(2 * time.Second) // more rounds on the leader
	before := escalated("esc-p1")
	a.kill()
	waitFor(t, 20*time.Second, "the second collector to lead", func() bool { return strings.Contains(b.out.String(), "leading") })
	burst("esc-p2")
	waitFor(t, 40*time.Second, "esc-p2's escalation", func() bool { return len(escalated("esc-p2")) > 0 })
	time.Sleep(2 * after) // the new leader's rounds, had they anything to resend
	for _, dev := range []string{"esc-p1", "esc-p2"} {
		for g, n := range escalated(dev) {
			if n != 1 {
				t.Errorf("%s: alert %s escalated %d times, want once", dev, g, n)
			}
		}
	}
	if after := escalated("esc-p1"); len(after) != len(before) {
		t.Errorf("esc-p1's escalations went from %v to %v after the takeover", before, after)
	}
}
