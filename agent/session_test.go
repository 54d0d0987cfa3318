package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// truncate keeps the first n stored batches, as if the rest never arrived.
func (f *fakeIngest) truncate(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stored, f.storedRaw = f.stored[:n], f.storedRaw[:n]
	f.head = link{}
	if n > 0 {
		d := seal.Digest(f.storedRaw[n-1])
		f.head = link{seq: f.stored[n-1].GetHeader().GetSeq(), hash: d[:]}
	}
}

// replaceHead empties the store and sets another head, as a replaced store
// or another writer of the device's chain would.
func (f *fakeIngest) replaceHead(head link) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stored, f.storedRaw, f.head = nil, nil, head
}

func (f *fakeIngest) setRefuse(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refuse = err
}

func (f *fakeIngest) openCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.opens)
}

func (f *fakeIngest) rawReceived() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.receivedRaw...)
}

// TestReconcileOnWelcome runs a session with three log batches in flight,
// kills it, changes what the collector holds, and checks what the agent
// sends in the next session for each Welcome case of docs/PROTOCOL.md.
func TestReconcileOnWelcome(t *testing.T) {
	otherHash := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		name      string
		change    func(f *fakeIngest)
		wantSeqs  []uint64 // sequence numbers sent in the second session
		unchanged bool     // resent byte for byte; otherwise sealed again
		firstPrev []byte   // prev_hash of the first batch sent again, when sealed again
		stored    []string // log lines the collector holds in the end
	}{
		{name: "head is the last acknowledged batch", change: func(f *fakeIngest) { f.truncate(1) },
			wantSeqs: []uint64{2, 3, 4}, unchanged: true, stored: []string{"l1", "l2", "l3"}},
		{name: "head inside the window", change: func(f *fakeIngest) { f.truncate(3) },
			wantSeqs: []uint64{4}, unchanged: true, stored: []string{"l1", "l2", "l3"}},
		{name: "head is the newest batch in flight", change: func(f *fakeIngest) {},
			wantSeqs: nil, unchanged: true, stored: []string{"l1", "l2", "l3"}},
		{name: "store replaced: head 0", change: func(f *fakeIngest) { f.replaceHead(link{}) },
			wantSeqs: []uint64{1, 2, 3}, firstPrev: nil, stored: []string{"l1", "l2", "l3"}},
		{name: "unknown head of another writer", change: func(f *fakeIngest) { f.replaceHead(link{seq: 10, hash: otherHash}) },
			wantSeqs: []uint64{11, 12, 13}, firstPrev: otherHash, stored: []string{"l1", "l2", "l3"}},
		{name: "head with a known sequence number but another hash", change: func(f *fakeIngest) {
			f.truncate(3)
			f.head.hash = otherHash
		}, wantSeqs: []uint64{4, 5, 6}, firstPrev: otherHash,
			// At least once: what the agent cannot know to be stored is sent again.
			stored: []string{"l1", "l2", "l1", "l2", "l3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.BatchMaxRecords = 1 })
				gate := make(chan struct{})
				h.ingest.setGate(gate)
				h.start()
				synctest.Wait()
				gate <- struct{}{} // batch 1 ("agent started") acknowledged
				for _, l := range []string{"l1", "l2", "l3"} {
					h.emit(l)
				}
				synctest.Wait() // batches 2, 3, 4 stored by the collector, not acknowledged
				before := h.ingest.rawReceived()
				if len(before) != 4 {
					t.Fatalf("%d batches sent in the first session, want 4", len(before))
				}
				h.ingest.kill()
				synctest.Wait()
				tc.change(h.ingest)
				h.ingest.setGate(nil)
				time.Sleep(time.Second) // the reconnect backoff
				synctest.Wait()

				after := h.ingest.rawReceived()[len(before):]
				var seqs []uint64
				for _, raw := range after {
					b, err := seal.Open(raw)
					if err != nil {
						t.Fatal(err)
					}
					seqs = append(seqs, b.GetHeader().GetSeq())
				}
				if !slices.Equal(seqs, tc.wantSeqs) {
					t.Fatalf("second session sent seqs %v, want %v", seqs, tc.wantSeqs)
				}
				byBody := map[string][]byte{} // first-session batch bytes by log line
				for _, raw := range before[1:] {
					b, _ := seal.Open(raw)
					byBody[string(b.GetRecords()[0].GetBody())] = raw
				}
				prev := tc.firstPrev
				for i, raw := range after {
					b, _ := seal.Open(raw)
					orig := byBody[string(b.GetRecords()[0].GetBody())]
					if tc.unchanged {
						if !bytes.Equal(raw, orig) {
							t.Errorf("batch %d was changed, want it resent as it was", seqs[i])
						}
						continue
					}
					if !bytes.Equal(recordsPart(t, raw), recordsPart(t, orig)) {
						t.Errorf("batch %d: record bytes changed in re-sealing", seqs[i])
					}
					if got := b.GetHeader().GetPrevHash(); !bytes.Equal(got, prev) {
						t.Errorf("batch %d: prev_hash %x, want %x", seqs[i], got, prev)
					}
					d := seal.Digest(raw)
					prev = d[:]
				}
				if got := h.ingest.storedBodies(collectors.KindLog); !slices.Equal(got, tc.stored) {
					t.Errorf("stored lines %v, want %v", got, tc.stored)
				}
				if n := h.ingest.breakCount(); n != 0 {
					t.Errorf("%d breaks in the stored chain, want 0", n)
				}
				if st := h.agent.Stats(); st.QueueBytes != 0 {
					t.Errorf("queue holds %d bytes after everything was acknowledged", st.QueueBytes)
				}
				h.stop()
			})
		})
	}
}

// TestRejectedBatch checks REJECTED: the batch's records are counted as
// dropped in the next header and in an agent_status record, the stream is
// closed, and after the reconnect what followed is sealed again from the
// head, so the stored chain has no break.
func TestRejectedBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.BatchMaxRecords = 1 })
		gate := make(chan struct{})
		h.ingest.setGate(gate)
		h.ingest.reject[3] = true
		h.start()
		synctest.Wait()
		for _, l := range []string{"l1", "l2", "l3"} {
			h.emit(l)
		}
		synctest.Wait() // batches 1-4 sent; 3 (l2) will be rejected
		opens := h.ingest.openCount()
		h.ingest.setGate(nil)
		close(gate)
		time.Sleep(time.Second)
		synctest.Wait()
		if n := h.ingest.openCount(); n != opens+1 {
			t.Errorf("%d sessions after the rejection, want one more", n-opens)
		}
		stored, _ := h.ingest.snapshot()
		if got := logBodies(stored); !slices.Equal(got, []string{"l1", "l3"}) {
			t.Errorf("stored lines %v, want l1 l3 (l2 was rejected)", got)
		}
		if n := h.ingest.breakCount(); n != 0 {
			t.Errorf("%d breaks in the stored chain, want 0", n)
		}
		var next *offboxv1.BatchHeader
		for _, b := range stored {
			if b.GetHeader().GetSeq() == 3 {
				next = b.GetHeader()
			}
		}
		if next == nil || next.GetDroppedRecords() != 1 || next.GetDroppedBytes() != 2 {
			t.Errorf("header after the rejection = %v, want seq 3 with dropped_records 1, dropped_bytes 2", next)
		}
		status := h.ingest.storedBodies(collectors.KindAgentStatus)
		if !slices.ContainsFunc(status, func(s string) bool { return strings.Contains(s, "batch 3 rejected") }) {
			t.Errorf("agent_status records %q, want one about batch 3 being rejected", status)
		}
		if st := h.agent.Stats(); st.DroppedRecords != 1 || st.DroppedBytes != 2 {
			t.Errorf("stats dropped %d records %d bytes, want 1 and 2", st.DroppedRecords, st.DroppedBytes)
		}
		h.stop()
	})
}

// TestBackoff checks the bounds of the full-jitter backoff: 0.5s doubling
// to 30s, every wait in [0, bound], and reset.
func TestBackoff(t *testing.T) {
	wantCeil := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	tests := []struct {
		name string
		rand func(int64) int64
		want func(ceil time.Duration) (lo, hi time.Duration)
	}{
		{"highest draw is the bound", func(n int64) int64 { return n - 1 },
			func(c time.Duration) (time.Duration, time.Duration) { return c, c }},
		{"lowest draw is zero", func(int64) int64 { return 0 },
			func(time.Duration) (time.Duration, time.Duration) { return 0, 0 }},
		{"random draws stay inside", nil,
			func(c time.Duration) (time.Duration, time.Duration) { return 0, c }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Rand: tc.rand}
			cfg.setDefaults()
			b := backoff{base: backoffBase, max: backoffMax, rand: cfg.Rand}
			for round := range 2 {
				for i, c := range wantCeil {
					for range 50 {
						if got := b.ceiling(); got != c {
							t.Fatalf("round %d wait %d: bound %v, want %v", round, i, got, c)
						}
						probe := b
						d := probe.next()
						if lo, hi := tc.want(c); d < lo || d > hi {
							t.Fatalf("round %d wait %d: %v, want within [%v, %v]", round, i, d, lo, hi)
						}
					}
					b.next()
				}
				b.reset()
			}
		})
	}
}

// TestReconnectBackoff checks the waits between connection attempts to a
// collector that refuses: they double to 30s, and a session that got its
// Welcome resets them.
func TestReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil)
		h.ingest.refuse = errRefused
		h.start()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		h.ingest.mu.Lock()
		opens := slices.Clone(h.ingest.opens)
		h.ingest.refuse = nil
		h.ingest.mu.Unlock()
		var gaps []time.Duration
		for i := 1; i < len(opens); i++ {
			gaps = append(gaps, opens[i].Sub(opens[i-1]))
		}
		want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
			8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
		if len(gaps) < len(want) || !slices.Equal(gaps[:len(want)], want) {
			t.Fatalf("waits between attempts %v, want them to start %v", gaps, want)
		}
		time.Sleep(30 * time.Second) // the next attempt gets its Welcome
		synctest.Wait()
		h.ingest.kill()
		synctest.Wait()
		killed := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		h.ingest.mu.Lock()
		last := h.ingest.opens[len(h.ingest.opens)-1]
		h.ingest.mu.Unlock()
		if d := last.Sub(killed); d != 500*time.Millisecond {
			t.Errorf("after a welcomed session the next attempt came after %v, want 500ms (reset)", d)
		}
		h.stop()
	})
}

// TestResumersStartAfterWelcome checks that collectors that resume from
// checkpoints wait for the first Welcome and get its checkpoints, while the
// others (and the heartbeat) start at once, the collector service down.
func TestResumersStartAfterWelcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		block := func(ctx context.Context, out collectors.Emitter, n int) error { <-ctx.Done(); return nil }
		tail := &resumer{funcCollector: funcCollector{name: "tail", run: block}}
		other := &funcCollector{name: "other", run: block}
		h := newHarness(t, func(c *Config) { c.Collectors = []collectors.Collector{tail, other} })
		fp := [32]byte{1, 2, 3}
		h.ingest.checkpoints = []*offboxv1.FileCheckpoint{{Source: "file:/var/log/auth.log",
			File: &offboxv1.FileIdentity{Dev: 7, Inode: 8, FingerprintLen: 3, Fingerprint: fp[:]}, Offset: 1234}}
		h.ingest.refuse = errRefused
		h.start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(other.runTimes()); n != 1 {
			t.Errorf("the other collector ran %d times, want once, at start", n)
		}
		if n := len(tail.runTimes()); n != 0 {
			t.Fatalf("the tailer ran before any Welcome")
		}
		h.ingest.setRefuse(nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		calls, cps := tail.resumeCalls()
		want := []collectors.Checkpoint{{Source: "file:/var/log/auth.log", ID: collectors.FileID{Dev: 7, Inode: 8, FPLen: 3, FP: fp}, Offset: 1234}}
		if calls != 1 || !slices.Equal(cps, want) {
			t.Errorf("Resume called %d times with %v, want once with %v", calls, cps, want)
		}
		if n := len(tail.runTimes()); n != 1 {
			t.Errorf("the tailer ran %d times after the Welcome, want 1", n)
		}
		h.ingest.kill() // a second Welcome does not resume again
		time.Sleep(time.Second)
		synctest.Wait()
		if calls, _ := tail.resumeCalls(); calls != 1 {
			t.Errorf("Resume called %d times after a reconnect, want 1", calls)
		}
		h.stop()
	})
}

// TestCollectorFailuresRestart checks that a collector that fails or
// panics is recorded and restarted with backoff, and the agent goes on.
func TestCollectorFailuresRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		flaky := &funcCollector{name: "flaky", run: func(ctx context.Context, out collectors.Emitter, n int) error {
			switch n {
			case 1:
				return errors.New("disk on fire")
			case 2:
				panic("nil map")
			}
			<-ctx.Done()
			return nil
		}}
		h := newHarness(t, func(c *Config) { c.Collectors = []collectors.Collector{flaky} })
		h.start()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		runs := flaky.runTimes()
		if len(runs) != 3 {
			t.Fatalf("collector ran %d times, want 3 (two failures, then running)", len(runs))
		}
		if d1, d2 := runs[1].Sub(runs[0]), runs[2].Sub(runs[1]); d1 != 500*time.Millisecond || d2 != time.Second {
			t.Errorf("restarts after %v and %v, want 500ms and 1s", d1, d2)
		}
		status := h.ingest.storedBodies(collectors.KindAgentStatus)
		for _, want := range []string{"collector flaky failed: disk on fire", "collector flaky failed: panic: nil map"} {
			if !slices.ContainsFunc(status, func(s string) bool { return strings.HasPrefix(s, want) }) {
				t.Errorf("no agent_status record %q in %q", want, status)
			}
		}
		h.stop()
	})
}

// TestHeartbeat checks the heartbeat record and its attributes: the
// pipeline's figures, the host's read under HostRoot (a tree written here,
// so the values are known), the agent's own resource use, and what
// Config.HeartbeatAttrs adds (the clock summary in offbox).
func TestHeartbeat(t *testing.T) {
	root := hostRoot(t, map[string]string{
		"proc/uptime":  "86523.41 172011.88\n",
		"proc/loadavg": "0.52 1.05 2.50 2/189 12345\n",
		"proc/meminfo": "MemTotal:        1024000 kB\nMemFree:          100000 kB\nMemAvailable:     512000 kB\n" +
			"Buffers:           10000 kB\nCached:           200000 kB\n",
		"proc/sys/kernel/random/boot_id": "3f9c2a71-5b8e-4d0a-9e62-c1d4b7a08f35\n",
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *Config) {
			c.HostRoot = root
			c.Heartbeat = 15 * time.Second
			c.ConfigHash = "cafe"
			c.HeartbeatAttrs = func() []collectors.Attr {
				return []collectors.Attr{{Key: "clock_ok", Value: "true"}, {Key: "clock_offset_ns", Value: "-1200"}}
			}
		})
		h.start()
		synctest.Wait()
		h.emit("l1")
		time.Sleep(31 * time.Second)
		synctest.Wait()
		stored, _ := h.ingest.snapshot()
		var beats []*offboxv1.Record
		for _, b := range stored {
			for _, r := range b.GetRecords() {
				if r.GetKind() == offboxv1.Kind_KIND_HEARTBEAT {
					beats = append(beats, r)
				}
			}
		}
		if len(beats) != 2 {
			t.Fatalf("%d heartbeats in 31s, want 2", len(beats))
		}
		var keys []string
		got := map[string]string{}
		for _, a := range beats[1].GetAttrs() {
			keys = append(keys, a.GetKey())
			got[a.GetKey()] = a.GetValue()
		}
		wantKeys := []string{"agent_uptime_s", "boot_id", "agent_version", "config_hash", "heartbeat_interval",
			"queue_bytes", "sent_records", "sent_batches", "dropped_records", "dropped_bytes", "throttle_events",
			"host_uptime_s", "load1", "load5", "load15", "mem_total_bytes", "mem_available_bytes",
			"agent_rss_bytes", "agent_cpu_s", "clock_ok", "clock_offset_ns"}
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("heartbeat attrs %v, want %v", keys, wantKeys)
		}
		want := map[string]string{"agent_uptime_s": "30", "boot_id": "3f9c2a71-5b8e-4d0a-9e62-c1d4b7a08f35",
			"config_hash": "cafe", "heartbeat_interval": "15s", "queue_bytes": "0", "sent_records": "3", "sent_batches": "3", "dropped_records": "0", "throttle_events": "0",
			"host_uptime_s": "86523", "load1": "0.52", "load5": "1.05", "load15": "2.50",
			"mem_total_bytes": "1048576000", "mem_available_bytes": "524288000",
			"clock_ok": "true", "clock_offset_ns": "-1200"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("heartbeat %s = %q, want %q", k, got[k], v)
			}
		}
		// The agent's own figures are this test process's: real numbers.
		if rss, err := strconv.ParseUint(got["agent_rss_bytes"], 10, 64); err != nil || rss < 1<<20 {
			t.Errorf("agent_rss_bytes %q: want a number of bytes over 1 MiB (%v)", got["agent_rss_bytes"], err)
		}
		if cpu, err := strconv.ParseFloat(got["agent_cpu_s"], 64); err != nil || cpu < 0 {
			t.Errorf("agent_cpu_s %q: want a non-negative number of seconds (%v)", got["agent_cpu_s"], err)
		}
		if beats[1].GetSource() != "agent" {
			t.Errorf("heartbeat source %q, want agent", beats[1].GetSource())
		}
		h.stop()
	})
}

// hostRoot writes files (path under the root: content) into a new host
// root.
func hostRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestShutdownDrains checks that at shutdown the agent stops its
// collectors, sends what is queued and waits for the acks, and that with
// the collector service down it gives up after the drain timeout.
func TestShutdownDrains(t *testing.T) {
	for _, down := range []bool{false, true} {
		name := map[bool]string{false: "collector up", true: "collector down"}[down]
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.BatchMaxDelay = time.Hour })
				gate := make(chan struct{})
				h.ingest.setGate(gate)
				h.start()
				synctest.Wait()
				h.emit("last words") // waits for the delay: batch 1 is in flight
				if down {
					h.ingest.setRefuse(errRefused)
					h.ingest.kill()
				}
				h.ingest.setGate(nil)
				close(gate)
				start := time.Now()
				h.stop()
				took := time.Since(start)
				got := h.ingest.storedBodies(collectors.KindLog)
				switch {
				case !down && (!slices.Equal(got, []string{"last words"}) || took != 0):
					t.Errorf("stored %v after %v, want the last line stored before Run returned at once", got, took)
				case down && took != DefaultDrainTimeout:
					t.Errorf("Run returned after %v with the collector down, want the drain timeout %v", took, DefaultDrainTimeout)
				}
				if !down && !slices.Contains(h.ingest.storedBodies(collectors.KindAgentStatus), "agent stopping") {
					t.Error("no agent stopping record")
				}
			})
		})
	}
}

// TestSettled checks that Config.Settled is called once everything queued
// has been acknowledged, and not while batches are still waiting.
func TestSettled(t *testing.T) {
	settled := make(chan struct{}, 100)
	h := newHarness(t, func(c *Config) {
		c.BatchMaxRecords = 1
		c.Settled = func() { settled <- struct{}{} }
	})
	h.emit("one")
	h.emit("two")
	h.emit("three")
	h.start()
	defer h.stop()
	select {
	case <-settled:
	case <-time.After(10 * time.Second):
		t.Fatal("Settled not called after the batches were acknowledged")
	}
	if stored, _ := h.ingest.snapshot(); len(logBodies(stored)) != 3 {
		t.Fatalf("settled with %d of 3 lines stored", len(logBodies(stored)))
	}
	if n := len(settled); n != 0 {
		t.Fatalf("Settled called %d more times for one burst, want once", n)
	}
}
