package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeDemo is acceptance 1: `make demo` builds both programs, makes
// throwaway certificates, runs the collector and an agent on loopback, shows
// the lines arriving, writes nothing outside its demo directory and stops
// both programs.
func TestMakeDemo(t *testing.T) {
	skipShort(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	demo := filepath.Join(t.TempDir(), "demo")
	before := treeState(t, repo)
	cmd := exec.Command("make", "-s", "demo", "DEMO_DIR="+demo)
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Failed password for root from 203.0.113.7",
		"demo line 5",
		"8 of 8 lines",
		"auth_failure", // the events and the alerts
		"auth_success",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make demo output lacks %q:\n%s", want, out)
		}
	}
	if after := treeState(t, repo); after != before {
		t.Errorf("make demo changed the tree outside its demo directory:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Both programs stopped: nothing holds the demo's database open.
	if b, _ := exec.Command("pgrep", "-f", demo).Output(); len(b) > 0 {
		t.Errorf("processes still running from the demo: %s", b)
	}
	if _, err := os.Stat(filepath.Join(demo, "offbox.db")); err != nil {
		t.Errorf("the demo's store is not in its directory: %v", err)
	}
}

// treeState lists untracked and modified files (ignored ones too), less the
// build output of `make build`.
func treeState(t *testing.T, repo string) string {
	t.Helper()
	cmd := exec.Command("git", "status", "--porcelain", "--ignored", "--untracked-files=all")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git status (the demo test needs a git checkout): %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" || strings.HasSuffix(l, " bin/") || strings.Contains(l, " bin/") || strings.Contains(l, ".test") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}
