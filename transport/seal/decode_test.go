package seal

import (
	"bytes"
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// field is one encoded field: tag and value.
func field(num protowire.Number, typ protowire.Type, v []byte) []byte {
	return append(protowire.AppendTag(nil, num, typ), v...)
}

// msg is a length-delimited field holding the concatenated parts.
func msg(num protowire.Number, parts ...[]byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), bytes.Join(parts, nil))
}

func varint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// decodeCases are inputs for which decodeBatch must do what proto.Unmarshal
// does; ok says whether proto.Unmarshal accepts them.
func decodeCases() []struct {
	name string
	in   []byte
	ok   bool
} {
	hdr := AppendHeader(nil, &Header{DeviceID: "d", KeyID: []byte{1, 2}, Seq: 1, RecordCount: 1, SealedNs: -5})
	rec := AppendRecord(nil, &sampleRecords[0])
	refs := appendTables(encodeAll(refRecords))
	all := cat(AppendHeader(nil, &Header{DeviceID: "sw1", KeyID: bytes.Repeat([]byte{1}, 32), BootID: "boot",
		SessionID: []byte("sess"), Seq: 7, PrevHash: bytes.Repeat([]byte{2}, 32), RecordCount: 8, DroppedRecords: 3,
		DroppedBytes: 300, SealedNs: 42, AgentVersion: "v1"}), encodeAll(sampleRecords), refs)
	unknownAll := []byte{}
	for _, u := range [][]byte{
		varint(99, 5),
		field(100, protowire.Fixed32Type, []byte{1, 2, 3, 4}),
		field(101, protowire.Fixed64Type, []byte{1, 2, 3, 4, 5, 6, 7, 8}),
		msg(102, []byte("x")),
		cat(field(103, protowire.StartGroupType, varint(1, 1)), protowire.AppendTag(nil, 103, protowire.EndGroupType)),
	} {
		unknownAll = append(unknownAll, u...)
	}
	type c = struct {
		name string
		in   []byte
		ok   bool
	}
	return []c{
		{"empty", nil, true},
		{"header and record", cat(hdr, rec), true},
		{"every field", all, true},
		{"refs and tables", cat(hdr, refs), true},
		{"unknown fields at the top", cat(hdr, unknownAll, rec, unknownAll), true},
		{"unknown fields in the header", cat(msg(1, varint(5, 1), unknownAll, varint(7, 1)), rec), true},
		{"unknown fields in a record", cat(hdr, msg(2, varint(1, 9), unknownAll, varint(2, 1))), true},
		{"unknown fields in a file range", cat(hdr, msg(2, msg(6, unknownAll, varint(2, 4), msg(1, unknownAll, varint(1, 3))))), true},
		{"unknown fields in an attr", cat(hdr, msg(2, msg(5, msg(1, []byte("k")), unknownAll))), true},
		{"unknown fields in a file entry", cat(hdr, msg(4, varint(2, 8), unknownAll)), true},
		{"known numbers, wrong wire types", cat(varint(1, 1), field(2, protowire.Fixed64Type, make([]byte, 8)),
			varint(3, 1), varint(4, 2), msg(2, msg(1, []byte("t")), varint(4, 1), varint(5, 1), varint(6, 2),
				msg(7, nil), msg(8, nil), varint(3, 1)), msg(1, varint(1, 1), msg(5, nil), varint(6, 1))), true},
		{"duplicate header merges", cat(msg(1, varint(5, 1), msg(1, []byte("a")), unknownAll), rec,
			msg(1, varint(7, 1), msg(11, []byte("v")), unknownAll)), true},
		{"duplicate file range and identity merge", cat(hdr, msg(2, msg(6, varint(2, 1), msg(1, varint(1, 1))),
			varint(1, 5), msg(6, varint(3, 9), msg(1, varint(2, 2)), msg(1, msg(4, []byte{1}))))), true},
		{"scalars twice, last wins", cat(msg(1, varint(5, 1), varint(5, 2), msg(2, []byte{1}), msg(2, nil), msg(1, []byte("a")), msg(1, []byte("b"))),
			msg(2, varint(1, 1), varint(1, 2), msg(4, []byte("x")), msg(4, nil), varint(8, 3), varint(8, 4))), true},
		{"repeated fields append", cat(msg(3, []byte("a")), msg(2), msg(3, nil), msg(2, msg(5), msg(5, msg(2, []byte("v")))), msg(4), msg(4, varint(1, 1))), true},
		{"open enum and truncating conversions", cat(msg(2, varint(2, 1<<63|1<<31|7), varint(7, 1<<40|3), varint(8, 1<<32),
			msg(6, varint(4, 1<<33|1), varint(2, 1<<63))), msg(4, varint(3, 1<<32|5))), true},
		{"max varint", cat(msg(2, field(1, protowire.VarintType, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}))), true},
		{"varint overflow", cat(msg(2, field(1, protowire.VarintType, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}))), false},
		{"non-minimal tag of an unknown field", cat(hdr, []byte{0xc8, 0x80, 0x00, 0x05}), true},
		{"non-minimal tag of a known field", cat([]byte{0x8a, 0x00, 0x02, 0x28, 0x01}, rec), true},
		{"non-minimal varint", cat(msg(2, []byte{0x08, 0x81, 0x80, 0x00})), true},
		{"largest field number", cat(hdr, varint(protowire.MaxValidNumber, 1)), true},
		{"field number too large", cat(hdr, protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), []byte{1}), false},
		{"field number 0", cat(hdr, []byte{0x00, 0x01}), false},
		{"field number 0 in a record", cat(hdr, msg(2, []byte{0x02, 0x00})), false},
		{"end group at the top", cat(hdr, protowire.AppendTag(nil, 5, protowire.EndGroupType)), false},
		{"end group in a record", cat(msg(2, protowire.AppendTag(nil, 1, protowire.EndGroupType))), false},
		{"unbalanced group", cat(hdr, field(9, protowire.StartGroupType, varint(1, 1))), false},
		{"mismatched group end", cat(field(9, protowire.StartGroupType, protowire.AppendTag(nil, 8, protowire.EndGroupType))), false},
		{"group with a known number", cat(field(2, protowire.StartGroupType, protowire.AppendTag(nil, 2, protowire.EndGroupType))), true},
		{"reserved wire type 6", cat(hdr, []byte{0x0e}), false},
		{"reserved wire type 7 on a known number", cat(msg(2, []byte{0x0f, 0x00})), false},
		{"invalid UTF-8 in source", cat(hdr, msg(2, msg(3, []byte{0xff}))), false},
		{"invalid UTF-8 in device id", cat(msg(1, msg(1, []byte{0xc3}))), false},
		{"invalid UTF-8 in boot id", cat(msg(1, msg(3, []byte{0xed, 0xa0, 0x80}))), false},
		{"invalid UTF-8 in agent version", cat(msg(1, msg(11, []byte{0x80}))), false},
		{"invalid UTF-8 in the source table", cat(hdr, msg(3, []byte("a\xffb"))), false},
		{"invalid UTF-8 in an attr", cat(hdr, msg(2, msg(5, msg(2, []byte{0xfe})))), false},
		{"invalid UTF-8 in a body", cat(hdr, msg(2, msg(4, []byte{0xff, 0xfe}))), true},
		{"invalid UTF-8 in an unknown field", cat(hdr, msg(2, msg(33, []byte{0xff}))), true},
		{"truncated record", cat(hdr, rec[:len(rec)-1]), false},
		{"truncated tag", cat(hdr, []byte{0x80}), false},
		{"truncated varint", cat(hdr, []byte{0x08, 0x80}), false},
		{"truncated fixed32", cat(hdr, []byte{0x0d, 1, 2, 3}), false},
		{"length past the end", cat(hdr, []byte{0x12, 0x7f, 0x08}), false},
		{"huge length", cat(hdr, []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), false},
		{"length inside a record past its end", cat(msg(2, []byte{0x22, 0x05, 'a'})), false},
	}
}

// checkSame fails t unless decodeBatch and proto.Unmarshal agree on in:
// both fail, or both succeed with equal messages. (Error texts are not
// compared: protobuf-go randomises their spaces on purpose.)
func checkSame(t *testing.T, in []byte) (ok bool) {
	t.Helper()
	var want offboxv1.Batch
	wantErr := proto.Unmarshal(in, &want)
	var got offboxv1.Batch
	gotErr := decodeBatch(bytes.Clone(in), &got)
	switch {
	case (gotErr == nil) != (wantErr == nil):
		t.Fatalf("decodeBatch(%x): err = %v, proto.Unmarshal: %v", in, gotErr, wantErr)
	case gotErr == nil && !proto.Equal(&got, &want):
		t.Fatalf("decodeBatch(%x) =\n%v\nproto.Unmarshal =\n%v", in, &got, &want)
	}
	return gotErr == nil
}

func TestDecodeMatchesProto(t *testing.T) {
	t.Parallel()
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if ok := checkSame(t, tc.in); ok != tc.ok {
				t.Errorf("accepted: %t, want %t", ok, tc.ok)
			}
			// Every prefix, too: truncation anywhere.
			for i := range tc.in {
				checkSame(t, tc.in[:i])
			}
		})
	}
	t.Run("bench batch", func(t *testing.T) {
		t.Parallel()
		checkSame(t, benchBatch(t))
	})
}

// TestDecodeAliasesClipped checks that the byte fields Open returns alias
// the batch without room past their end: appending to a body copies instead
// of overwriting the bytes that follow it.
func TestDecodeAliasesClipped(t *testing.T) {
	t.Parallel()
	batch := cat(AppendHeader(nil, &Header{Seq: 1, RecordCount: 2}), encodeAll(sampleRecords[:2]))
	orig := bytes.Clone(batch)
	b, err := Open(batch)
	if err != nil {
		t.Fatal(err)
	}
	body := b.GetRecords()[0].GetBody()
	if cap(body) != len(body) {
		t.Errorf("body: cap %d, len %d: an append would write into the batch", cap(body), len(body))
	}
	_ = append(body, "more"...)
	_ = append(b.GetRecords()[0].GetFile().GetFile().GetFingerprint(), 0)
	if !bytes.Equal(batch, orig) {
		t.Error("appending to decoded fields changed the batch bytes")
	}
}

// FuzzDecodeMatchesProto holds decodeBatch to proto.Unmarshal: for any
// input both fail, or both succeed with equal messages (unknown fields too).
func FuzzDecodeMatchesProto(f *testing.F) {
	for _, tc := range decodeCases() {
		f.Add(tc.in)
	}
	k := keys(f)["ed25519"]
	s, _ := Seal(k, &Header{Seq: 1, RecordCount: uint32(len(sampleRecords))}, encodeAll(sampleRecords))
	f.Add(s.Bytes)
	refs, _ := Seal(k, &Header{Seq: 2, RecordCount: uint32(len(refRecords))}, appendTables(encodeAll(refRecords)))
	f.Add(refs.Bytes)
	relayed, _ := Seal(k, &Header{DeviceID: "fw1", Relay: "relay-1", Seq: 3, RecordCount: uint32(len(sampleRecords))}, encodeAll(sampleRecords))
	f.Add(relayed.Bytes) // an appliance's batch: header field 12
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSame(t, in)
	})
}

// benchBatch is a batch as the agent seals it from busy log files: about
// 1 MiB of ~170-byte lines naming their source and file through the tables.
func benchBatch(tb testing.TB) []byte {
	tb.Helper()
	files := []WireFileRange{
		{Dev: 2049, Inode: 1234567, FPLen: 1024, FP: bytes.Repeat([]byte{7}, 32)},
		{Dev: 2049, Inode: 1234568, FPLen: 1024, FP: bytes.Repeat([]byte{8}, 32)},
		{Dev: 2049, Inode: 99, FPLen: 311, FP: bytes.Repeat([]byte{9}, 32)},
	}
	sources := []string{"file:/var/log/app.log", "file:/var/log/auth.log", "file:/var/log/syslog"}
	const n = 6000
	var recs []byte
	offsets := make([]int64, len(files))
	for i := range n {
		k := i % len(files)
		body := fmt.Appendf(nil, "2025-11-22T18:00:%02d.%06d+00:00 host app[%d]: request id=%08x path=/api/v1/items/%d status=200 bytes=%d duration_ms=%d user=svc-batch ok",
			i%60, i*17%1000000, 1000+k, i*2654435761, i, i*31%9000, i%250)
		for len(body) < 169 {
			body = append(body, '.')
		}
		body = body[:169]
		r := WireRecord{TimeNs: 1_700_000_000_000_000_000 + int64(i)*1_000_000, Kind: 1, SourceRef: uint32(k + 1), Body: body,
			File: &WireFileRange{Start: offsets[k], End: offsets[k] + 170, FileRef: uint32(k + 1)}}
		offsets[k] += 170
		recs = AppendRecord(recs, &r)
	}
	for _, s := range sources {
		recs = AppendSource(recs, s)
	}
	for i := range files {
		recs = AppendFile(recs, &files[i])
	}
	h := &Header{DeviceID: "router-1", KeyID: bytes.Repeat([]byte{1}, 32), BootID: "6f1c2d9e-1b7a-4c55-9f0e-3a2b1c0d9e8f",
		SessionID: bytes.Repeat([]byte{3}, 16), Seq: 1234, PrevHash: bytes.Repeat([]byte{2}, 32), RecordCount: n,
		SealedNs: 1_700_000_006_000_000_000, AgentVersion: "v1.4.0"}
	return append(AppendHeader(nil, h), recs...)
}

// BenchmarkOpen measures the collector's decode of one batch: ~1 MiB of
// 6000 file lines.
func BenchmarkOpen(b *testing.B) {
	batch := benchBatch(b)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(batch); err != nil {
			b.Fatal(err)
		}
	}
}
