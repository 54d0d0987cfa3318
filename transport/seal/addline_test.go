package seal

import (
	"bytes"
	"slices"
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
		{
			{TimeNs: 42, Kind: 1, Source: "file:/r", Body: []byte("one read: first"), File: file(0, 16)},
			{TimeNs: 42, Kind: 1, Source: "file:/r", Body: []byte("second"), File: file(16, 23)},
			{TimeNs: 42, Kind: 1, Source: "file:/r", File: file(23, 24)},
			{TimeNs: 42, Kind: 1, Source: "file:/r", Body: []byte("a piece"), Flags: 2, File: file(24, 31)},
			{TimeNs: 42, Kind: 1, Source: "file:/r", Body: bytes.Repeat([]byte("z"), 200), File: file(31, 232)},
			{TimeNs: 42, Kind: 1, Source: "file:/r", Body: bytes.Repeat([]byte("y"), 16330), File: file(232, 16563)},                   // a record just under 16 KiB: a two-byte length
			{TimeNs: 42, Kind: 1, Source: "file:/r", Body: bytes.Repeat([]byte("w"), 16360), File: file(16563, 32924)},                 // just over: three
			{TimeNs: 42, Kind: 1, Source: "file:/r", Body: bytes.Repeat([]byte("v"), 1<<21), Flags: 2, File: file(32924, 32924+1<<21)}, // four
			{TimeNs: 43, Kind: 1, Source: "file:/r", Body: []byte("next read"), File: file(232, 242)},
			{TimeNs: 43, Kind: 1, Source: "file:/r", Body: []byte("and on"), File: file(242, 249)},
		},
	}
}

// TestAddLineMatchesAdd: a batch built with AddLine wherever it accepts a
// record is byte for byte the batch Add alone builds, AddLine reports the
// bytes the batch grew by, refuses every record it cannot encode as a line
// (leaving the batch as it was), and Undo takes back a line.
func TestAddLineMatchesAdd(t *testing.T) {
	t.Parallel()
	wantRefused := [][]int{{0, 4, 6, 8, 9, 10, 11}, {0, 2, 3, 4}, {0}}
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
		if !slices.Equal(refused, wantRefused[c]) {
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
	f.Add(int64(1), uint32(1), bytes.Repeat([]byte("x"), 16360), uint32(0), int64(1<<40), int64(1<<40+16361), uint64(1), uint64(2), uint32(1024), bytes.Repeat([]byte{1}, 32))
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
		var viaRun Builder
		viaRun.Reset(make([]byte, HeaderRoom+1024))
		viaRun.Add(&first)
		run, ok := viaRun.Run(&line)
		if !ok {
			t.Fatal("Run refused what AddLine took")
		}
		run.Add(line.Body, line.Flags, line.File.Start, line.File.End)
		w := want.Close()
		if g := got.Close(); !bytes.Equal(g, w) {
			t.Errorf("AddLine wrote\n%x\nAdd wrote\n%x", g, w)
		}
		if g := viaRun.Close(); !bytes.Equal(g, w) {
			t.Errorf("LineRun.Add wrote\n%x\nAdd wrote\n%x", g, w)
		}
	})
}

// TestLineRunMatchesAdd: a batch built with runs, each line of a run added
// by LineRun.Add, is byte for byte the batch Add alone builds.
func TestLineRunMatchesAdd(t *testing.T) {
	t.Parallel()
	for c, recs := range addLineCases() {
		var want, got Builder
		want.Reset(make([]byte, HeaderRoom+8192))
		got.Reset(make([]byte, HeaderRoom+8192))
		var run LineRun
		var runOf *WireRecord // the record the run started with
		runLines := 0
		for i := range recs {
			r := &recs[i]
			want.Add(r)
			if runOf != nil && sameRun(runOf, r) {
				before := got.Len()
				n, ok := run.Add(r.Body, r.Flags, r.File.Start, r.File.End)
				if !ok {
					t.Fatalf("case %d record %d: the run was void", c, i)
				}
				if got.Len()-before != n {
					t.Errorf("case %d record %d: Add = %d, the batch grew by %d", c, i, n, got.Len()-before)
				}
				runLines++
				continue
			}
			runOf = nil
			if rr, ok := got.Run(r); ok {
				run, runOf = rr, r
				run.Add(r.Body, r.Flags, r.File.Start, r.File.End)
				runLines++
				continue
			}
			got.Add(r)
		}
		if runLines == 0 || (c == 2 && runLines != len(recs)-1) {
			t.Errorf("case %d: %d lines went through a run", c, runLines)
		}
		if g, w := got.Close(), want.Close(); !bytes.Equal(g, w) {
			t.Errorf("case %d: batch with runs\n%x\nwant (Add alone)\n%x", c, g, w)
		}
	}
}

// sameRun reports whether r can be a line of the run a started: the same
// time, kind, source and file identity, and nothing a line cannot carry.
func sameRun(a, r *WireRecord) bool {
	return r.File != nil && len(r.Attrs) == 0 && r.SourceRef == 0 && r.File.FileRef == 0 && r.TimeNs == a.TimeNs &&
		r.Kind == a.Kind && r.Source == a.Source && r.File.Dev == a.File.Dev && r.File.Inode == a.File.Inode &&
		r.File.FPLen == a.File.FPLen && bytes.Equal(r.File.FP, a.File.FP)
}

// TestLineRunVoid: a run ends when its refs may no longer hold: a new
// batch, or an undone record that added a table entry. Other records in
// between do not end it.
func TestLineRunVoid(t *testing.T) {
	t.Parallel()
	fp := bytes.Repeat([]byte{7}, 32)
	line := WireRecord{TimeNs: 1, Kind: 1, Source: "file:/a", Body: []byte("a"), File: &WireFileRange{Inode: 1, FP: fp, End: 2}}
	other := WireRecord{TimeNs: 2, Kind: 3, Source: "agent", Body: []byte("status")}
	var b Builder
	b.Reset(make([]byte, HeaderRoom+1024))
	if _, ok := b.Run(&line); ok {
		t.Fatal("a run started in an empty batch")
	}
	b.Add(&line)
	run, ok := b.Run(&line)
	if !ok {
		t.Fatal("no run after a line of the file")
	}
	if _, ok := run.Add([]byte("b"), 0, 2, 4); !ok {
		t.Fatal("a fresh run refused a line")
	}
	b.Add(&other) // a new source, kept
	if _, ok := run.Add([]byte("c"), 0, 4, 6); !ok {
		t.Error("a record of another source in between ended the run")
	}
	b.Add(&WireRecord{TimeNs: 3, Kind: 1, Source: "file:/new", Body: []byte("x")})
	b.Undo() // takes back the new source
	if _, ok := run.Add([]byte("d"), 0, 6, 8); ok {
		t.Error("the run went on after a table entry was undone")
	}
	run, _ = b.Run(&line)
	b.Close()
	b.Reset(make([]byte, HeaderRoom+1024))
	if _, ok := run.Add([]byte("e"), 0, 8, 10); ok {
		t.Error("the run went on into a new batch")
	}
	var zero LineRun
	if _, ok := zero.Add([]byte("f"), 0, 0, 1); ok {
		t.Error("the zero LineRun added a line")
	}
}
