package agent

import (
	"os"
	"testing"

	"github.com/shirou/gopsutil/v3/process"
)

var statmTests = []struct {
	in   string
	want uint64
	ok   bool
}{
	{"2925 1536 1024 245 0 1285 0\n", 1536, true},
	{"1 0", 0, true},
	{"2925\n", 0, false},
	{"", 0, false},
	{"2925 -1 0", 0, false},
	{"2925 18446744073709551616 0", 0, false},
}

func TestParseStatm(t *testing.T) {
	t.Parallel()
	for _, tc := range statmTests {
		got, err := parseStatm([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatm(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

var statTests = []struct {
	in   string
	want uint64
	ok   bool
}{
	{"4242 (offbox) S 1 4242 4242 0 -1 4194560 812 0 0 0 31 17 0 0 20 0 9 0 1234 12345678 1536 4294967295\n", 48, true},
	// A command name with spaces and parentheses does not shift the fields.
	{"7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1", 11, true},
	{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 5", 0, false},
	{"7 x R 1 7 7 0 -1 0 0 0 0 0 5 6 0", 0, false},
	{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 -5 6 0", 0, false},
	{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 18446744073709551615 1 0", 0, false},
	{"", 0, false},
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	for _, tc := range statTests {
		got, err := parseStatCPU([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatCPU(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestSelfMatchesGopsutil holds the agent's own figures to what gopsutil's
// process package (which the agent used before) reads for the same process.
func TestSelfMatchesGopsutil(t *testing.T) {
	p := &process.Process{Pid: int32(os.Getpid())}
	for range 3 { // the figures move between the two reads: retry a few times
		mi, err := p.MemoryInfo()
		if err != nil {
			t.Fatal(err)
		}
		rss, err := selfRSS()
		if err != nil {
			t.Fatal(err)
		}
		ts, err := p.Times()
		if err != nil {
			t.Fatal(err)
		}
		cpu, err := selfCPU()
		if err != nil {
			t.Fatal(err)
		}
		diff := int64(rss) - int64(mi.RSS)
		if diff < 0 {
			diff = -diff
		}
		if cpuDiff := cpu - (ts.User + ts.System); diff <= 1<<20 && cpuDiff >= 0 && cpuDiff <= 0.05 {
			return
		}
		t.Logf("rss %d vs gopsutil %d; cpu %.2f vs gopsutil %.2f", rss, mi.RSS, cpu, ts.User+ts.System)
	}
	t.Error("the agent's own RSS and CPU time do not match gopsutil's")
}

func FuzzParseStat(f *testing.F) {
	for _, tc := range statTests {
		f.Add(tc.in)
	}
	for _, tc := range statmTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := parseStatCPU([]byte(s)); err != nil && v != 0 {
			t.Errorf("parseStatCPU(%q) = %d with error %v", s, v, err)
		}
		if v, err := parseStatm([]byte(s)); err != nil && v != 0 {
			t.Errorf("parseStatm(%q) = %d with error %v", s, v, err)
		}
	})
}
