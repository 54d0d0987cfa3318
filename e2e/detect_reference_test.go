package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// TestRealisticAlertsMatchReference (issue 19): the alerts the collector
// raises on a realistic log, shipped by the real agent over mTLS and
// detected in its batched rounds (offered at commit, grouped, saved in
// multi-row upserts), are exactly those a slow reference raises: a fresh
// engine with the collector's default rules, given the same stored
// records one at a time, each alert kept at its last state. Compared
// by kind, device, key, severity, first time and count; log_access (the
// test's own reads) and the timer rules (heartbeat) are left out.
func TestRealisticAlertsMatchReference(t *testing.T) {
	skipShort(t)
	const lines = 150_000
	dir := t.TempDir()
	logf := filepath.Join(dir, "auth.log")
	writeBenchInput(t, logf, "realistic", lines)
	db := filepath.Join(t.TempDir(), "store.db")
	p := newPKI(t, "bastion")
	in := startIngest(t, p, db, "127.0.0.1:0")
	ag := startAgent(t, p, "bastion", in.addr, "-tail", logf, "-start-at", "beginning", "-no-clock", "-no-watch")
	source := "file:" + logf
	lag := newLagWatch(t, db)
	waitFor(t, 3*time.Minute, "every line stored and detected", func() bool {
		if ag.exited() {
			t.Fatalf("agent exited: %s", ag.out.String())
		}
		if count(t, db, "-source", source) < lines {
			return false
		}
		s := lag.poll()
		return s.detected == s.stored
	})
	ag.stop()
	in.stop()

	ctx := context.Background()
	st, err := sqlite.OpenReadOnly(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.Alerts(ctx, store.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range stored {
		if comparable(a.Kind) {
			got = append(got, alertLine(a.Kind, a.Device, a.Key, a.Severity, a.First, a.Count))
		}
	}

	cfg := config.Default()
	dc, err := cfg.DetectConfig()
	if err != nil {
		t.Fatal(err)
	}
	eng := detect.New(dc)
	last := map[string]detect.Alert{}
	n := 0
	for rec, err := range st.Records(ctx, store.RecordQuery{Device: "bastion"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, a := range eng.Observe(detect.FromRecord(rec)) {
			last[a.ID] = a
		}
	}
	var want []string
	for _, a := range last {
		if comparable(a.Kind) {
			want = append(want, alertLine(a.Kind, a.Device, a.Key, a.Severity, a.First, a.Count))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	kinds := map[string]int{}
	for _, a := range stored {
		kinds[a.Kind]++
	}
	t.Logf("%d records; %d alerts stored, %d raised by the reference; stored by kind: %v", n, len(got), len(want), kinds)
	if len(want) < 100 || kinds[detect.AlertBruteForce] == 0 || kinds[detect.AlertAuthSuccess] == 0 {
		t.Fatalf("the reference raised %d alerts (%v): the input exercises too little", len(want), kinds)
	}
	if !slices.Equal(got, want) {
		extra, missing := diff(got, want)
		t.Errorf("the collector's alerts differ from the reference: %d only stored, %d only in the reference\nonly stored: %.20q\nonly reference: %.20q",
			len(extra), len(missing), extra, missing)
	}
}

func comparable(kind string) bool {
	switch kind {
	case detect.AlertLogAccess, detect.AlertHeartbeatMissing, detect.AlertHeartbeatResumed:
		return false
	}
	return true
}

func alertLine(kind, device, key, severity string, first time.Time, count int) string {
	return fmt.Sprintf("%s device=%s key=%q severity=%s first=%s count=%d", kind, device, key, severity, first.UTC().Format(time.RFC3339Nano), count)
}

// diff returns what is only in a and only in b (sorted multisets).
func diff(a, b []string) (onlyA, onlyB []string) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			onlyA = append(onlyA, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			onlyB = append(onlyB, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}
