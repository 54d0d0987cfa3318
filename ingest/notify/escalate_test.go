package notify

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// TestEscalationPayloads: each sink type says an escalation is one; the
// ordinary body does not.
func TestEscalationPayloads(t *testing.T) {
	t.Parallel()
	a := alertN(1)
	for _, esc := range []bool{false, true} {
		o := Origin{Collector: "c1", Escalation: esc}
		b, _ := WebhookBody(a, o)
		var m map[string]any
		json.Unmarshal(b, &m)
		if got, _ := m["escalation"].(bool); got != esc {
			t.Errorf("webhook escalation=%v body %s", esc, b)
		}
		b, _ = SlackBody(a, o)
		if got := strings.Contains(string(b), "ESCALATION"); got != esc {
			t.Errorf("slack escalation=%v body %s", esc, b)
		}
		b, _ = AlertmanagerBody(a, o)
		if got := strings.Contains(string(b), `"offbox_escalation":"true"`); got != esc {
			t.Errorf("alertmanager escalation=%v body %s", esc, b)
		}
	}
}

// TestCheckEscalate: each problem of a rule is named with its key.
func TestCheckEscalate(t *testing.T) {
	t.Parallel()
	sinks := []SinkConfig{{Name: "oncall", Type: TypeWebhook, URL: "http://127.0.0.1:1"}}
	if err := CheckEscalate([]EscalateRule{{After: time.Minute, MinSeverity: "warning", Sink: "oncall"}, {After: time.Second, Sink: "oncall"}}, sinks); err != nil {
		t.Errorf("good rules: %v", err)
	}
	err := CheckEscalate([]EscalateRule{{Sink: "pager"}, {After: time.Minute, MinSeverity: "high"}}, sinks)
	for _, want := range []string{`alerting.escalate[0].after 0s: must be positive`, `alerting.escalate[0].sink "pager": no sink of that name`,
		`alerting.escalate[1].min_severity "high"`, `alerting.escalate[1].sink: required`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	if _, err := New(Config{Outbox: newFakeOutbox(), Sinks: sinks, Escalate: []EscalateRule{{After: time.Minute, Sink: "oncall"}}}); err == nil {
		t.Error("New with rules and no escalator succeeded")
	}
}

// TestEscalateFromSQLiteStore: the dispatcher over the real store sends
// an open alert once more, marked, once its rule's after has passed since
// it opened, and not an acknowledged one; again rounds send nothing more.
func TestEscalateFromSQLiteStore(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "offbox.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rcv := newReceiver(t)
	sinks := []SinkConfig{{Name: "oncall", Type: TypeWebhook, URL: rcv.srv.URL}}
	opened := time.Now()
	save(t, st, opened, []store.Alert{alertN(1), alertN(2)}) // stored only: no ordinary delivery
	as, _ := st.Alerts(context.Background(), store.AlertQuery{})
	var acked int64
	for _, a := range as {
		if a.GroupID == alertN(2).GroupID {
			acked = a.ID
		}
	}
	if _, err := st.TransitionAlerts(context.Background(), []int64{acked}, store.Transition{Action: store.ActionAck, Who: "alice"}); err != nil {
		t.Fatal(err)
	}
	const after = 300 * time.Millisecond
	d, err := New(Config{Sinks: sinks, Outbox: st, Escalator: st, Logger: testLogger(), Poll: 50 * time.Millisecond,
		Escalate: []EscalateRule{{After: after, MinSeverity: "warning", Sink: "oncall"}}})
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	waitFor(t, "the escalation", func() bool { return rcv.acceptedCount() == 1 })
	time.Sleep(300 * time.Millisecond) // more rounds
	got, byKey := rcv.snapshot()
	if len(got) != 1 || byKey[alertN(1).GroupID+"/escalation"] != 1 {
		t.Fatalf("received %d, by key %v; want alert 1's escalation once", len(got), byKey)
	}
	if m := decodeWebhook(t, got[0].Body); m["escalation"] != true || m["group_id"] != alertN(1).GroupID {
		t.Errorf("escalation body %s", got[0].Body)
	}
	if el := time.Since(opened); el < after {
		t.Errorf("escalated %s after opening, before after (%s)", el, after)
	}
}
