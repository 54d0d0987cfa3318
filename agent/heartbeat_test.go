package agent

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

// TestReadResources checks the host's figures read under a host root, and
// that a missing or malformed file costs only its figures, with the reason
// in unavailable.
func TestReadResources(t *testing.T) {
	t.Parallel()
	const meminfo = "MemTotal:        2048000 kB\nMemFree:          100000 kB\nMemAvailable:     1024000 kB\n"
	tests := []struct {
		name        string
		files       map[string]string
		want        map[string]string // "" means absent
		unavailable []string          // substrings
	}{
		{"all there", map[string]string{"proc/uptime": "12.99 1.00\n", "proc/loadavg": "0.00 0.01 10.25 1/1 1\n", "proc/meminfo": meminfo},
			map[string]string{"host_uptime_s": "12", "load1": "0.00", "load5": "0.01", "load15": "10.25",
				"mem_total_bytes": "2097152000", "mem_available_bytes": "1048576000", "unavailable": ""}, nil},
		{"short loadavg", map[string]string{"proc/uptime": "1 1", "proc/loadavg": "0.50\n", "proc/meminfo": meminfo},
			map[string]string{"host_uptime_s": "1", "load1": "", "mem_total_bytes": "2097152000"}, []string{"load: cannot parse"}},
		{"bad uptime", map[string]string{"proc/uptime": "soon\n", "proc/loadavg": "1 2 3 1/1 1", "proc/meminfo": meminfo},
			map[string]string{"host_uptime_s": "", "load1": "1.00"}, []string{`host uptime: bad uptime "soon"`}},
		{"empty root", nil, map[string]string{"host_uptime_s": "", "mem_total_bytes": "", "mem_available_bytes": ""},
			[]string{"host uptime: open ", "memory: no MemTotal in "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[string]string{}
			for _, a := range readResources(context.Background(), hostRoot(t, tc.files)) {
				got[a.Key] = a.Value
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, w := range tc.unavailable {
				if !strings.Contains(got["unavailable"], w) {
					t.Errorf("unavailable %q does not contain %q", got["unavailable"], w)
				}
			}
			// The agent's own figures do not depend on the host root.
			if rss, err := strconv.ParseUint(got["agent_rss_bytes"], 10, 64); err != nil || rss == 0 {
				t.Errorf("agent_rss_bytes %q: want a positive number (%v)", got["agent_rss_bytes"], err)
			}
			if cpu, err := strconv.ParseFloat(got["agent_cpu_s"], 64); err != nil || cpu < 0 {
				t.Errorf("agent_cpu_s %q: want a non-negative number (%v)", got["agent_cpu_s"], err)
			}
		})
	}
}

var uptimeTests = []struct {
	in   string
	want float64
	ok   bool
}{
	{"86523.41 172011.88\n", 86523.41, true},
	{"0.00 0.00\n", 0, true},
	{"12\n", 12, true},
	{"  350735.47   234388.90  ", 350735.47, true},
	{"", 0, false},
	{"\n", 0, false},
	{"-1.00 0.00\n", 0, false},
	{"NaN 0\n", 0, false},
	{"Inf 0\n", 0, false},
	{"1e300 0\n", 0, false},
	{"86523,41 172011,88\n", 0, false},
	{"up 3 days\n", 0, false},
}

func TestParseUptime(t *testing.T) {
	t.Parallel()
	for _, tc := range uptimeTests {
		got, err := parseUptime([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseUptime(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseUptime(f *testing.F) {
	for _, tc := range uptimeTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseUptime(b)
		if err != nil {
			if v != 0 {
				t.Errorf("parseUptime(%q) = %v with error %v; want 0", b, v, err)
			}
			return
		}
		if !(v >= 0 && v < maxUptime) {
			t.Errorf("parseUptime(%q) = %v: out of [0, %g)", b, v, maxUptime)
		}
	})
}
