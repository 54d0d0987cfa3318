package layout

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// maxLines is the size of a file a person reads in one sitting
// (docs/STYLE.md). A longer non-test file says why at its top: generated
// code says so ("Code generated ... DO NOT EDIT."), anything else carries a
// comment line starting "Long because".
const maxLines = 500

func TestFilesReadInOneSitting(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("git", "ls-files", "--", "../../*.go").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(data, []byte("\n"))
		if n <= maxLines {
			continue
		}
		if !saysWhy(data) {
			t.Errorf("%s: %d lines, more than %d, and no reason at its top (\"Long because ...\")", strings.TrimPrefix(f, "../../"), n, maxLines)
		}
	}
}

// saysWhy reports whether the comments before the package clause give a
// reason for the length.
func saysWhy(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "package ") {
			return false
		}
		if strings.HasPrefix(l, "// Code generated ") || strings.HasPrefix(l, "// Long because") {
			return true
		}
	}
	return false
}
