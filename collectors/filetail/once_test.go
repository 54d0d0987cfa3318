package filetail

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offbox/offbox/collectors"
)

// TestReadOnce: every matched file is read to its end, in order, with the
// unfinished last line flagged, and ReadOnce returns; a pattern that
// matches nothing is an error that names it.
func TestReadOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, wantA := lines("a", 0, 300)
	b, wantB := lines("b", 0, 5)
	writeFile(t, filepath.Join(dir, "a.log"), a)
	writeFile(t, filepath.Join(dir, "b.log"), b+"no newline")
	writeFile(t, filepath.Join(dir, "skip.txt"), "not matched\n")
	for _, tc := range []struct {
		name    string
		cfg     Config
		want    []string
		wantErr string
	}{
		{"glob", testConfig(filepath.Join(dir, "*.log")), append(append(append([]string{}, wantA...), wantB...), "no newline"), ""},
		{"same file twice", testConfig(filepath.Join(dir, "b.log"), filepath.Join(dir, "b*.log")), append(append([]string{}, wantB...), "no newline"), ""},
		{"start at end", func() Config { c := testConfig(filepath.Join(dir, "a.log")); c.StartAt = "end"; return c }(), nil, ""},
		{"no match", testConfig(filepath.Join(dir, "*.gz")), nil, "*.gz matches no file"},
	} {
		tl, err := New(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var em fakeEmitter
		err = tl.ReadOnce(context.Background(), &em)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: err %v, want one saying %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		recs := ofKind(em.all(), collectors.KindLog)
		if got := bodies(recs); !equalStrings(got, tc.want) {
			t.Errorf("%s: got %d lines, want %d:\n%s", tc.name, len(got), len(tc.want), dump(recs))
		}
		if n := len(recs); n > 0 && recs[n-1].Flags&collectors.FlagNoNewline == 0 {
			t.Errorf("%s: the unfinished last line is not flagged no_newline", tc.name)
		}
	}
}
