// Package testpeer finds the real programs that integration tests run
// against (chronyd, logrotate, chromium, PostgreSQL...). A missing one skips
// the test with a message naming the Debian package that provides it, in one
// form ("needs X (apt-get install P)") that `make test`'s summary groups;
// when OFFBOX_INTEGRATION=1 says the peers must be there, it fails instead.
// It is for tests only: nothing outside a _test.go file or a test helper
// package imports it.
package testpeer

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Required reports whether OFFBOX_INTEGRATION=1 asks every peer to be there.
func Required() bool { return os.Getenv("OFFBOX_INTEGRATION") == "1" }

// Missing skips t, or fails it when Required: what is missing, the Debian
// package that brings it, and why it was not found.
func Missing(t testing.TB, what, pkg string, err error) {
	t.Helper()
	msg := Message(what, pkg)
	if err != nil {
		msg += ": " + err.Error()
	}
	if Required() {
		t.Fatalf("OFFBOX_INTEGRATION=1 requires it: %s", msg)
	}
	t.Skip(msg)
}

// Message is the one form of a missing peer's skip message; the test
// summary (internal/testreport) reads the package name back from it.
func Message(what, pkg string) string {
	return fmt.Sprintf("needs %s (apt-get install %s)", what, pkg)
}

// LookPath returns the first of names found (a bare name is looked up on
// PATH, a path is checked as it is), or calls Missing.
func LookPath(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	var last error
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err == nil {
			return p
		}
		last = err
	}
	Missing(t, names[0], pkg, last)
	return ""
}
