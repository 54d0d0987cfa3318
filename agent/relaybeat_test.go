package agent

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// heartbeatsOf returns the attributes of the heartbeats in batches.
func heartbeatsOf(bs []*offboxv1.Batch) []map[string]string {
	var out []map[string]string
	for _, b := range bs {
		for _, r := range b.GetRecords() {
			if r.GetKind() != offboxv1.Kind_KIND_HEARTBEAT {
				continue
			}
			m := map[string]string{}
			for _, a := range r.GetAttrs() {
				m[a.GetKey()] = a.GetValue()
			}
			out = append(out, m)
		}
	}
	return out
}

// TestApplianceHeartbeats: at every heartbeat of the relay (sw1), each
// listed appliance's chain gets a heartbeat of its own, signed as the
// appliance's chain, saying it is sw1's, at sw1's interval, with the
// appliance's messages, bytes and drops since start and when it was last
// heard (absent before its first message); an appliance taken off the
// list is no longer heartbeated, and one put back is again.
func TestApplianceHeartbeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		id, pub := testIdentity(t)
		relayIngest := newFakeIngest(t, pub)
		h := newHarness(t, func(c *Config) {
			c.Identity = func() (Identity, error) { return id, nil }
			c.RelayDialer = relayIngest
			c.Heartbeat = 10 * time.Second
		})
		h.ingest = newFakeIngest(t, pub)
		h.agent.s.dial = h.ingest
		em, err := h.agent.Appliance("fw1")
		if err != nil {
			t.Fatal(err)
		}
		h.start()
		synctest.Wait()
		time.Sleep(10*time.Second + time.Millisecond) // heartbeat 1: fw1 never heard
		synctest.Wait()
		heard := time.Now()
		for _, body := range []string{"one", "three"} {
			if err := em.Emit(context.Background(), collectors.Record{Kind: collectors.KindLog, Source: "relay:udp:x", Body: []byte(body)}); err != nil {
				t.Fatal(err)
			}
		}
		if !em.TryEmit(collectors.Record{Kind: collectors.KindLog, Source: "relay:udp:x", Body: []byte("a")}) {
			t.Fatal("TryEmit refused")
		}
		synctest.Wait()
		time.Sleep(10 * time.Second) // heartbeat 2
		synctest.Wait()
		h.agent.RelayOnly([]string{"fw2"})
		time.Sleep(20 * time.Second) // heartbeats 3, 4: fw1 not listed
		synctest.Wait()
		if again, _ := h.agent.Appliance("fw1"); again != em {
			t.Error("Appliance(fw1) after RelayOnly made another chain")
		}
		time.Sleep(10 * time.Second) // heartbeat 5: listed again
		synctest.Wait()
		h.stop()

		stored, _ := relayIngest.snapshot()
		for _, b := range stored {
			if hd := b.GetHeader(); hd.GetDeviceId() != "fw1" || hd.GetRelay() != "sw1" {
				t.Errorf("appliance batch of device %q relay %q", hd.GetDeviceId(), hd.GetRelay())
			}
		}
		beats := heartbeatsOf(stored)
		if len(beats) != 3 {
			t.Fatalf("fw1's chain has %d heartbeats, want 3 (listed at 10s, 20s and 50s, not at 30s, 40s): %v", len(beats), beats)
		}
		for _, b := range beats {
			if b["relay"] != "sw1" || b["heartbeat_interval"] != "10s" {
				t.Errorf("heartbeat relay %q interval %q, want sw1, 10s", b["relay"], b["heartbeat_interval"])
			}
			if _, ok := b["boot_id"]; ok {
				t.Error("an appliance heartbeat carries the relay's boot_id: the collector would take it for the appliance's")
			}
		}
		if v, ok := beats[0]["appliance_last_heard"]; ok || beats[0]["appliance_messages"] != "0" {
			t.Errorf("before its first message: last heard %q, messages %q; want none, 0", v, beats[0]["appliance_messages"])
		}
		b := beats[1]
		if b["appliance_messages"] != "3" || b["appliance_bytes"] != "9" || b["appliance_dropped"] != "0" || b["sent_records"] != "4" { // heartbeat 1 and the 3 lines
			t.Errorf("after 3 messages of 9 bytes (and heartbeat 1 sent): %v", b)
		}
		if b["appliance_last_heard"] != heard.UTC().Format(time.RFC3339Nano) {
			t.Errorf("last heard %q, want %s", b["appliance_last_heard"], heard.UTC().Format(time.RFC3339Nano))
		}
		own, _ := h.ingest.snapshot()
		for _, b := range heartbeatsOf(own) {
			if _, ok := b["relay"]; ok {
				t.Errorf("the relay's own chain holds an appliance heartbeat %v", b)
			}
		}
		if got := len(heartbeatsOf(own)); got != 5 {
			t.Errorf("the relay's own chain has %d heartbeats, want 5", got)
		}
	})
}

// TestApplianceEmitterDrops: a message the appliance's queue has no room
// for is counted as the appliance's drop, whichever way it was offered,
// and still counts as heard.
func TestApplianceEmitterDrops(t *testing.T) {
	now := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	q := newQueue(queueConfig{budget: 4 << 10, maxBytes: 4 << 10, maxRecords: 100, maxDelay: time.Hour, idleDelay: time.Hour, now: func() time.Time { return now }})
	e := &applianceEmitter{q: q, now: func() time.Time { return now }}
	big := collectors.Record{Kind: collectors.KindLog, Source: "relay:udp:x", Body: []byte(strings.Repeat("x", 3<<10))}
	if !e.Offer(big) {
		t.Fatal("the first message refused")
	}
	if e.Offer(big) || e.TryEmit(big) {
		t.Fatal("a full queue took more")
	}
	if m, b, d := e.messages.Load(), e.bytes.Load(), e.dropped.Load(); m != 1 || b != 3<<10 || d != 2 {
		t.Errorf("messages %d bytes %d dropped %d, want 1, 3072, 2", m, b, d)
	}
	if got := time.Unix(0, e.lastHeard.Load()); !got.Equal(now) {
		t.Errorf("last heard %v, want %v", got, now)
	}
}
