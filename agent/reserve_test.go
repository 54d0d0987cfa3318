package agent

import (
	"testing"
	"time"
)

// TestReserveAndOffer checks what collectors that hold memory or report
// their own loss rely on: Reserve lends at most 3/4 of the budget and
// never more than is free; reserved bytes count against records, but a
// record still passes when only reservations are held; Unreserve gives the
// room back; and a refused Offer is counted nowhere in the agent (the
// caller reports it), while a refused TryEmit is.
func TestReserveAndOffer(t *testing.T) {
	const budget = 4000
	q := newQueue(queueConfig{budget: budget, maxBytes: 1 << 20, maxRecords: 1000, maxDelay: time.Hour, now: time.Now})
	if !q.Reserve(3000) {
		t.Fatal("Reserve(3000) of a 4000-byte budget refused, want 3/4 of it lent")
	}
	if q.Reserve(1) {
		t.Error("Reserve lent more than 3/4 of the budget")
	}
	if got := q.reserved(); got != 3000 {
		t.Errorf("reserved() = %d, want 3000", got)
	}
	// Only reservations are held: a record larger than what is left passes.
	if !q.Offer(logRecord(string(make([]byte, 2000)))) {
		t.Fatal("a record was refused while the queue held only reservations")
	}
	if used, _ := q.usage(); used < 2000 {
		t.Errorf("usage() = %d bytes of records, want the record's (>= 2000) without the reservations", used)
	}
	// Now the budget is full: Offer and TryEmit refuse; only TryEmit counts.
	if q.Offer(logRecord("offered")) {
		t.Fatal("Offer admitted a record past the budget")
	}
	if _, lost := q.usage(); lost.records != 0 || q.open.dropRecords != 0 {
		t.Errorf("a refused Offer was counted: total %+v, header %d; want 0: its caller reports it", lost, q.open.dropRecords)
	}
	if q.TryEmit(logRecord("tried")) {
		t.Fatal("TryEmit admitted a record past the budget")
	}
	if _, lost := q.usage(); lost.records != 1 {
		t.Errorf("a refused TryEmit counted %d records, want 1", lost.records)
	}
	if q.Reserve(1) {
		t.Error("Reserve lent bytes the budget does not have")
	}
	q.Unreserve(3000)
	if got := q.reserved(); got != 0 {
		t.Errorf("reserved() = %d after Unreserve, want 0", got)
	}
	if !q.Offer(logRecord("room again")) {
		t.Error("Offer refused after Unreserve gave the room back")
	}
}
