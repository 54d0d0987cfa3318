package clock

import (
	"math"
	"slices"
)

// Interval is one server's claim about the local clock: the true offset lies
// in [Offset-Bound, Offset+Bound]. Both in nanoseconds.
type Interval struct {
	Offset int64 // ns, server minus local
	Bound  int64 // ns; a negative bound is taken as its absolute value
}

// lo and hi saturate instead of wrapping, so that any input is an interval.
func (iv Interval) lo() int64 { return satSub(iv.Offset, absBound(iv.Bound)) }
func (iv Interval) hi() int64 { return satAdd(iv.Offset, absBound(iv.Bound)) }

// Selection is the outcome of Select over a set of intervals.
type Selection struct {
	Truechimers  []int // indexes into the input, ascending
	Falsetickers []int // indexes into the input, ascending; every input is in exactly one of the two
	Majority     bool  // more than half of the inputs share a point
	Agree        int   // the largest number of intervals that share a point
	// Low and High bound the intersection: from the lowest to the highest
	// point covered by Agree intervals (normally one region). Valid when
	// Majority.
	Low, High int64
	Offset    int64 // combined offset, within [Low, High]; valid when Majority
	Bound     int64 // combined error bound: max(Offset-Low, High-Offset)
	Spread    int64 // max-min Offset among the truechimers
}

// Select runs Marzullo's intersection algorithm (the core of NTP's selection
// algorithm, as chrony uses it) over closed intervals. It finds the largest
// number of intervals that share a point; if that is more than half of them
// there is a majority, the intervals that reach one of those points are
// truechimers and the rest falsetickers. Without a majority every input is a
// falseticker (chrony does the same): nobody can tell which ones are right.
//
// The combined offset is the mean of the truechimers' offsets weighted by
// 1/bound (a tight server counts more, as in NTP's clock combining
// algorithm), clamped into the intersection; its error bound is the distance
// from there to the far end of the intersection, which holds as long as the
// truechimers' intervals hold.
func Select(in []Interval) Selection {
	var s Selection
	n := len(in)
	if n == 0 {
		return s
	}
	type edge struct {
		v     int64
		lower bool
	}
	edges := make([]edge, 0, 2*n)
	for _, iv := range in {
		edges = append(edges, edge{iv.lo(), true}, edge{iv.hi(), false})
	}
	// Lower ends first at equal values: intervals are closed, so two that
	// touch share that point.
	slices.SortFunc(edges, func(a, b edge) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		case a.lower == b.lower:
			return 0
		case a.lower:
			return -1
		}
		return 1
	})
	depth, best := 0, 0
	for _, e := range edges {
		if e.lower {
			depth++
			best = max(best, depth)
		} else {
			depth--
		}
	}
	// The regions covered by best intervals: each starts at a lower end
	// that brings the depth to best and ends at the next edge.
	type region struct{ lo, hi int64 }
	var regions []region
	depth = 0
	for i, e := range edges {
		if e.lower {
			depth++
			if depth == best {
				regions = append(regions, region{e.v, edges[i+1].v}) // a lower end is never last
			}
		} else {
			depth--
		}
	}
	s.Agree = best
	s.Majority = 2*best > n
	if !s.Majority {
		for i := range in {
			s.Falsetickers = append(s.Falsetickers, i)
		}
		return s
	}
	s.Low, s.High = regions[0].lo, regions[len(regions)-1].hi

	var wsum, wofs float64
	minOff, maxOff := int64(math.MaxInt64), int64(math.MinInt64)
	for i, iv := range in {
		lo, hi := iv.lo(), iv.hi()
		reaches := false
		for _, r := range regions {
			if lo <= r.hi && hi >= r.lo {
				reaches = true
				break
			}
		}
		if !reaches {
			s.Falsetickers = append(s.Falsetickers, i)
			continue
		}
		s.Truechimers = append(s.Truechimers, i)
		w := 1 / (float64(absBound(iv.Bound)) + 1) // +1 ns: a zero bound must not divide by zero
		wsum += w
		wofs += w * float64(iv.Offset)
		minOff = min(minOff, iv.Offset)
		maxOff = max(maxOff, iv.Offset)
	}
	s.Offset = clampFloat(wofs/wsum, s.Low, s.High)
	s.Bound = max(satSub(s.Offset, s.Low), satSub(s.High, s.Offset))
	s.Spread = satSub(maxOff, minOff)
	return s
}

// clampFloat converts f to an int64 within [lo, hi] without overflowing.
func clampFloat(f float64, lo, hi int64) int64 {
	switch {
	case math.IsNaN(f) || f <= float64(lo):
		return lo
	case f >= float64(hi):
		return hi
	}
	v := int64(math.Round(f)) // |f| < 2^63 here
	return min(max(v, lo), hi)
}

func absBound(b int64) int64 {
	if b >= 0 {
		return b
	}
	if b == math.MinInt64 {
		return math.MaxInt64
	}
	return -b
}

func satAdd(a, b int64) int64 {
	c := a + b
	if (c > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return c
}

func satSub(a, b int64) int64 {
	c := a - b
	if (c < a) != (b > 0) {
		if b > 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return c
}

// shiftReach records one poll in an 8-bit reachability register, as NTP
// does: the newest poll is bit 0, a set bit a poll that got at least one
// valid answer (a kiss-of-death is not one). A register of 0 after eight
// failed polls means unreachable.
func shiftReach(reach uint8, answered bool) uint8 {
	reach <<= 1
	if answered {
		reach |= 1
	}
	return reach
}

// jitter is the RMS of the differences between each sample's offset and the
// chosen (best) sample's offset, over the other samples (RFC 5905 peer
// jitter). One sample has no jitter.
func jitter(offsets []int64, best int) int64 {
	if len(offsets) < 2 || best < 0 || best >= len(offsets) {
		return 0
	}
	var sum float64
	for i, o := range offsets {
		if i == best {
			continue
		}
		d := float64(o) - float64(offsets[best])
		sum += d * d
	}
	j := math.Sqrt(sum / float64(len(offsets)-1))
	if j >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(j)
}
