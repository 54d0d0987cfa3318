package watch

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// diffCases are the unit table and the fuzz seeds. want is GNU diff -u's
// output (checked with diff 3.8) after our headers.
var diffCases = []struct {
	name string
	a, b string
	want string // without the two header lines; "" for no diff
}{
	{"equal", "a\nb\n", "a\nb\n", ""},
	{"both empty", "", "", ""},
	{"two hunks", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nm\nn\n", "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\nM\nn\n",
		"@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -10,5 +10,5 @@\n j\n k\n l\n-m\n+M\n n\n"},
	{"close changes merge", "a\nb\nc\nd\ne\nf\ng\nh\ni\n", "a\nB\nc\nd\ne\nf\ng\nH\ni\n",
		"@@ -1,9 +1,9 @@\n a\n-b\n+B\n c\n d\n e\n f\n g\n-h\n+H\n i\n"},
	{"no newline at end", "x\ny", "x\nz",
		"@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+z\n\\ No newline at end of file\n"},
	{"newline added", "x\ny", "x\ny\n",
		"@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+y\n"},
	{"created", "", "p\nq\n", "@@ -0,0 +1,2 @@\n+p\n+q\n"},
	{"deleted", "p\nq\n", "", "@@ -1,2 +0,0 @@\n-p\n-q\n"},
	{"one line", "only\n", "changed\n", "@@ -1 +1 @@\n-only\n+changed\n"},
	{"insert in the middle", "1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nnew\n5\n6\n7\n8\n",
		"@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n"},
	{"crlf kept", "a\r\nb\r\n", "a\r\nc\r\n", "@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n"},
}

func TestUnifiedDiff(t *testing.T) {
	t.Parallel()
	for _, tc := range diffCases {
		got, truncated := unifiedDiff("/etc/x", []byte(tc.a), []byte(tc.b), 1<<20)
		want := tc.want
		if want != "" {
			want = "--- a/etc/x\n+++ b/etc/x\n" + want
		}
		if got != want || truncated {
			t.Errorf("%s: got (truncated %v)\n%s\nwant\n%s", tc.name, truncated, got, want)
		}
		if tc.a != tc.b {
			checkApplies(t, tc.a, tc.b, got)
		}
	}
}

func TestUnifiedDiffBinary(t *testing.T) {
	t.Parallel()
	got, _ := unifiedDiff("/etc/b", []byte("a\x00b"), []byte("a\x00c"), 1000)
	if got != "Binary files a/etc/b and b/etc/b differ\n" {
		t.Errorf("got %q", got)
	}
}

func TestUnifiedDiffTruncated(t *testing.T) {
	t.Parallel()
	var a, b strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&a, "line %d\n", i)
		fmt.Fprintf(&b, "line %d changed\n", i)
	}
	for _, limit := range []int{0, 10, 100, 16 << 10} {
		got, truncated := unifiedDiff("/etc/big", []byte(a.String()), []byte(b.String()), limit)
		if !truncated || len(got) > limit || (got != "" && !strings.HasSuffix(got, "\n")) || (limit > 100 && len(got) < limit-100) {
			t.Errorf("limit %d: %d bytes, truncated %v, ends %q", limit, len(got), truncated, got[max(0, len(got)-10):])
		}
		full, _ := unifiedDiff("/etc/big", []byte(a.String()), []byte(b.String()), 1<<30)
		if !strings.HasPrefix(full, got) {
			t.Errorf("limit %d: the cut diff is not a prefix of the whole one", limit)
		}
	}
}

// TestUnifiedDiffManyEdits: past maxEdits the middle is replaced whole, and
// the diff still turns a into b; below it the diff is minimal.
func TestUnifiedDiffManyEdits(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, edits := range []int{5, maxEdits / 4, 3 * maxEdits} {
		var a, b strings.Builder
		changed := 0
		for i := range 4000 {
			line := strconv.Itoa(i) + "\n"
			a.WriteString(line)
			if changed < edits && rng.IntN(4000/edits/2+1) == 0 {
				b.WriteString("x" + line)
				changed++
				continue
			}
			b.WriteString(line)
		}
		got, truncated := unifiedDiff("/etc/m", []byte(a.String()), []byte(b.String()), 1<<30)
		if truncated {
			t.Fatal("truncated under a 1 GiB cap")
		}
		checkApplies(t, a.String(), b.String(), got)
		plus := strings.Count(got, "\n+") - 1 // the +++ header
		if 2*changed <= maxEdits && plus != changed {
			t.Errorf("%d changed lines: %d added in the diff, want as many (minimal)", changed, plus)
		}
	}
}

// checkApplies fails unless diff, applied to a, gives b exactly, with
// every hunk's context and counts right.
func checkApplies(t *testing.T, a, b, diff string) {
	t.Helper()
	got, err := applyDiff(a, diff)
	if err != nil {
		t.Fatalf("diff does not apply: %v\n%s", err, diff)
	}
	if got != b {
		t.Fatalf("diff applied gives %q, want %q\n%s", got, b, diff)
	}
}

// applyDiff is a strict patch(1) for our unified diffs.
func applyDiff(a, diff string) (string, error) {
	if diff == "" {
		return a, nil
	}
	al := splitLines([]byte(a))
	dl := strings.SplitAfter(diff, "\n")
	if len(dl) < 3 || !strings.HasPrefix(dl[0], "--- a/") || !strings.HasPrefix(dl[1], "+++ b/") {
		return "", fmt.Errorf("bad headers")
	}
	dl = dl[2 : len(dl)-1] // SplitAfter leaves "" after the last "\n"
	var out []string
	pos := 0 // next line of a
	for i := 0; i < len(dl); {
		var as, an, bs, bn int
		h := strings.TrimSuffix(dl[i], "\n")
		if _, err := fmt.Sscanf(normRange(h), "@@ -%d,%d +%d,%d @@", &as, &an, &bs, &bn); err != nil {
			return "", fmt.Errorf("line %d: bad hunk header %q", i, h)
		}
		i++
		start := as - 1
		if an == 0 {
			start = as
		}
		if start < pos || start > len(al) {
			return "", fmt.Errorf("hunk %q starts at %d, before %d or past the end", h, start, pos)
		}
		out = append(out, al[pos:start]...)
		wantBefore := bs - 1
		if bn == 0 {
			wantBefore = bs
		}
		if len(out) != wantBefore {
			return "", fmt.Errorf("hunk %q: new start %d, but %d lines before it", h, bs, len(out))
		}
		pos = start
		type hl struct {
			op   byte
			text string
		}
		var body []hl
		for i < len(dl) && !strings.HasPrefix(dl[i], "@@") {
			l := dl[i]
			i++
			if l == "\\ No newline at end of file\n" {
				if len(body) == 0 {
					return "", fmt.Errorf("no-newline marker first in a hunk")
				}
				body[len(body)-1].text = strings.TrimSuffix(body[len(body)-1].text, "\n")
				continue
			}
			if l == "" || !strings.ContainsRune(" -+", rune(l[0])) {
				return "", fmt.Errorf("bad hunk line %q", l)
			}
			body = append(body, hl{l[0], l[1:]})
		}
		var na, nb int
		for _, l := range body {
			if l.op != '+' {
				if pos >= len(al) || al[pos] != l.text {
					return "", fmt.Errorf("hunk %q: line %d of a is not %q", h, pos+1, l.text)
				}
				pos++
				na++
			}
			if l.op != '-' {
				out = append(out, l.text)
				nb++
			}
		}
		if na != an || nb != bn {
			return "", fmt.Errorf("hunk %q counts %d,%d lines", h, na, nb)
		}
	}
	out = append(out, al[pos:]...)
	return strings.Join(out, ""), nil
}

// normRange writes "-5" as "-5,1" so one Sscanf format reads every header.
func normRange(h string) string {
	f := strings.Fields(h)
	if len(f) != 4 {
		return h
	}
	for _, i := range []int{1, 2} {
		if !strings.Contains(f[i], ",") {
			f[i] += ",1"
		}
	}
	return strings.Join(f, " ")
}

func FuzzUnifiedDiff(f *testing.F) {
	for _, tc := range diffCases {
		f.Add([]byte(tc.a), []byte(tc.b), uint16(1000))
	}
	f.Add([]byte("a\nb\nc\n"), []byte("c\nb\na\n"), uint16(20))
	f.Fuzz(func(t *testing.T, a, b []byte, maxBytes uint16) {
		got, truncated := unifiedDiff("/f", a, b, int(maxBytes))
		if len(got) > int(maxBytes) {
			t.Fatalf("%d bytes over a cap of %d", len(got), maxBytes)
		}
		if bytes.Equal(a, b) {
			if got != "" || truncated {
				t.Fatalf("equal inputs give %q", got)
			}
			return
		}
		full, fullCut := unifiedDiff("/f", a, b, 1<<30)
		if fullCut || !strings.HasPrefix(full, got) || truncated != (got != full) {
			t.Fatalf("cut diff (truncated %v) is not the whole diff's prefix", truncated)
		}
		if bytes.IndexByte(a, 0) >= 0 || bytes.IndexByte(b, 0) >= 0 {
			return
		}
		checkApplies(t, string(a), string(b), full)
	})
}
