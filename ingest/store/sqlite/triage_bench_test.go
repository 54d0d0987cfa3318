package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// BenchmarkEscalateRound is one escalation round (what the leader runs
// every second per rule) over a store holding open alerts that were all
// escalated already, and one new alert due each round: its cost is the
// new alert's, whatever the number of open alerts.
func BenchmarkEscalateRound(b *testing.B) {
	for _, open := range []int{1000, 20000} {
		b.Run(fmt.Sprint("open=", open), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{Sync: "normal"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			at := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
			rule := store.EscalationRule{After: time.Minute, MinSeverity: store.SeverityWarning, Sink: "oncall"}
			if _, err := s.Escalate(ctx, rule, at); err != nil {
				b.Fatal(err)
			}
			alert := func(i int) store.AlertUpsert {
				return store.AlertUpsert{Alert: store.Alert{GroupID: fmt.Sprint("g", i), Kind: "brute_force",
					Severity: store.SeverityWarning, Device: "r1", Key: fmt.Sprint(i), First: at, Last: at, Count: 1}}
			}
			var ups []store.AlertUpsert
			for i := range open {
				ups = append(ups, alert(i))
			}
			if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: ups, Now: at.Add(time.Second)}); err != nil {
				b.Fatal(err)
			}
			now := at.Add(time.Hour)
			if n, err := s.Escalate(ctx, rule, now); err != nil || n != open {
				b.Fatalf("first round: %d, %v", n, err)
			}
			i := open
			for b.Loop() {
				b.StopTimer()
				i++
				if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{alert(i)}, Now: now}); err != nil {
					b.Fatal(err)
				}
				now = now.Add(2 * time.Minute)
				b.StartTimer()
				if n, err := s.Escalate(ctx, rule, now); err != nil || n != 1 {
					b.Fatalf("round: %d, %v", n, err)
				}
			}
		})
	}
}
