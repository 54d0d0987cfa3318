package seal

import (
	"bytes"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TestBuilderTablesResolve: a batch built by Builder opens to the records
// as they were added, each source and file identity written once, and Add
// and Grow report the bytes the body grew by.
func TestBuilderTablesResolve(t *testing.T) {
	t.Parallel()
	fpA, fpB := bytes.Repeat([]byte{7}, 32), bytes.Repeat([]byte{8}, 32)
	long := bytes.Repeat([]byte{9}, 40) // longer than the table keys: inline
	tests := []struct {
		name               string
		recs               []WireRecord
		wantSources, wantF int
	}{
		{"no records", nil, 0, 0},
		{"one file, many lines", []WireRecord{
			{TimeNs: 1, Kind: 1, Source: "file:/a", Body: []byte("one"), File: &WireFileRange{Dev: 1, Inode: 2, FPLen: 1024, FP: fpA, End: 4}},
			{TimeNs: 2, Kind: 1, Source: "file:/a", Body: []byte("two"), File: &WireFileRange{Dev: 1, Inode: 2, FPLen: 1024, FP: fpA, Start: 4, End: 8}},
			{TimeNs: 3, Kind: 1, Source: "file:/a", Body: []byte("three"), File: &WireFileRange{Dev: 1, Inode: 2, FPLen: 1024, FP: fpA, Start: 8, End: 14}},
		}, 1, 1},
		{"interleaved sources and a rotation", []WireRecord{
			{TimeNs: 1, Kind: 1, Source: "file:/a", Body: []byte("a1"), File: &WireFileRange{Dev: 1, Inode: 2, FPLen: 3, FP: fpA, End: 3}},
			{TimeNs: 2, Kind: 3, Source: "agent", Attrs: []WireAttr{{"k", "v"}}},
			{TimeNs: 3, Kind: 1, Source: "file:/a", Body: []byte("a2"), File: &WireFileRange{Dev: 1, Inode: 3, FPLen: 3, FP: fpB, End: 3}},
			{TimeNs: 4, Kind: 1, Source: "file:/a", Body: []byte("a3"), File: &WireFileRange{Dev: 1, Inode: 2, FPLen: 3, FP: fpA, Start: 3, End: 6}},
			{TimeNs: 5, Kind: 1, Source: "agent"},
		}, 2, 2},
		{"no source, a short and a long fingerprint", []WireRecord{
			{TimeNs: 1, Kind: 8},
			{TimeNs: 2, Kind: 1, Source: "s", File: &WireFileRange{Inode: 5, FP: []byte("ab"), End: 1}},
			{TimeNs: 3, Kind: 1, Source: "s", File: &WireFileRange{Inode: 5, FP: []byte("ab\x00"), End: 1}},
			{TimeNs: 4, Kind: 1, Source: "s", File: &WireFileRange{Inode: 5, FP: long, End: 1}},
		}, 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Builder
			b.Reset(make([]byte, HeaderRoom+4096))
			for i := range tt.recs {
				before, grow := b.Len(), b.Grow(&tt.recs[i])
				if got := b.Add(&tt.recs[i]); got != grow || b.Len()-before != got {
					t.Errorf("record %d: Add = %d, Grow = %d, Len grew by %d: want all equal", i, got, grow, b.Len()-before)
				}
			}
			if got := b.Count(); got != len(tt.recs) {
				t.Errorf("Count = %d, want %d", got, len(tt.recs))
			}
			body := b.Close()
			s, err := Seal(keys(t)["ed25519"], &Header{Seq: 1, RecordCount: uint32(len(tt.recs))}, body)
			if err != nil {
				t.Fatal(err)
			}
			var raw offboxv1.Batch
			if err := proto.Unmarshal(s.Bytes, &raw); err != nil {
				t.Fatal(err)
			}
			if len(raw.Sources) != tt.wantSources || len(raw.Files) != tt.wantF {
				t.Errorf("tables: %d sources, %d files; want %d, %d", len(raw.Sources), len(raw.Files), tt.wantSources, tt.wantF)
			}
			got, err := Open(s.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range got.GetRecords() {
				if want := toProto(&tt.recs[i], false); !proto.Equal(r, want) {
					t.Errorf("record %d = %v, want %v", i, r, want)
				}
			}
		})
	}
}

// TestBuilderUndo: Undo takes back the last record and the table entries
// it added, so the batch is what it would be without it.
func TestBuilderUndo(t *testing.T) {
	t.Parallel()
	fp := bytes.Repeat([]byte{7}, 32)
	first := WireRecord{TimeNs: 1, Kind: 1, Source: "file:/a", Body: []byte("a"), File: &WireFileRange{Inode: 1, FP: fp, End: 2}}
	undone := []WireRecord{
		{TimeNs: 2, Kind: 1, Source: "file:/a", Body: []byte("same tables")},
		{TimeNs: 2, Kind: 1, Source: "file:/b", Body: []byte("new source"), File: &WireFileRange{Inode: 2, FP: fp, End: 9}},
		{TimeNs: 2, Kind: 1, Source: "file:/a", Body: bytes.Repeat([]byte("x"), 10000)}, // past the buffer
	}
	last := WireRecord{TimeNs: 3, Kind: 1, Source: "file:/c", Body: []byte("c"), File: &WireFileRange{Inode: 3, FP: fp, End: 2}}
	var want Builder
	want.Reset(make([]byte, HeaderRoom+1024))
	want.Add(&first)
	want.Add(&last)
	wantBody := want.Close()
	for i := range undone {
		var b Builder
		b.Reset(make([]byte, HeaderRoom+1024))
		b.Add(&first)
		b.Add(&undone[i])
		b.Undo()
		b.Undo() // once only
		b.Add(&last)
		if b.Count() != 2 {
			t.Errorf("undone %d: Count = %d, want 2", i, b.Count())
		}
		if got := b.Close(); !bytes.Equal(got, wantBody) {
			t.Errorf("undone %d: body %x, want %x", i, got, wantBody)
		}
	}
	// A batch whose only record is taken back keeps its records in the
	// buffer, so it can still be sealed in place.
	var b Builder
	buf := make([]byte, HeaderRoom+64)
	b.Reset(buf)
	b.Add(&undone[2])
	b.Undo()
	b.Add(&first)
	if body := b.Close(); !inRoom(buf, body) {
		t.Error("after undoing an oversized record, the body left the buffer")
	}
}

// TestSealInPlace: sealing in place gives the bytes Seal gives, without
// copying the body when it sits behind the header room, and by copying
// when it does not.
func TestSealInPlace(t *testing.T) {
	t.Parallel()
	k := keys(t)["ed25519"]
	h := Header{DeviceID: "sw1", KeyID: bytes.Repeat([]byte{1}, 32), BootID: "boot", SessionID: make([]byte, 16),
		Seq: 9, PrevHash: bytes.Repeat([]byte{2}, 32), RecordCount: 3, SealedNs: 5, AgentVersion: "v1"}
	longVersion := h
	longVersion.AgentVersion = string(bytes.Repeat([]byte("v"), HeaderRoom))
	recs := encodeAll(sampleRecords[:3])
	tests := []struct {
		name       string
		h          *Header
		outside    bool // the body is not in the buffer
		wantCopied bool
	}{
		{"in place", &h, false, false},
		{"header larger than the room", &longVersion, false, true},
		{"body outside the buffer", &h, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, HeaderRoom+len(recs)+10)
			body := append(buf[HeaderRoom:HeaderRoom], recs...)
			if tt.outside {
				body = bytes.Clone(recs)
			}
			want, err := Seal(k, tt.h, recs)
			if err != nil {
				t.Fatal(err)
			}
			got, copied, err := SealInPlace(k, tt.h, buf, body)
			if err != nil {
				t.Fatal(err)
			}
			if copied != tt.wantCopied {
				t.Errorf("copied = %t, want %t", copied, tt.wantCopied)
			}
			if !bytes.Equal(got.Bytes, want.Bytes) || got.Digest != want.Digest || got.Seq != want.Seq {
				t.Errorf("sealed bytes differ from Seal's")
			}
			if err := Verify(k.Public(), got.Bytes, got.Sig); err != nil {
				t.Errorf("Verify: %v", err)
			}
			inBuf := &got.Bytes[len(got.Bytes)-1] == &buf[HeaderRoom+len(recs)-1]
			if inBuf == copied {
				t.Errorf("sealed bytes in the buffer: %t, copied: %t", inBuf, copied)
			}
		})
	}
	// Sealing again under a new header keeps the record bytes.
	buf := make([]byte, HeaderRoom+len(recs))
	body := append(buf[HeaderRoom:HeaderRoom], recs...)
	for seq := uint64(1); seq <= 300; seq += 299 {
		h2 := h
		h2.Seq = seq
		s, _, err := SealInPlace(k, &h2, buf, body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(s.Bytes)
		if err != nil || b.GetHeader().GetSeq() != seq {
			t.Fatalf("resealed as seq %d: Open = %v, %v", seq, b.GetHeader().GetSeq(), err)
		}
	}
}

// TestAppendHeaderSize: HeaderSize is what AppendHeader adds, and
// AppendHeader writes what proto.Marshal would.
func TestAppendHeaderSize(t *testing.T) {
	t.Parallel()
	for i, h := range []Header{
		{},
		{Seq: 1},
		{DeviceID: "d", KeyID: []byte{1}, BootID: "b", SessionID: []byte{2}, Seq: 1 << 40, PrevHash: make([]byte, 32),
			RecordCount: 20000, DroppedRecords: 3, DroppedBytes: 1 << 33, SealedNs: -1, AgentVersion: strconv.Itoa(1 << 20)},
	} {
		got := AppendHeader([]byte{0xaa}, &h)
		if len(got)-1 != HeaderSize(&h) {
			t.Errorf("header %d: AppendHeader added %d bytes, HeaderSize = %d", i, len(got)-1, HeaderSize(&h))
		}
		inner, err := proto.Marshal(&offboxv1.BatchHeader{DeviceId: h.DeviceID, KeyId: h.KeyID, BootId: h.BootID,
			SessionId: h.SessionID, Seq: h.Seq, PrevHash: h.PrevHash, RecordCount: h.RecordCount, DroppedRecords: h.DroppedRecords,
			DroppedBytes: h.DroppedBytes, SealedNs: h.SealedNs, AgentVersion: h.AgentVersion})
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte{0xaa}, msg(1, inner)...); !bytes.Equal(got, want) {
			t.Errorf("header %d: %x, want %x", i, got, want)
		}
	}
}

// BenchmarkBuilderAdd measures the agent's per-line path into a batch: a
// 170-byte file line, through Add and through AddLine (the path of every
// line but a batch's first of each file). Neither may allocate.
func BenchmarkBuilderAdd(b *testing.B) {
	add := func(bl *Builder, r *WireRecord) { bl.Add(r) }
	addLine := func(bl *Builder, r *WireRecord) {
		if _, ok := bl.AddLine(r); !ok {
			bl.Add(r)
		}
	}
	for _, path := range []struct {
		name string
		add  func(*Builder, *WireRecord)
	}{{"Add", add}, {"AddLine", addLine}} {
		b.Run(path.name, func(b *testing.B) {
			line := bytes.Repeat([]byte("x"), 169)
			r := WireRecord{TimeNs: 1, Kind: 1, Source: "file:/var/log/syslog", Body: line,
				File: &WireFileRange{Dev: 2049, Inode: 1234, FPLen: 1024, FP: bytes.Repeat([]byte{1}, 32)}}
			buf := make([]byte, HeaderRoom+1<<20)
			var bl Builder
			bl.Reset(buf)
			b.SetBytes(int64(len(line) + 1))
			b.ReportAllocs()
			for b.Loop() {
				if bl.Len() > 1<<20-400 {
					bl.Close()
					bl.Reset(buf)
				}
				r.File.Start = r.File.End
				r.File.End += 170
				path.add(&bl, &r)
			}
		})
	}
}
