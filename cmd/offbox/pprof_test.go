package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestPprofRefusesNonLoopback: -pprof on any non-loopback address stops
// the agent before it starts, naming the flag and the address.
func TestPprofRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:6061", ":6061", "192.0.2.1:6061"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"run", "-pprof", addr, "-dry-run", "-once", "-tail", "/nonexistent"}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "-pprof \""+addr+"\"") || !strings.Contains(errb.String(), "must not be reachable from the network") {
			t.Errorf("run -pprof %s: exit %d, stderr %q; want 1 and the address refused", addr, code, errb.String())
		}
	}
}
