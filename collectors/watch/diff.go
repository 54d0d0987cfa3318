package watch

import (
	"bytes"
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines around each change, as diff -u.
const diffContext = 3

// maxEdits bounds the Myers search: its trace holds about maxEdits² int32s
// (1 MiB at 512). A change set larger than that is shown as one replacement
// of everything between the common head and tail: still a correct diff,
// only not the shortest, and long enough to be truncated anyway.
const maxEdits = 512

// unifiedDiff returns a unified diff (diff -u, three lines of context) that
// turns a into b, with name in the headers, cut at a line boundary to at most
// maxBytes bytes (truncated then reports the cut). Equal inputs give "".
// Inputs holding a NUL byte are binary: the diff only says that they differ.
func unifiedDiff(name string, a, b []byte, maxBytes int) (diff string, truncated bool) {
	if bytes.Equal(a, b) {
		return "", false
	}
	var w strings.Builder
	if bytes.IndexByte(a, 0) >= 0 || bytes.IndexByte(b, 0) >= 0 {
		fmt.Fprintf(&w, "Binary files a%s and b%s differ\n", name, name)
		return cut(w.String(), maxBytes)
	}
	al, bl := splitLines(a), splitLines(b)
	edits := diffLines(al, bl)
	fmt.Fprintf(&w, "--- a%s\n+++ b%s\n", name, name)
	for _, h := range hunks(edits) {
		es := edits[h[0]:h[1]]
		var na, nb int
		for _, e := range es {
			if e.op != '+' {
				na++
			}
			if e.op != '-' {
				nb++
			}
		}
		fmt.Fprintf(&w, "@@ -%s +%s @@\n", hunkRange(es[0].a, na), hunkRange(es[0].b, nb))
		for _, e := range es {
			var line string
			if e.op == '+' {
				line = bl[e.b]
			} else {
				line = al[e.a]
			}
			w.WriteByte(e.op)
			w.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				w.WriteString("\n\\ No newline at end of file\n")
			}
		}
		if w.Len() > maxBytes {
			break // the rest would be cut anyway
		}
	}
	return cut(w.String(), maxBytes)
}

// cut shortens s to at most max bytes, at a line boundary.
func cut(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	s = s[:max]
	return s[:strings.LastIndexByte(s, '\n')+1], true
}

// hunkRange formats a hunk header range as GNU diff does: start is 1-based,
// or the line before an empty range; a count of 1 is left out.
func hunkRange(before, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", before)
	case 1:
		return fmt.Sprintf("%d", before+1)
	}
	return fmt.Sprintf("%d,%d", before+1, n)
}

// splitLines splits s into lines that keep their "\n"; a last line without
// one stays without, so a change of the final newline is a change.
func splitLines(s []byte) []string {
	var ls []string
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\n') + 1
		if i == 0 {
			i = len(s)
		}
		ls = append(ls, string(s[:i]))
		s = s[i:]
	}
	return ls
}

// edit is one line of an edit script: op ' ' keeps a[a] (== b[b]), '-'
// deletes a[a], '+' inserts b[b]. For '+' a counts the lines of a before it,
// for '-' b counts the lines of b before it.
type edit struct {
	op   byte
	a, b int
}

// hunks groups the changes of es into [start, end) ranges with diffContext
// unchanged lines around them, merging changes closer than twice that.
func hunks(es []edit) [][2]int {
	var hs [][2]int
	last := -1 // index of the last change in the current group
	for i, e := range es {
		if e.op == ' ' {
			continue
		}
		if last >= 0 && i-last-1 <= 2*diffContext {
			hs[len(hs)-1][1] = min(len(es), i+diffContext+1)
		} else {
			hs = append(hs, [2]int{max(0, i-diffContext), min(len(es), i+diffContext+1)})
		}
		last = i
	}
	return hs
}

// diffLines returns an edit script from a to b: the common head and tail
// kept, the middle by Myers' algorithm when it needs at most maxEdits edits,
// otherwise replaced whole.
func diffLines(a, b []string) []edit {
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	es := make([]edit, 0, len(a)+len(b)-head-tail)
	for i := 0; i < head; i++ {
		es = append(es, edit{' ', i, i})
	}
	am, bm := a[head:len(a)-tail], b[head:len(b)-tail]
	mid, ok := myers(intern(am, bm))
	if !ok {
		mid = mid[:0]
		for i := range am {
			mid = append(mid, edit{'-', i, 0})
		}
		for j := range bm {
			mid = append(mid, edit{'+', len(am), j})
		}
	}
	for _, e := range mid {
		es = append(es, edit{e.op, e.a + head, e.b + head})
	}
	for i := 0; i < tail; i++ {
		es = append(es, edit{' ', len(a) - tail + i, len(b) - tail + i})
	}
	return es
}

// intern maps equal lines to equal small numbers, so Myers compares ints.
func intern(a, b []string) ([]int32, []int32) {
	ids := make(map[string]int32)
	conv := func(ls []string) []int32 {
		out := make([]int32, len(ls))
		for i, l := range ls {
			id, ok := ids[l]
			if !ok {
				id = int32(len(ids))
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	return conv(a), conv(b)
}

// myers finds a shortest edit script from a to b (Myers 1986, the greedy
// forward search with the furthest-reaching x per diagonal kept for every
// step d, then walked back). ok is false when it needs more than maxEdits.
func myers(a, b []int32) (es []edit, ok bool) {
	n, m := len(a), len(b)
	off := maxEdits + 1
	v := make([]int32, 2*maxEdits+3) // v[off+k]: furthest x on diagonal k = x-y
	var trace [][]int32              // trace[d][k+d]: v after step d, k in [-d, d]
	for d := 0; d <= maxEdits; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = int(v[off+k+1]) // down: insert b[y-1]
			} else {
				x = int(v[off+k-1]) + 1 // right: delete a[x-1]
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = int32(x)
			if x >= n && y >= m {
				trace = append(trace, append([]int32(nil), v[off-d:off+d+1]...))
				return backtrack(trace, n, m), true
			}
		}
		trace = append(trace, append([]int32(nil), v[off-d:off+d+1]...))
	}
	return nil, false
}

// backtrack walks the trace of myers from (n, m) back to (0, 0).
func backtrack(trace [][]int32, n, m int) []edit {
	var rev []edit
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d-1] // indexed by k+(d-1)
		at := func(k int) int { return int(prev[k+d-1]) }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		sx, sy := px+1, py // where the edit of step d lands
		if pk == k+1 {
			sx, sy = px, py+1
		}
		for x > sx && y > sy {
			x, y = x-1, y-1
			rev = append(rev, edit{' ', x, y})
		}
		if pk == k+1 {
			rev = append(rev, edit{'+', px, py})
		} else {
			rev = append(rev, edit{'-', px, py})
		}
		x, y = px, py
	}
	for x > 0 && y > 0 {
		x, y = x-1, y-1
		rev = append(rev, edit{' ', x, y})
	}
	es := make([]edit, len(rev))
	for i, e := range rev {
		es[len(rev)-1-i] = e
	}
	return es
}
