package notify

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// The dispatcher over the real store: alerts saved with their sinks reach
// the receiver once each, and the store records them delivered.
func TestDeliverFromSQLiteStore(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "offbox.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rcv := newReceiver(t)
	rcv.status = func(n int) int {
		if n <= 3 { // the first attempt fails after its retries
			return 503
		}
		return 200
	}
	d := newDispatcher(t, st, SinkConfig{Name: "hook", Type: TypeWebhook, URL: rcv.srv.URL})
	alerts := []store.Alert{alertN(1), alertN(2), alertN(3)}
	save(t, st, time.Now(), alerts, "hook")
	run(t, d)
	d.Kick()
	waitDelivered(t, st)

	_, byGroup := rcv.snapshot()
	for _, a := range alerts {
		if byGroup[a.GroupID] != 1 {
			t.Errorf("%s accepted %d times, want once", a.GroupID, byGroup[a.GroupID])
		}
	}
	stored, err := st.Alerts(context.Background(), store.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(alerts) {
		t.Errorf("store has %d alerts, want %d", len(stored), len(alerts))
	}
	due, err := st.DueDeliveries(context.Background(), "hook", time.Now().Add(time.Hour), 0)
	if err != nil || len(due) != 0 {
		t.Errorf("due after delivery: %v, %v; want none", due, err)
	}
	if s := d.Stats()["hook"]; s.Sent != 3 || s.Failed != 1 {
		t.Errorf("Stats %+v, want Sent 3 Failed 1", s)
	}
}
