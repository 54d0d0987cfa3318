package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"
)

// TestDryRunOnceExits: run -dry-run -once prints every line of the file
// and exits 0 by itself, with no signal.
func TestDryRunOnceExits(t *testing.T) {
	path, lines := writeLog(t)
	var out, errb lockedbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"run", "-dry-run", "-once", "-tail", path}, &out, &errb)
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d, stderr %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run -dry-run -once still running 20s after start: it should exit at the end of the file")
	}
	checkDryRunOutput(t, out.String(), path, lines)
	for _, r := range recordLines(t, out.String()) {
		if r.Kind != "log" {
			t.Errorf("record of kind %s: -once runs only the file tailer", r.Kind)
		}
	}
}

// TestDryRunOnceRefuses: -once without -dry-run is a usage error, and
// without a file to read a failure saying so.
func TestDryRunOnceRefuses(t *testing.T) {
	path, _ := writeLog(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "-once", "-tail", path}, 2, "-once needs -dry-run"},
		{[]string{"run", "-dry-run", "-once"}, 1, "give -tail FILE"},
		{[]string{"run", "-dry-run", "-once", "-tail", path + ".none*"}, 1, "matches no file"},
	} {
		code, out, errOut := runCmd(t, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d saying %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
}
