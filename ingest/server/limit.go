package server

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/time/rate"
)

// DefaultBurst is how far ahead of its rate a device may send at once, as
// time at that rate, when Limit.Burst is 0.
const DefaultBurst = 2 * time.Second

// throttleEvery is the least time between two Throttle messages on a stream.
const throttleEvery = time.Second

// Limit is a device's rate limit. A zero rate is no limit.
type Limit struct {
	RecordsPerSecond float64
	BytesPerSecond   float64       // of signed batch bytes
	Burst            time.Duration // what may pass at once, as time at the rate; 0: 2s
}

// limiter holds a stream to its device's Limit. It never refuses a
// batch: it says how long to wait before reading it.
type limiter struct {
	records, bytes *bucket // nil: that limit is off
}

// bucket is one token bucket and what it limits.
type bucket struct {
	lim   *rate.Limiter
	burst int    // of tokens; a reservation takes at most this many at once
	what  string // "records/s 500", for the Throttle reason
}

// newLimiter returns the limiter of l, or nil when l limits nothing.
func newLimiter(l Limit) *limiter {
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	lm := &limiter{records: newBucket(l.RecordsPerSecond, l.Burst, "records"),
		bytes: newBucket(l.BytesPerSecond, l.Burst, "bytes")}
	if lm.records == nil && lm.bytes == nil {
		return nil
	}
	return lm
}

func newBucket(perSecond float64, burst time.Duration, unit string) *bucket {
	if perSecond <= 0 || math.IsInf(perSecond, 0) || math.IsNaN(perSecond) {
		return nil
	}
	n := max(1, int(math.Min(math.Ceil(perSecond*burst.Seconds()), math.MaxInt32)))
	return &bucket{lim: rate.NewLimiter(rate.Limit(perSecond), n), burst: n, what: fmt.Sprintf("%s %s/s", strconv.FormatFloat(perSecond, 'f', -1, 64), unit)}
}

// take charges n tokens at now and returns how long until they are there.
// A charge larger than the burst is taken in burst-sized parts, each queued
// after the one before (rate.Limiter refuses a single reservation above its
// burst), so a batch larger than the burst still passes, later.
func (b *bucket) take(now time.Time, n int) time.Duration {
	var d time.Duration
	for n > 0 {
		k := min(n, b.burst)
		r := b.lim.ReserveN(now, k)
		if !r.OK() {
			return d // cannot happen with k ≤ burst and a finite rate
		}
		d = max(d, r.DelayFrom(now))
		n -= k
	}
	return d
}

// reserve charges a batch of records records and size bytes, and returns
// how long to wait before reading it and which limit made it wait.
func (l *limiter) reserve(now time.Time, records, size int) (time.Duration, string) {
	var d time.Duration
	why := ""
	if l.records != nil {
		if w := l.records.take(now, records); w > d {
			d, why = w, l.records.what
		}
	}
	if l.bytes != nil {
		if w := l.bytes.take(now, size); w > d {
			d, why = w, l.bytes.what
		}
	}
	return d, why
}
