package detect

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A collector restart must not forget a device's firmware: a new engine
// restored from the old one's snapshot still sees the downgrade, and the
// agent restart of a session it already reported is not reported again.
func TestSnapshotRestoreKeepsBaselines(t *testing.T) {
	t.Parallel()
	old := New(Config{})
	feed(old, session(boot(t0, "b1", "2.1.0", "os-release", "m1"), "s1", "b1"))
	feed(old, rec("heartbeat", t0.Add(time.Second), "heartbeat_interval", "5s"))
	snap, ok := old.Snapshot(dev)
	if !ok {
		t.Fatal("no snapshot for a device just seen")
	}
	again, _ := old.Snapshot(dev)
	if !bytes.Equal(snap, again) {
		t.Fatalf("snapshots of an unchanged device differ:\n%s\n%s", snap, again)
	}
	if _, ok := old.Snapshot("nobody"); ok {
		t.Error("snapshot of an unknown device")
	}

	e := New(Config{})
	if err := e.Restore(dev, snap, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Silent for 2.5 × the restored 5 s interval, then a reboot with older firmware.
	if got := kindsOf(e.Tick(t0.Add(2*time.Second + 13*time.Second))); got != AlertHeartbeatMissing {
		t.Errorf("tick after restore raised %q, want heartbeat_missing by the restored 5s interval", got)
	}
	out := feed(e, session(boot(t0.Add(time.Hour), "b2", "2.0.9", "os-release", "m1"), "s2", "b2"))
	for _, want := range []string{AlertFirmwareDowngrade, AlertDeviceReboot, AlertHeartbeatResumed} {
		if len(ofKind(out, want)) == 0 {
			t.Errorf("after restore: %s not raised (got %s)", want, kindsOf(out))
		}
	}
	if err := e.Restore(dev, []byte("{not json"), time.Time{}); err == nil {
		t.Error("Restore accepted a snapshot that is not JSON")
	}
}

// Opened marks the occurrence that opens a group and Escalated one that
// raises its severity; the rest only grow the count.
func TestOpenedAndEscalated(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	var flags []string
	for i := range 6 {
		for _, a := range feed(e, failed(t0.Add(time.Duration(i)*time.Second), "root", attacker)) {
			if a.Kind == AlertAuthFailure {
				flags = append(flags, flagString(a))
			}
		}
	}
	if got, want := strings.Join(flags, ","), "opened,-,-,-,-,-"; got != want {
		t.Errorf("auth_failure flags = %s, want %s", got, want)
	}
	a := e.raise(Alert{Kind: AlertGap, Severity: SeverityInfo, Device: dev}, t0, t0, 1, nil, nil)
	b := e.raise(Alert{Kind: AlertGap, Severity: SeverityCritical, Device: dev}, t0, t0, 1, nil, nil)
	c := e.raise(Alert{Kind: AlertGap, Severity: SeverityWarning, Device: dev}, t0, t0, 1, nil, nil)
	if got := strings.Join([]string{flagString(a), flagString(b), flagString(c)}, ","); got != "opened,escalated,-" {
		t.Errorf("flags = %s, want opened,escalated,-", got)
	}
	if a.ID != b.ID || b.ID != c.ID || b.Severity != SeverityCritical || c.Severity != SeverityCritical {
		t.Errorf("one group expected, severity kept at its highest: %v %v %v", a, b, c)
	}
}

func flagString(a Alert) string {
	switch {
	case a.Opened:
		return "opened"
	case a.Escalated:
		return "escalated"
	}
	return "-"
}

// A collector restart must not forget which crash records a device already
// carried: after a restore, the same records with the next boot are stale.
func TestSnapshotKeepsCrashRecord(t *testing.T) {
	t.Parallel()
	old := New(Config{})
	feed(old, crashBoot(t0, "b1", true, panicLine, panicDump))
	snap, _ := old.Snapshot(dev)
	e := New(Config{})
	if err := e.Restore(dev, snap, t0); err != nil {
		t.Fatal(err)
	}
	out := ofKind(feed(e, crashBoot(t0.Add(time.Hour), "b2", true, panicLine, panicDump)), AlertDeviceReboot)
	if len(out) != 1 || out[0].Summary != "device rebooted" || out[0].Fields["stale_crash_line"] != panicLine {
		t.Errorf("reboot after restore = %+v, want one device_reboot naming the crash record stale", out)
	}
}
