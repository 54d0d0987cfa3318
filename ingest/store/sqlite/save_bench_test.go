package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// BenchmarkSaveAlerts is a detection save as issue 19's realistic run
// makes them: 8,000 groups stored (auth failures and logins by user and
// source, with their evidence), and each save updates 5,600 of them,
// scattered over the table, and opens 50 new ones.
func BenchmarkSaveAlerts(b *testing.B) {
	const stored, touched, opened = 8000, 5600, 50
	ctx := context.Background()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Sync: "normal"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	alert := func(i, round int) store.AlertUpsert {
		src := fmt.Sprintf("203.0.113.%d", i%250)
		a := store.Alert{GroupID: fmt.Sprintf("%064x", i), Kind: "auth_failure", Severity: store.SeverityInfo,
			Device: fmt.Sprint("bastion-0", i%4), Key: fmt.Sprintf("user=u%d source=%s", i, src),
			Summary: fmt.Sprintf("authentication failed for \"u%d\" from %s (password)", i, src),
			Fields:  map[string]string{"user": fmt.Sprint("u", i), "source": src, "method": "password", "program": "sshd", "count": "1"},
			First:   at, Last: at.Add(time.Duration(round) * time.Second), Count: 1 + round,
			FirstReceived: at, LastReceived: at.Add(time.Duration(round) * time.Second)}
		for k := range min(1+round, 24) {
			a.Evidence = append(a.Evidence, store.AlertRef{Device: a.Device, Seq: uint64(1000 + k), Index: 4000 + i%1000})
		}
		return store.AlertUpsert{Alert: a}
	}
	var ups []store.AlertUpsert
	for i := range stored {
		ups = append(ups, alert(i, 0))
	}
	if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: ups, Now: at}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	next, round := stored, 0
	for b.Loop() {
		b.StopTimer()
		round++
		ups = ups[:0]
		for _, i := range rng.Perm(stored)[:touched] {
			ups = append(ups, alert(i, round))
		}
		for range opened {
			ups = append(ups, alert(next, round))
			next++
		}
		b.StartTimer()
		if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: ups, Now: at.Add(time.Duration(round) * time.Second)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(touched+opened)), "ns/alert")
}
