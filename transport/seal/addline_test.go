package seal

import (
	"bytes"
	"testing"
)

// addLineCases are runs of records as a tailer sends them, with what
// AddLine must refuse among them (another source or file, attributes,
// refs set by the caller, the batch's first record).
func addLineCases() [][]WireRecord {
	fp, fp2 := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{8}, 32)
	file := func(start, end int64) *WireFileRange {
		return &WireFileRange{Dev: 2049, Inode: 1234, FPLen: 1024, FP: fp, Start: start, End: end}
	}
	return [][]WireRecord{
		{
			{TimeNs: 1_700_000_000_123_456_789, Kind: 1, Source: "file:/var/log/auth.log", Body: []byte("first"), File: file(0, 6)},
			{TimeNs: 1_700_000_000_123_456_789, Kind: 1, Source: "file:/var/log/auth.log", Body: []byte("second"), File: file(6, 13)},
			{TimeNs: 0, Kind: 0, Source: "file:/var/log/auth.log", File: file(13, 14)}, // empty line, zero time and kind
			{TimeNs: -1, Kind: 1 << 31, Source: "file:/var/log/auth.log", Body: bytes.Repeat([]byte{0xff}, 300), Flags: 3, File: file(1<<40, 1<<62)},
			{TimeNs: 5, Kind: 1, Source: "file:/var/log/other", Body: []byte("another source"), File: file(0, 15)}, // refused: new source
			{TimeNs: 5, Kind: 1, Source: "file:/var/log/other", Body: []byte("same again"), File: file(15, 26)},
			{TimeNs: 6, Kind: 1, Source: "file:/var/log/other", Body: []byte("rotated"), File: &WireFileRange{Dev: 2049, Inode: 99, FPLen: 1024, FP: fp2, End: 8}},                       // refused: new file
			{TimeNs: 6, Kind: 1, Source: "file:/var/log/other", Body: []byte("rotated, next line"), File: &WireFileRange{Dev: 2049, Inode: 99, FPLen: 1024, FP: fp2, Start: 8, End: 27}}, // the second source and file: refs 2
			{TimeNs: 7, Kind: 3, Source: "file:/var/log/other", Body: []byte("attrs"), Attrs: []WireAttr{{"k", "v"}}, File: file(26, 30)},                                                // refused: attributes
			{TimeNs: 8, Kind: 1, Source: "file:/var/log/other", Body: []byte("ref set"), SourceRef: 1, File: file(30, 38)},                                                               // refused: a ref
			{TimeNs: 9, Kind: 1, Source: "file:/var/log/other", Body: []byte("no file")},                                                                                                 // refused: no file
			{TimeNs: 10, Kind: 1, Source: "file:/var/log/other", Body: []byte("last"), File: &WireFileRange{Dev: 2049, Inode: 99, FPLen: 1024, FP: fp2, Start: 8, End: 13}},              // refused: the two before looked up the first file again
		},
		{
			{TimeNs: 1, Kind: 1, Source: "s", Body: []byte("short fingerprint"), File: &WireFileRange{Inode: 5, FPLen: 3, FP: []byte("abc"), End: 18}},
			{TimeNs: 1, Kind: 1, Source: "s", Body: []byte("same"), File: &WireFileRange{Inode: 5, FPLen: 3, FP: []byte("abc"), Start: 18, End: 23}},
			{TimeNs: 1, Kind: 1, Source: "s", Body: []byte("longer fp"), File: &WireFileRange{Inode: 5, FPLen: 4, FP: []byte("abcd"), Start: 23, End: 33}}, // refused: grown identity
			{TimeNs: 1, Kind: 1, Source: "s", Body: []byte("fp not tabled"), File: &WireFileRange{Inode: 5, FP: bytes.Repeat([]byte{1}, 40), End: 1}},      // refused: inline identity
			{TimeNs: 1, Kind: 1, Source: "s", Body: []byte("again"), File: &WireFileRange{Inode: 5, FP: bytes.Repeat([]byte{1}, 40), Start: 1, End: 2}},
		},
	}
}

// TestAddLineMatchesAdd: a batch built with AddLine wherever it accepts a
// record is byte for byte the batch Add alone builds, AddLine reports the
// bytes the batch grew by, refuses every record it cannot encode as a line
// (leaving the batch as it was), and Undo takes back a line.
func TestAddLineMatchesAdd(t *testing.T) {
	t.Parallel()
	wantRefused := [][]int{{0, 4, 6, 8, 9, 10, 11}, {0, 2, 3, 4}}
	for c, recs := range addLineCases() {
		var want, got Builder
		want.Reset(make([]byte, HeaderRoom+8192))
		got.Reset(make([]byte, HeaderRoom+8192))
		var refused []int
		for i := range recs {
			want.Add(&recs[i])
			before := got.Len()
			n, ok := got.AddLine(&recs[i])
			if !ok {
				if got.Len() != before {
					t.Errorf("case %d record %d: refused, but the batch grew by %d", c, i, got.Len()-before)
				}
				refused = append(refused, i)
				got.Add(&recs[i])
				continue
			}
			if got.Len()-before != n {
				t.Errorf("case %d record %d: AddLine = %d, the batch grew by %d", c, i, n, got.Len()-before)
			}
			got.Undo()
			if got.Len() != before {
				t.Errorf("case %d record %d: after Undo the batch is %d bytes, want %d", c, i, got.Len(), before)
			}
			if _, ok := got.AddLine(&recs[i]); !ok {
				t.Errorf("case %d record %d: refused after Undo", c, i)
			}
		}
		if !equalInts(refused, wantRefused[c]) {
			t.Errorf("case %d: refused records %v, want %v", c, refused, wantRefused[c])
		}
		if got.Count() != want.Count() {
			t.Errorf("case %d: Count = %d, want %d", c, got.Count(), want.Count())
		}
		if g, w := got.Close(), want.Close(); !bytes.Equal(g, w) {
			t.Errorf("case %d: batch with AddLine\n%x\nwant (Add alone)\n%x", c, g, w)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzAddLineMatchesAdd: for any line after a first record of the same
// file, AddLine writes exactly what Add writes.
func FuzzAddLineMatchesAdd(f *testing.F) {
	for _, recs := range addLineCases() {
		for _, r := range recs {
			if r.File != nil {
				f.Add(r.TimeNs, r.Kind, r.Body, r.Flags, r.File.Start, r.File.End, r.File.Dev, r.File.Inode, r.File.FPLen, r.File.FP)
			}
		}
	}
	f.Fuzz(func(t *testing.T, timeNs int64, kind uint32, body []byte, flags uint32, start, end int64, dev, inode uint64, fpLen uint32, fp []byte) {
		first := WireRecord{TimeNs: 1, Kind: 1, Source: "file:/f", Body: []byte("first"),
			File: &WireFileRange{Dev: dev, Inode: inode, FPLen: fpLen, FP: fp, End: 6}}
		line := WireRecord{TimeNs: timeNs, Kind: kind, Source: "file:/f", Body: body, Flags: flags,
			File: &WireFileRange{Dev: dev, Inode: inode, FPLen: fpLen, FP: fp, Start: start, End: end}}
		var want, got Builder
		want.Reset(make([]byte, HeaderRoom+1024))
		got.Reset(make([]byte, HeaderRoom+1024))
		want.Add(&first)
		want.Add(&line)
		got.Add(&first)
		before := got.Len()
		n, ok := got.AddLine(&line)
		if !ok {
			if len(fp) <= fpMax {
				t.Fatalf("AddLine refused a line of the last file (fingerprint of %d bytes)", len(fp))
			}
			return
		}
		if got.Len()-before != n {
			t.Errorf("AddLine = %d, the batch grew by %d", n, got.Len()-before)
		}
		if g, w := got.Close(), want.Close(); !bytes.Equal(g, w) {
			t.Errorf("AddLine wrote\n%x\nAdd wrote\n%x", g, w)
		}
	})
}
