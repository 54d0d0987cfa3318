package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// The agent's own resident memory and CPU time, from /proc/self/statm and
// /proc/self/stat. gopsutil's process package did this and linked its
// whole process, cpu and net packages with their init (sysconf, boot time)
// for two numbers: reading the two files here costs about 60 KiB less on
// mips (docs/ARCHITECTURE.md, "Size").

// clockTicks is USER_HZ, the unit of /proc's CPU times: 100 on every Linux
// architecture the agent builds for (only alpha and ia64 differ), which is
// also what sysconf(_SC_CLK_TCK) answers there.
const clockTicks = 100

// selfRSS reads the agent's resident set size in bytes.
func selfRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	pages, err := parseStatm(b)
	if err != nil {
		return 0, err
	}
	return pages * uint64(os.Getpagesize()), nil
}

// selfCPU reads the agent's user plus system CPU time in seconds.
func selfCPU() (float64, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(b)
	if err != nil {
		return 0, err
	}
	return float64(ticks) / clockTicks, nil
}

// parseStatm parses /proc/PID/statm ("size resident shared text lib data
// dt", in pages) into the resident pages.
func parseStatm(b []byte) (uint64, error) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, errors.New("statm: fewer than 2 fields")
	}
	v, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("statm: resident %q: not a page count", f[1])
	}
	return v, nil
}

// parseStatCPU parses /proc/PID/stat into utime+stime, in clock ticks
// (fields 14 and 15 of proc(5)). The command name, field 2, is in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, errors.New("stat: fewer than 15 fields")
	}
	var sum uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: CPU time %q: not a tick count", s)
		}
		if sum+v < sum {
			return 0, errors.New("stat: CPU time overflows")
		}
		sum += v
	}
	return sum, nil
}
