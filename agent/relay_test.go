package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TestApplianceChain: records emitted to an appliance's emitter go out on
// a stream of their own as the appliance's chain (device fw1, relay sw1,
// sequence from 1), signed with the agent's key, never in the agent's
// own chain; the appliance's queue is lent by the agent's budget.
func TestApplianceChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		id, pub := testIdentity(t)
		relayIngest := newFakeIngest(t, pub)
		h := newHarness(t, func(c *Config) {
			c.Identity = func() (Identity, error) { return id, nil }
			c.RelayDialer = relayIngest
		})
		h.ingest = newFakeIngest(t, pub)
		h.agent.s.dial = h.ingest
		em, err := h.agent.Appliance("fw1")
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := h.agent.Appliance("fw1"); again != em {
			t.Error("a second Appliance(fw1) made another chain")
		}
		if _, err := h.agent.Appliance("sw1"); err == nil {
			t.Error("the agent's own name was made an appliance")
		}
		if got, want := h.agent.q.reserved(), ApplianceBudget(DefaultMemoryBudget); got != want {
			t.Errorf("reserved %d bytes of the budget, want %d", got, want)
		}
		h.start()
		for i := range 5 {
			if err := em.Emit(context.Background(), collectors.Record{Kind: collectors.KindLog, Source: "relay:udp:x", Body: []byte("fw1 line " + string(rune('0'+i)))}); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		h.emit("own line")
		synctest.Wait()
		h.stop()

		stored, _ := relayIngest.snapshot()
		if got := logBodies(stored); len(got) != 5 || !strings.HasPrefix(got[0], "fw1 line") {
			t.Errorf("appliance chain holds %q, want fw1's 5 lines", got)
		}
		for i, b := range stored {
			hd := b.GetHeader()
			if hd.GetDeviceId() != "fw1" || hd.GetRelay() != "sw1" || hd.GetSeq() != uint64(i+1) || string(hd.GetKeyId()) != string(id.KeyID) {
				t.Errorf("appliance batch %d: device %q relay %q seq %d", i, hd.GetDeviceId(), hd.GetRelay(), hd.GetSeq())
			}
		}
		own, _ := h.ingest.snapshot()
		for _, l := range logBodies(own) {
			if strings.HasPrefix(l, "fw1") {
				t.Errorf("the agent's own chain holds fw1's line %q", l)
			}
		}
		for _, b := range own {
			if b.GetHeader().GetRelay() != "" || b.GetHeader().GetDeviceId() != "sw1" {
				t.Errorf("own batch names device %q relay %q", b.GetHeader().GetDeviceId(), b.GetHeader().GetRelay())
			}
		}
		if st := h.agent.ApplianceStats()["fw1"]; st.SentRecords != 5 {
			t.Errorf("fw1 sent %d records, want 5", st.SentRecords)
		}
	})
}

// TestApplianceBudget: appliance queues are lent by the agent's budget; when
// it has no room for another, the appliance is refused with what to change,
// never made unbounded.
func TestApplianceBudget(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MemoryBudget = 1 << 20 }) // 256 KiB each: 3/4 lends 3
	for _, name := range []string{"a1", "a2", "a3"} {
		if _, err := h.agent.Appliance(name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	_, err := h.agent.Appliance("a4")
	if err == nil || !strings.Contains(err.Error(), "memory_budget") {
		t.Errorf("a fourth appliance in a 1 MiB budget: %v, want refused naming memory_budget", err)
	}
	if got := h.agent.q.reserved(); got != 3*ApplianceBudget(1<<20) {
		t.Errorf("reserved %d, want %d", got, 3*ApplianceBudget(1<<20))
	}
}

// TestApplianceChainNewKey: when the relay's certificate is renewed, an
// appliance's chain seals nothing with the new key on the session opened
// with the old one: it reconnects (on a connection with the new
// certificate) and goes on from the collector's head.
func TestApplianceChainNewKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		id, pub := testIdentity(t)
		id2, pub2 := testIdentity(t)
		var mu sync.Mutex
		cur := id
		relayIngest := newFakeIngest(t, pub)
		h := newHarness(t, func(c *Config) {
			c.Identity = func() (Identity, error) { mu.Lock(); defer mu.Unlock(); return cur, nil }
			c.RelayDialer = relayIngest
		})
		mainIngest := newFakeIngest(t, pub)
		h.agent.s.dial = mainIngest
		em, err := h.agent.Appliance("fw1")
		if err != nil {
			t.Fatal(err)
		}
		h.start()
		emit := func(s string) {
			if err := em.Emit(context.Background(), collectors.Record{Kind: collectors.KindLog, Source: "relay:udp:x", Body: []byte(s)}); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		emit("before 1")
		emit("before 2")
		mu.Lock()
		cur = id2
		mu.Unlock()
		for _, in := range []*fakeIngest{relayIngest, mainIngest} {
			in.mu.Lock()
			in.pub = pub2
			in.mu.Unlock()
		}
		emit("after 1")
		emit("after 2")
		h.stop()

		stored, _ := relayIngest.snapshot()
		if got := logBodies(stored); strings.Join(got, ",") != "before 1,before 2,after 1,after 2" {
			t.Errorf("stored %q", got)
		}
		for _, b := range stored {
			after := strings.HasPrefix(logBodies([]*offboxv1.Batch{b})[0], "after")
			if want := map[bool][]byte{false: id.KeyID, true: id2.KeyID}[after]; string(b.GetHeader().GetKeyId()) != string(want) {
				t.Errorf("batch %d signed with the wrong key", b.GetHeader().GetSeq())
			}
		}
		relayIngest.mu.Lock()
		opens := len(relayIngest.opens)
		relayIngest.mu.Unlock()
		if opens != 2 {
			t.Errorf("%d sessions, want 2: the new key needs a new one", opens)
		}
	})
}
