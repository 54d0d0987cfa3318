package store

import (
	"bytes"
	"reflect"
	"testing"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

func fileRec(src string, ino uint64, fp byte, start, end, t int64) *offboxv1.Record {
	return &offboxv1.Record{TimeNs: t, Kind: offboxv1.Kind_KIND_LOG, Source: src, Body: []byte("l"),
		File: &offboxv1.FileRange{Start: start, End: end,
			File: &offboxv1.FileIdentity{Dev: 1, Inode: ino, FingerprintLen: 1024, Fingerprint: bytes.Repeat([]byte{fp}, 32)}}}
}

func plainRec(src string, kind offboxv1.Kind, t int64) *offboxv1.Record {
	return &offboxv1.Record{TimeNs: t, Kind: kind, Source: src}
}

// span is the segment file span of inode ino with fingerprint byte fp.
func span(ino uint64, fp byte, start, end int64) *FileSpan {
	return &FileSpan{Dev: 1, Inode: ino, Start: start, End: end, FPLen: 1024, FP: bytes.Repeat([]byte{fp}, 32)}
}

func cpAt(src string, ino uint64, fp byte, off int64) Checkpoint {
	return Checkpoint{Source: src, File: FileID{Dev: 1, Inode: ino, FPLen: 1024, FP: bytes.Repeat([]byte{fp}, 32)}, Offset: off}
}

func TestIndex(t *testing.T) {
	t.Parallel()
	const a, b = "file:/a", "file:/b"
	tests := []struct {
		name        string
		recs        []*offboxv1.Record
		cps         map[string]Checkpoint
		wantSegs    []Segment
		wantCPs     map[string]Checkpoint
		wantChanged []string
	}{
		{
			name: "one contiguous file run",
			recs: []*offboxv1.Record{fileRec(a, 7, 1, 0, 10, 5), fileRec(a, 7, 1, 10, 20, 3), fileRec(a, 7, 1, 20, 30, 9)},
			wantSegs: []Segment{{First: 0, Count: 3, Source: a, Kind: offboxv1.Kind_KIND_LOG, MinTimeNs: 3, MaxTimeNs: 9,
				File: span(7, 1, 0, 30)}},
			wantCPs:     map[string]Checkpoint{a: cpAt(a, 7, 1, 30)},
			wantChanged: []string{a},
		},
		{
			name: "source, kind, file and a hole in the bytes each start a run",
			recs: []*offboxv1.Record{
				fileRec(a, 7, 1, 0, 10, 1), fileRec(b, 8, 2, 0, 5, 2), plainRec(b, offboxv1.Kind_KIND_GAP, 3),
				plainRec("agent", offboxv1.Kind_KIND_HEARTBEAT, 4), plainRec("agent", offboxv1.Kind_KIND_HEARTBEAT, 5),
				fileRec(a, 7, 1, 10, 20, 6), fileRec(a, 7, 1, 25, 30, 7), fileRec(a, 9, 3, 0, 4, 8),
			},
			wantSegs: []Segment{
				{First: 0, Count: 1, Source: a, Kind: 1, MinTimeNs: 1, MaxTimeNs: 1, File: span(7, 1, 0, 10)},
				{First: 1, Count: 1, Source: b, Kind: 1, MinTimeNs: 2, MaxTimeNs: 2, File: span(8, 2, 0, 5)},
				{First: 2, Count: 1, Source: b, Kind: offboxv1.Kind_KIND_GAP, MinTimeNs: 3, MaxTimeNs: 3},
				{First: 3, Count: 2, Source: "agent", Kind: offboxv1.Kind_KIND_HEARTBEAT, MinTimeNs: 4, MaxTimeNs: 5},
				{First: 5, Count: 1, Source: a, Kind: 1, MinTimeNs: 6, MaxTimeNs: 6, File: span(7, 1, 10, 20)},
				{First: 6, Count: 1, Source: a, Kind: 1, MinTimeNs: 7, MaxTimeNs: 7, File: span(7, 1, 25, 30)},
				{First: 7, Count: 1, Source: a, Kind: 1, MinTimeNs: 8, MaxTimeNs: 8, File: span(9, 3, 0, 4)},
			},
			wantCPs:     map[string]Checkpoint{a: cpAt(a, 9, 3, 4), b: cpAt(b, 8, 2, 5)},
			wantChanged: []string{a, b},
		},
		{
			name: "lines at or before the checkpoint are duplicates and break the run",
			recs: []*offboxv1.Record{fileRec(a, 7, 1, 0, 10, 1), fileRec(a, 7, 1, 10, 20, 2),
				fileRec(a, 7, 1, 20, 30, 3), fileRec(a, 7, 1, 30, 40, 4)},
			cps: map[string]Checkpoint{a: cpAt(a, 7, 1, 20)},
			wantSegs: []Segment{{First: 2, Count: 2, Source: a, Kind: 1, MinTimeNs: 3, MaxTimeNs: 4,
				File: span(7, 1, 20, 40)}},
			wantCPs:     map[string]Checkpoint{a: cpAt(a, 7, 1, 40)},
			wantChanged: []string{a},
		},
		{
			name: "interleaved files: each record is judged against the checkpoint as it moves",
			recs: []*offboxv1.Record{fileRec(a, 9, 3, 0, 5, 1), fileRec(a, 7, 1, 10, 20, 2), fileRec(a, 9, 3, 5, 9, 3)},
			cps:  map[string]Checkpoint{a: cpAt(a, 7, 1, 20)},
			wantSegs: []Segment{
				{First: 0, Count: 1, Source: a, Kind: 1, MinTimeNs: 1, MaxTimeNs: 1, File: span(9, 3, 0, 5)},
				{First: 1, Count: 1, Source: a, Kind: 1, MinTimeNs: 2, MaxTimeNs: 2, File: span(7, 1, 10, 20)},
				{First: 2, Count: 1, Source: a, Kind: 1, MinTimeNs: 3, MaxTimeNs: 3, File: span(9, 3, 5, 9)},
			},
			// Record 1 is not a duplicate: the checkpoint had moved to inode 9 by then.
			wantCPs:     map[string]Checkpoint{a: cpAt(a, 9, 3, 9)},
			wantChanged: []string{a},
		},
		{
			name: "same inode with other first bytes (copytruncate) is a new file, not a duplicate",
			recs: []*offboxv1.Record{fileRec(a, 7, 2, 0, 10, 1)},
			cps:  map[string]Checkpoint{a: cpAt(a, 7, 1, 500)},
			wantSegs: []Segment{{First: 0, Count: 1, Source: a, Kind: 1, MinTimeNs: 1, MaxTimeNs: 1,
				File: span(7, 2, 0, 10)}},
			wantCPs:     map[string]Checkpoint{a: cpAt(a, 7, 2, 10)},
			wantChanged: []string{a},
		},
		{
			name: "a short file's fingerprint grows: the run keeps its last record's, as the checkpoint does",
			recs: func() []*offboxv1.Record {
				r1, r2 := fileRec(a, 7, 1, 0, 10, 1), fileRec(a, 7, 4, 10, 20, 2)
				r1.File.File.FingerprintLen = 10
				return []*offboxv1.Record{r1, r2}
			}(),
			wantSegs:    []Segment{{First: 0, Count: 2, Source: a, Kind: 1, MinTimeNs: 1, MaxTimeNs: 2, File: span(7, 4, 0, 20)}},
			wantCPs:     map[string]Checkpoint{a: cpAt(a, 7, 4, 20)},
			wantChanged: []string{a},
		},
		{
			name:     "all duplicates: nothing indexed, checkpoint unchanged",
			recs:     []*offboxv1.Record{fileRec(a, 7, 1, 0, 10, 1)},
			cps:      map[string]Checkpoint{a: cpAt(a, 7, 1, 10)},
			wantCPs:  map[string]Checkpoint{a: cpAt(a, 7, 1, 10)},
			wantSegs: nil,
		},
		{name: "empty batch", wantCPs: map[string]Checkpoint{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cps := map[string]Checkpoint{}
			for k, v := range tt.cps {
				cps[k] = v
			}
			segs, changed := Index(tt.recs, cps)
			if !reflect.DeepEqual(segs, tt.wantSegs) {
				t.Errorf("segments:\n got %+v\nwant %+v", segs, tt.wantSegs)
			}
			if !reflect.DeepEqual(cps, tt.wantCPs) {
				t.Errorf("checkpoints:\n got %+v\nwant %+v", cps, tt.wantCPs)
			}
			if !reflect.DeepEqual(changed, tt.wantChanged) {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
		})
	}
}

// FuzzIndex: whatever records a batch holds, the segments cover distinct,
// ascending, in-range records and agree with them.
func FuzzIndex(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{7, 7, 7, 1, 1, 200, 3})
	f.Fuzz(func(t *testing.T, plan []byte) {
		var recs []*offboxv1.Record
		for i, p := range plan {
			switch p % 4 {
			case 0:
				recs = append(recs, plainRec("agent", offboxv1.Kind(p%11), int64(p)))
			default:
				start := int64(p/4) * 10
				recs = append(recs, fileRec("file:/x", uint64(p%3), p%2, start, start+int64(i%3)*10, int64(-i)))
			}
		}
		segs, _ := Index(recs, map[string]Checkpoint{"file:/x": cpAt("file:/x", 1, 1, 300)})
		next := 0
		for _, s := range segs {
			if s.First < next || s.Count < 1 || s.First+s.Count > len(recs) {
				t.Fatalf("segment %+v overlaps or leaves range (next %d, %d records)", s, next, len(recs))
			}
			for _, r := range recs[s.First : s.First+s.Count] {
				if r.GetSource() != s.Source || r.GetKind() != s.Kind || r.GetTimeNs() < s.MinTimeNs || r.GetTimeNs() > s.MaxTimeNs {
					t.Fatalf("record %v disagrees with segment %+v", r, s)
				}
			}
			next = s.First + s.Count
		}
	})
}
