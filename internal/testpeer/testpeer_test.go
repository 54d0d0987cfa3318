package testpeer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "peer")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := LookPath(t, "peer-pkg", filepath.Join(dir, "absent"), bin); got != bin {
		t.Errorf("LookPath = %q, want %q", got, bin)
	}
}

func TestMessage(t *testing.T) {
	got := Message("chronyd", "chrony")
	if want := "needs chronyd (apt-get install chrony)"; got != want {
		t.Errorf("Message = %q, want %q", got, want)
	}
	if !strings.Contains(got, "apt-get install chrony") {
		t.Errorf("Message %q does not name the package", got)
	}
}
