package agent

import (
	"testing"
	"testing/synctest"
	"time"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TestThrottleExtendsAckWait: a Throttle from the collector says acks come
// up to retry_after later; the agent must wait that much longer for the
// oldest ack instead of timing out and reconnecting into the same limit.
// The extension is bounded: with no ack and no further Throttle, the
// agent still gives up after the ack timeout plus retry_after.
func TestThrottleExtendsAckWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.AckTimeout = 10 * time.Second })
		gate := make(chan struct{})
		h.ingest.setGate(gate)
		h.start()
		synctest.Wait() // "agent started" is in flight, its ack held
		h.ingest.mu.Lock()
		st := h.ingest.current
		h.ingest.mu.Unlock()
		st.in <- &offboxv1.CollectorMessage{Msg: &offboxv1.CollectorMessage_Throttle{Throttle: &offboxv1.Throttle{
			RetryAfterMs: 30_000, Reason: "over the rate limit of 10 records/s"}}}
		time.Sleep(39 * time.Second) // past the ack timeout, inside timeout + retry_after
		synctest.Wait()
		h.ingest.mu.Lock()
		n := len(h.ingest.opens)
		h.ingest.mu.Unlock()
		if n != 1 {
			t.Errorf("%d sessions after a Throttle of 30s with an ack timeout of 10s, want 1 (no reconnect)", n)
		}
		if got := h.agent.Stats().Throttled; got != 1 {
			t.Errorf("Stats().Throttled = %d, want 1", got)
		}
		time.Sleep(2 * time.Second) // 41s: timeout + retry_after is over
		synctest.Wait()
		h.ingest.mu.Lock()
		n = len(h.ingest.opens)
		h.ingest.mu.Unlock()
		if n != 2 {
			t.Errorf("%d sessions 41s into a held ack (timeout 10s + retry_after 30s), want 2: the extension must be bounded", n)
		}
		h.ingest.kill()
		h.ingest.setGate(nil)
		h.stop()
	})
}
