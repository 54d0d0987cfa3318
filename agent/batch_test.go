package agent

import (
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// logCounts is the number of log records in each batch that has any.
func logCounts(bs []*offboxv1.Batch) []int {
	var out []int
	for _, b := range bs {
		n := 0
		for _, r := range b.GetRecords() {
			if r.GetKind() == offboxv1.Kind_KIND_LOG {
				n++
			}
		}
		if n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func (f *fakeIngest) setGate(g chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = g
}

// TestBatchTriggers checks each reason a batch is sealed: max bytes, max
// records, max delay, nothing in flight, a heartbeat flush; and that the
// window bounds what is in flight. In every case the agent's first batch
// ("agent started") is in flight and unacknowledged unless the case says.
func TestBatchTriggers(t *testing.T) {
	line := "2000-01-01 sshd[1]: Accepted publickey for admin from 10.0.0.1 port 22"
	size := synctestSize(line)
	table := synctestTableSize()
	tests := []struct {
		name       string
		cfg        func(*Config)
		holdAcks   bool
		drive      func(t *testing.T, h *harness)
		wantCounts []int         // log records per batch, in order
		wantAfter  time.Duration // fake time from the first emit until the last batch went out
	}{
		{
			name:     "max bytes seals at once",
			cfg:      func(c *Config) { c.BatchMaxBytes = 10*size + table; c.BatchMaxDelay = time.Hour },
			holdAcks: true,
			drive: func(t *testing.T, h *harness) {
				for range 25 {
					h.emit(line)
				}
			},
			wantCounts: []int{10, 10}, // the last 5 wait for more or for the delay
		},
		{
			name:     "max records seals at once",
			cfg:      func(c *Config) { c.BatchMaxRecords = 7; c.BatchMaxDelay = time.Hour },
			holdAcks: true,
			drive: func(t *testing.T, h *harness) {
				for range 15 {
					h.emit(line)
				}
			},
			wantCounts: []int{7, 7},
		},
		{
			name:     "max delay since the first record",
			cfg:      func(c *Config) { c.BatchMaxDelay = 200 * time.Millisecond },
			holdAcks: true,
			drive: func(t *testing.T, h *harness) {
				h.emit(line)
				time.Sleep(150 * time.Millisecond)
				h.emit(line)
				h.emit(line)
				time.Sleep(50*time.Millisecond - time.Nanosecond)
				synctest.Wait()
				if _, got := h.ingest.snapshot(); len(logCounts(got)) != 0 {
					t.Errorf("a batch went out before the max delay: %v", logCounts(got))
				}
				time.Sleep(time.Nanosecond)
			},
			wantCounts: []int{3},
			wantAfter:  200 * time.Millisecond,
		},
		{
			name: "nothing in flight: sealed at once",
			cfg:  func(c *Config) { c.BatchMaxDelay = time.Hour },
			drive: func(t *testing.T, h *harness) {
				h.emit(line)
				synctest.Wait() // sent and acknowledged: idle again
				h.emit(line)
			},
			wantCounts: []int{1, 1},
		},
		{
			name: "nothing in flight, with an idle delay",
			cfg:  func(c *Config) { c.BatchMaxDelay = time.Hour; c.BatchIdleDelay = 10 * time.Millisecond },
			drive: func(t *testing.T, h *harness) {
				time.Sleep(time.Second) // "agent started" acknowledged
				start := time.Now()
				h.emit(line)
				time.Sleep(5 * time.Millisecond)
				h.emit(line)
				synctest.Wait()
				if _, got := h.ingest.snapshot(); len(logCounts(got)) != 0 {
					t.Errorf("a batch went out before the idle delay")
				}
				time.Sleep(10*time.Millisecond - time.Since(start))
			},
			wantCounts: []int{2},
			wantAfter:  time.Second + 10*time.Millisecond,
		},
		{
			name:     "heartbeat flushes a waiting batch",
			cfg:      func(c *Config) { c.BatchMaxDelay = time.Hour; c.Heartbeat = 15 * time.Second },
			holdAcks: true,
			drive: func(t *testing.T, h *harness) {
				h.emit(line)
				time.Sleep(15 * time.Second)
			},
			wantCounts: []int{1},
			wantAfter:  15 * time.Second,
		},
		{
			name:     "window bounds batches in flight",
			cfg:      func(c *Config) { c.Window = 2; c.BatchMaxRecords = 1 },
			holdAcks: true,
			drive: func(t *testing.T, h *harness) {
				for range 4 {
					h.emit(line)
				}
				synctest.Wait()
				if _, got := h.ingest.snapshot(); len(got) != 2 {
					t.Errorf("%d batches in flight with a window of 2", len(got))
				}
				h.ingest.gate <- struct{}{} // one ack: one more batch may go
			},
			wantCounts: []int{1, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tc.cfg)
				if tc.holdAcks {
					h.ingest.setGate(make(chan struct{}))
				}
				h.start()
				synctest.Wait() // "agent started" is in flight
				start := time.Now()
				var last time.Time
				tc.drive(t, h)
				synctest.Wait()
				last = time.Now()
				_, got := h.ingest.snapshot()
				if counts := logCounts(got); !slices.Equal(counts, tc.wantCounts) {
					t.Errorf("log records per batch = %v, want %v", counts, tc.wantCounts)
				}
				if d := last.Sub(start); d != tc.wantAfter {
					t.Errorf("last batch out after %v, want %v", d, tc.wantAfter)
				}
				for i, b := range got {
					if n := len(b.GetRecords()); n == 0 {
						t.Errorf("batch %d is empty", i)
					}
				}
				h.ingest.kill() // frees a held ack
				h.ingest.setGate(nil)
				h.stop()
			})
		})
	}
}

// synctestSize is the encoded size of a log record at the synctest epoch
// (2000-01-01 UTC), the time every record in the batching tests carries. The
// record names its source by reference (the first of its batch): the source
// itself is in the batch's table, once (see synctestTableSize).
func synctestSize(body string) int {
	r := logRecord(body)
	r.Time = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return seal.RecordSize(&seal.WireRecord{TimeNs: r.Time.UnixNano(), Kind: uint32(r.Kind), SourceRef: 1, Body: r.Body})
}

// synctestTableSize is the size of the table of a batch of log records: their
// one source.
func synctestTableSize() int { return len(seal.AppendSource(nil, logRecord("").Source)) }

// TestBatchBytesNeverExceeded fills batches with lines of varied length and
// checks every batch stays within the max bytes and nothing is lost.
func TestBatchBytesNeverExceeded(t *testing.T) {
	q := newQueue(queueConfig{budget: 1 << 30, maxBytes: 1000, maxRecords: 1 << 20, maxDelay: time.Hour, now: time.Now})
	var want []string
	for i := range 300 {
		body := fmt.Sprintf("%d %s", i, string(make([]byte, i%97)))
		want = append(want, body)
		if !q.TryEmit(logRecord(body)) {
			t.Fatal("TryEmit refused with room in the budget")
		}
	}
	var got []string
	for {
		b, _ := q.takeReady(true, false)
		if b == nil {
			break
		}
		if len(b.recs) > 1000 {
			t.Errorf("batch of %d bytes, max 1000", len(b.recs))
		}
		got = append(got, logBodies([]*offboxv1.Batch{decodeRecords(t, b.recs)})...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %d bodies, want %d in order", len(got), len(want))
	}
}

// TestEmitWaitsForBudget checks the byte budget: Emit waits while it is full
// and goes on when an ack frees room; it gives up when its context ends; a
// record larger than the whole budget passes when the queue is empty.
func TestEmitWaitsForBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		size := int64(synctestSize("0123456789"))
		full := 3*size + int64(synctestTableSize()) // three records and their batch's table
		q := newQueue(queueConfig{budget: full, maxBytes: 1 << 20, maxRecords: 1000, maxDelay: time.Hour, now: time.Now})
		for range 3 {
			if !q.TryEmit(logRecord("0123456789")) {
				t.Fatal("TryEmit refused inside the budget")
			}
		}
		done := make(chan error, 1)
		go func() { done <- q.Emit(t.Context(), logRecord("0123456789")) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Emit returned %v with the budget full, want it to wait", err)
		default:
		}
		b, _ := q.takeReady(true, false) // sealed and acknowledged:
		q.release(b.size())
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Emit after release: %v", err)
			}
		default:
			t.Fatal("Emit still waits after the budget was released")
		}

		// The budget is full again (one record queued... plus none): fill it.
		q.TryEmit(logRecord("0123456789"))
		q.TryEmit(logRecord("0123456789"))
		ctx, cancel := contextWithTimeout(t, time.Second)
		defer cancel()
		start := time.Now()
		if err := q.Emit(ctx, logRecord("0123456789")); err == nil {
			t.Fatal("Emit returned nil with the budget full and its context ended")
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("Emit gave up after %v, want 1s", d)
		}
		if used, _ := q.usage(); used != full {
			t.Errorf("used = %d, want %d", used, full)
		}

		big := newQueue(queueConfig{budget: 100, maxBytes: 1 << 20, maxRecords: 1000, maxDelay: time.Hour, now: time.Now})
		if err := big.Emit(t.Context(), logRecord(string(make([]byte, 1000)))); err != nil {
			t.Fatalf("oversized record into an empty queue: %v", err)
		}
		if big.TryEmit(logRecord("x")) {
			t.Error("a second record was admitted past the budget")
		}
	})
}

// TestTryEmitDropsAreCounted checks that a drop is never silent: the counts
// appear in the next sealed header and as a gap record, and in the stats.
func TestTryEmitDropsAreCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *Config) { c.MemoryBudget = 1000; c.BatchMaxDelay = time.Hour })
		gate := make(chan struct{})
		h.ingest.setGate(gate)
		h.start()
		synctest.Wait() // "agent started" in flight, holding part of the budget
		body := string(make([]byte, 100))
		admitted := 0
		for h.agent.q.TryEmit(logRecord(body)) {
			admitted++
		}
		h.agent.q.TryEmit(logRecord(body))
		h.agent.q.TryEmit(logRecord(body))
		st := h.agent.Stats()
		if st.DroppedRecords != 3 || st.DroppedBytes != 300 {
			t.Errorf("stats dropped = %d records, %d bytes; want 3, 300", st.DroppedRecords, st.DroppedBytes)
		}
		close(gate) // the ack frees budget: the gap record and the batch go out
		synctest.Wait()
		stored, _ := h.ingest.snapshot()
		var header *offboxv1.BatchHeader
		var gap *offboxv1.Record
		for _, b := range stored {
			if b.GetHeader().GetDroppedRecords() > 0 {
				header = b.GetHeader()
			}
			for _, r := range b.GetRecords() {
				if r.GetKind() == offboxv1.Kind_KIND_GAP {
					gap = r
				}
			}
		}
		if header == nil || header.GetDroppedRecords() != 3 || header.GetDroppedBytes() != 300 {
			t.Errorf("header with drops = %v, want dropped_records 3, dropped_bytes 300", header)
		}
		if gap == nil {
			t.Fatal("no gap record for the dropped records")
		}
		attrs := map[string]string{}
		for _, a := range gap.GetAttrs() {
			attrs[a.GetKey()] = a.GetValue()
		}
		if attrs["dropped_records"] != "3" || attrs["dropped_bytes"] != "300" || gap.GetSource() != "agent" {
			t.Errorf("gap record = %v, want source agent, dropped_records 3, dropped_bytes 300", gap)
		}
		if n := len(logBodies(stored)); n != admitted {
			t.Errorf("%d log records stored, want the %d admitted", n, admitted)
		}
		h.stop()
	})
}

// TestCheckpointsReportedOnAck checks that collectors implementing Acker
// hear of a file range only once its batch is acknowledged, with the last
// range of each source.
func TestCheckpointsReportedOnAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ak := &ackRecorder{}
		h := newHarness(t, func(c *Config) { c.Collectors = []collectors.Collector{ak} })
		gate := make(chan struct{})
		h.ingest.setGate(gate)
		h.start()
		synctest.Wait()
		id := collectors.FileID{Dev: 1, Inode: 2, FPLen: 10}
		for i, src := range []string{"file:/a", "file:/b", "file:/a"} {
			r := logRecord("line")
			r.Source = src
			r.File = &collectors.FileRange{ID: id, Start: int64(i * 5), End: int64(i*5 + 5)}
			h.agent.q.Emit(t.Context(), r)
		}
		// Acknowledge what went before (the "agent started" batch) one
		// batch at a time until the file lines have reached the collector:
		// only then can a checkpoint reported on send rather than on ack
		// show up.
		for {
			synctest.Wait()
			if h.ingest.receivedFileLines() {
				break
			}
			if got := ak.all(); len(got) != 0 {
				h.stop()
				t.Fatalf("checkpoints reported before their batch was sent: %v", got)
			}
			select {
			case gate <- struct{}{}:
			default:
				h.stop()
				t.Fatal("the file lines were never sent and no batch awaits its ack")
			}
		}
		synctest.Wait()
		if got := ak.all(); len(got) != 0 {
			h.stop()
			t.Fatalf("checkpoints reported for a batch sent but not yet acknowledged: %v", got)
		}
		close(gate)
		synctest.Wait()
		got := ak.all()
		want := map[string]int64{"file:/a": 15, "file:/b": 10}
		last := map[string]int64{}
		for _, cp := range got {
			last[cp.Source] = cp.Offset
			if cp.ID != id {
				t.Errorf("checkpoint file id %v, want %v", cp.ID, id)
			}
		}
		if len(last) != 2 || last["file:/a"] != want["file:/a"] || last["file:/b"] != want["file:/b"] {
			t.Errorf("acknowledged offsets %v, want %v", last, want)
		}
		h.stop()
	})
}
