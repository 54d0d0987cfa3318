package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestPprofRefusesNonLoopback: serve -pprof on a non-loopback address
// exits before opening anything, naming the flag and the address.
func TestPprofRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060"} {
		var out, errb bytes.Buffer
		code := serve([]string{"-pprof", addr, "-db", t.TempDir() + "/x.db"}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), "-pprof \""+addr+"\"") || !strings.Contains(errb.String(), "must not be reachable from the network") {
			t.Errorf("serve -pprof %s: exit %d, stderr %q; want an error refusing the address", addr, code, errb.String())
		}
	}
}
