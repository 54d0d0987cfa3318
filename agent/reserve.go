package agent

import "github.com/offbox/offbox/collectors"

// What the queue lends or offers to collectors that manage their own memory
// or their own loss count (collectors.Reserver, collectors.Offerer): the
// syslog listeners' connection buffers come out of the same budget as the
// queued records, and a datagram source counts its own drops.

// Offer queues r if the budget has room and otherwise drops it without
// counting: the caller reports the loss (collectors.Offerer).
func (q *queue) Offer(r collectors.Record) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.admit(&r)
}

// maxReservedShare bounds what Reserve lends, as a share of the budget, so
// that memory held by collectors (syslog connections) always leaves room
// for records.
const maxReservedShare = 0.75

// Reserve takes n bytes of the budget for memory a collector holds outside
// the queue (collectors.Reserver), if they fit in both the budget and the
// share of it that reservations may take.
func (q *queue) Reserve(n int64) bool {
	if n <= 0 {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.rsvd+n > int64(float64(q.cfg.budget)*maxReservedShare) || q.used+n > q.cfg.budget {
		return false
	}
	q.rsvd += n
	q.used += n
	return true
}

// Unreserve gives back n bytes that Reserve took.
func (q *queue) Unreserve(n int64) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rsvd -= n
	q.releaseLocked(n)
}

// reserved reports the bytes of the budget that Reserve lent.
func (q *queue) reserved() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rsvd
}
