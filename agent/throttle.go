package agent

import (
	"sync/atomic"
	"time"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// throttleQuiet is how long without a Throttle ends a throttle episode
// (the next one is logged again).
const throttleQuiet = 10 * time.Second

// throttling is what the sender keeps of the collector's Throttles.
type throttling struct {
	throttles   atomic.Uint64 // Throttle messages received
	throttleEnd time.Time     // when the current throttle episode is over
}

// throttled handles the collector's Throttle: the device is over its rate
// limit and the collector reads its batches more slowly, so acks come up to
// retry_after later than usual. The window being full already holds the
// agent back; what must not happen is an ack timeout and a reconnect, which
// would send everything again into the same limit. It counts the Throttle,
// logs the first of an episode, and returns the wait for the oldest ack
// from now.
func (s *sender) throttled(t *offboxv1.Throttle) time.Duration {
	d := time.Duration(max(0, t.GetRetryAfterMs())) * time.Millisecond
	now := s.now()
	s.throttles.Add(1)
	if !now.Before(s.throttleEnd) {
		s.log.Info("collector is throttling this device: over its rate limit, acks come later",
			"retry_after", d, "reason", t.GetReason())
	}
	s.throttleEnd = now.Add(d + throttleQuiet)
	return s.ackWait + d
}
