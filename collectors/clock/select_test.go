package clock

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"
)

var selectCases = []struct {
	name     string
	in       []Interval
	true_    []int
	majority bool
	low      int64
	high     int64
	offset   int64 // checked when majority
	bound    int64
	spread   int64
}{
	{name: "none", in: nil, majority: false},
	{name: "one server", in: []Interval{{100, 10}}, true_: []int{0}, majority: true,
		low: 90, high: 110, offset: 100, bound: 10},
	{name: "two agree", in: []Interval{{0, 10}, {6, 10}}, true_: []int{0, 1}, majority: true,
		low: -4, high: 10, offset: 3, bound: 7, spread: 6},
	{name: "two disagree", in: []Interval{{0, 10}, {100, 10}}, majority: false},
	{name: "three agree, one 250ms off", in: []Interval{{1000, 20_000}, {-2000, 15_000}, {500, 30_000}, {250_000_000, 20_000}},
		true_: []int{0, 1, 2}, majority: true, low: -17_000, high: 13_000, spread: 3000},
	{name: "falseticker in the middle of nowhere", in: []Interval{{0, 5}, {1, 5}, {2, 5}, {-1000, 5}, {1000, 5}},
		true_: []int{0, 1, 2}, majority: true, low: -3, high: 5, spread: 2},
	{name: "two against two: no majority", in: []Interval{{0, 5}, {1, 5}, {100, 5}, {101, 5}}, majority: false},
	{name: "touching closed intervals share the point", in: []Interval{{0, 5}, {10, 5}}, true_: []int{0, 1}, majority: true,
		low: 5, high: 5, offset: 5, bound: 0, spread: 10},
	{name: "weighted mean clamped into the intersection", in: []Interval{{0, 100}, {150, 50}, {-50, 200}},
		true_: []int{0, 1, 2}, majority: true, low: 100, high: 100, offset: 100, bound: 0, spread: 200},
	{name: "negative bound is its absolute value", in: []Interval{{0, -10}, {5, 10}}, true_: []int{0, 1}, majority: true,
		low: -5, high: 10},
	{name: "saturating ends", in: []Interval{{math.MaxInt64, math.MaxInt64}, {math.MinInt64, math.MaxInt64}, {0, 1}},
		true_: []int{0, 1, 2}, majority: true, low: -1, high: 1}, // two regions of depth 2: [-1,-1] and [0,1]
}

func TestSelect(t *testing.T) {
	t.Parallel()
	for _, tc := range selectCases {
		t.Run(tc.name, func(t *testing.T) {
			s := Select(tc.in)
			checkSelection(t, tc.in, s)
			if s.Majority != tc.majority {
				t.Fatalf("majority: got %v, want %v (agree %d of %d)", s.Majority, tc.majority, s.Agree, len(tc.in))
			}
			if !s.Majority {
				if len(s.Truechimers) != 0 || len(s.Falsetickers) != len(tc.in) {
					t.Fatalf("no majority: got truechimers %v falsetickers %v, want none and all", s.Truechimers, s.Falsetickers)
				}
				return
			}
			if !slices.Equal(s.Truechimers, tc.true_) {
				t.Errorf("truechimers: got %v, want %v", s.Truechimers, tc.true_)
			}
			if tc.low != 0 || tc.high != 0 {
				if s.Low != tc.low || s.High != tc.high {
					t.Errorf("intersection: got [%d, %d], want [%d, %d]", s.Low, s.High, tc.low, tc.high)
				}
			}
			if tc.offset != 0 || tc.bound != 0 {
				if s.Offset != tc.offset || s.Bound != tc.bound {
					t.Errorf("combined: got %d ± %d, want %d ± %d", s.Offset, s.Bound, tc.offset, tc.bound)
				}
			}
			if tc.spread != 0 && s.Spread != tc.spread {
				t.Errorf("spread: got %d, want %d", s.Spread, tc.spread)
			}
		})
	}
}

// checkSelection asserts what holds for every input: each input is exactly
// one of truechimer or falseticker; with a majority the combined offset
// lies within the intersection, which every truechimer reaches and which is
// covered by more than half of the inputs.
func checkSelection(t *testing.T, in []Interval, s Selection) {
	t.Helper()
	seen := make([]int, len(in))
	for _, i := range s.Truechimers {
		if i < 0 || i >= len(in) {
			t.Fatalf("truechimer index %d out of range", i)
		}
		seen[i]++
	}
	for _, i := range s.Falsetickers {
		if i < 0 || i >= len(in) {
			t.Fatalf("falseticker index %d out of range", i)
		}
		seen[i]++
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("input %d is in %d of truechimers %v / falsetickers %v, want exactly 1", i, n, s.Truechimers, s.Falsetickers)
		}
	}
	if !s.Majority {
		if len(s.Truechimers) != 0 {
			t.Fatalf("no majority but truechimers %v", s.Truechimers)
		}
		return
	}
	if 2*s.Agree <= len(in) || len(s.Truechimers) < s.Agree {
		t.Fatalf("majority with agree %d, %d truechimers of %d inputs", s.Agree, len(s.Truechimers), len(in))
	}
	if s.Low > s.High {
		t.Fatalf("intersection [%d, %d] is empty", s.Low, s.High)
	}
	if s.Offset < s.Low || s.Offset > s.High {
		t.Fatalf("combined offset %d outside the intersection [%d, %d]", s.Offset, s.Low, s.High)
	}
	if s.Bound < 0 {
		t.Fatalf("negative combined bound %d", s.Bound)
	}
	// The low end of the intersection is covered by Agree inputs.
	covering := 0
	for _, iv := range in {
		if iv.lo() <= s.Low && s.Low <= iv.hi() {
			covering++
		}
	}
	if covering < s.Agree {
		t.Fatalf("low end %d covered by %d inputs, want at least %d", s.Low, covering, s.Agree)
	}
	for _, i := range s.Truechimers {
		if in[i].hi() < s.Low || in[i].lo() > s.High {
			t.Fatalf("truechimer %d %v does not reach [%d, %d]", i, in[i], s.Low, s.High)
		}
	}
}

// FuzzSelect: any intervals → no panic, every input classified once, the
// combined offset within the intersection when a majority exists.
func FuzzSelect(f *testing.F) {
	for _, tc := range selectCases {
		f.Add(encodeIntervals(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := decodeIntervals(data)
		checkSelection(t, in, Select(in))
	})
}

func encodeIntervals(in []Interval) []byte {
	var b []byte
	for _, iv := range in {
		b = binary.BigEndian.AppendUint64(b, uint64(iv.Offset))
		b = binary.BigEndian.AppendUint64(b, uint64(iv.Bound))
	}
	return b
}

// decodeIntervals reads 16 bytes per interval; shorter tails are small
// values, so that the fuzzer also explores close, overlapping intervals.
func decodeIntervals(b []byte) []Interval {
	var in []Interval
	for len(b) >= 16 && len(in) < 64 {
		in = append(in, Interval{Offset: int64(binary.BigEndian.Uint64(b)), Bound: int64(binary.BigEndian.Uint64(b[8:]))})
		b = b[16:]
	}
	for len(b) >= 2 && len(in) < 64 {
		in = append(in, Interval{Offset: int64(int8(b[0])), Bound: int64(b[1] % 16)})
		b = b[2:]
	}
	return in
}

func TestShiftReach(t *testing.T) {
	t.Parallel()
	tests := []struct {
		polls []bool
		want  uint8
	}{
		{nil, 0},
		{[]bool{true}, 0b1},
		{[]bool{true, false}, 0b10},
		{[]bool{true, true, true, true, true, true, true, true}, 0xff},
		{[]bool{true, false, false, false, false, false, false, false}, 0x80},
		{[]bool{true, false, false, false, false, false, false, false, false}, 0}, // 8 misses: unreachable
		{[]bool{false, false, true, false, true}, 0b101},
	}
	for _, tc := range tests {
		var r uint8
		for _, ok := range tc.polls {
			r = shiftReach(r, ok)
		}
		if r != tc.want {
			t.Errorf("shiftReach over %v: got %08b, want %08b", tc.polls, r, tc.want)
		}
	}
}

func TestJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		offsets []int64
		best    int
		want    int64
	}{
		{"empty", nil, 0, 0},
		{"one sample", []int64{5}, 0, 0},
		{"identical", []int64{7, 7, 7}, 1, 0},
		{"two", []int64{0, 10}, 0, 10},
		{"rms of differences to the best", []int64{0, 3, 4}, 0, 3}, // sqrt((9+16)/2) = 3.53
		{"best in the middle", []int64{-10, 0, 10}, 1, 10},
		{"bad index", []int64{1, 2}, 5, 0},
	}
	for _, tc := range tests {
		if got := jitter(tc.offsets, tc.best); got != tc.want {
			t.Errorf("%s: jitter(%v, %d) = %d, want %d", tc.name, tc.offsets, tc.best, got, tc.want)
		}
	}
}
