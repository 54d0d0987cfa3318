package alerts

import (
	"context"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
)

// TestResolvedAlertReopens: an operator resolves an auth_failure alert;
// another failure of the same group arrives; detection grows the same
// alert, which reopens with a reopen transition by offbox-ingest, the
// operator's resolution kept before it.
func TestResolvedAlertReopens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.runner()
	f.commit(authLine(t0, "sshd[100]: Failed password for root from 203.0.113.9 port 4242 ssh2"))
	f.drain(r, false)
	af := f.alerts(detect.AlertAuthFailure)
	if len(af) != 1 || af[0].State != store.StateOpen {
		t.Fatalf("auth_failure alerts = %+v, want one open", af)
	}
	ctx := context.Background()
	if _, err := f.st.TransitionAlerts(ctx, []int64{af[0].ID}, store.Transition{Action: store.ActionResolve, Who: "alice", Comment: "typo"}); err != nil {
		t.Fatal(err)
	}
	f.commit(authLine(t0.Add(30*time.Second), "sshd[101]: Failed password for root from 203.0.113.9 port 4243 ssh2"))
	f.drain(r, false)
	again := f.alerts(detect.AlertAuthFailure)
	if len(again) != 1 || again[0].ID != af[0].ID || again[0].Count != 2 || again[0].State != store.StateOpen {
		t.Fatalf("after firing again: %+v, want alert %d open with count 2", again, af[0].ID)
	}
	h, err := f.st.AlertHistory(ctx, af[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Who != "alice" || h[0].Action != store.ActionResolve || h[1].Action != store.ActionReopen || h[1].Who != store.SystemWho {
		t.Errorf("history = %+v, want alice's resolve then a reopen by %s", h, store.SystemWho)
	}
}
