package agent

import (
	"context"
	"time"
)

// backoff is exponential backoff with full jitter: the n-th wait is uniform
// in [0, min(max, base·2ⁿ)]. Full jitter spreads the reconnects of a fleet
// that lost its collector at the same moment.
type backoff struct {
	base, max time.Duration
	rand      func(n int64) int64 // uniform in [0, n)
	n         int                 // waits since the last reset
}

// ceiling is the upper bound of the next wait.
func (b *backoff) ceiling() time.Duration {
	d := b.base
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// next returns the next wait and grows the bound.
func (b *backoff) next() time.Duration {
	c := b.ceiling()
	if c < b.max {
		b.n++
	}
	return time.Duration(b.rand(int64(c) + 1))
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
