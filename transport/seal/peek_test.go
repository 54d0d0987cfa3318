package seal

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// peekCases are batch bytes and the header PeekHeader must read (nil: none).
func peekCases(t testing.TB) []struct {
	name string
	in   []byte
	want *offboxv1.BatchHeader
} {
	k := keys(t)["ed25519"]
	h := &Header{DeviceID: "sw1", KeyID: []byte{1, 2}, Seq: 7, RecordCount: uint32(len(sampleRecords)), AgentVersion: "v1"}
	s, err := Seal(k, h, encodeAll(sampleRecords))
	if err != nil {
		t.Fatal(err)
	}
	want := &offboxv1.BatchHeader{DeviceId: "sw1", KeyId: []byte{1, 2}, Seq: 7, RecordCount: uint32(len(sampleRecords)), AgentVersion: "v1"}
	wrongCount := bytes.Clone(s.Bytes)
	wrongCount = append(AppendHeader(nil, &Header{DeviceID: "sw1", KeyID: []byte{1, 2}, Seq: 7, RecordCount: 99}),
		wrongCount[HeaderSize(h):]...)
	rec := AppendRecord(nil, &sampleRecords[0])
	type c = struct {
		name string
		in   []byte
		want *offboxv1.BatchHeader
	}
	return []c{
		{"sealed batch", s.Bytes, want},
		{"wrong record count", wrongCount, &offboxv1.BatchHeader{DeviceId: "sw1", KeyId: []byte{1, 2}, Seq: 7, RecordCount: 99}},
		{"damaged record after the header", cat(AppendHeader(nil, h), rec[:len(rec)-3]), want},
		{"invalid UTF-8 in a record", cat(AppendHeader(nil, h), msg(2, msg(3, []byte{0xff}))), want},
		{"header after a record", cat(rec, AppendHeader(nil, h)), want},
		{"two headers merge", cat(msg(1, varint(5, 1), msg(1, []byte("a"))), rec, msg(1, varint(5, 2), varint(7, 1))),
			&offboxv1.BatchHeader{DeviceId: "a", Seq: 2, RecordCount: 1}},
		{"no header", rec, nil},
		{"empty", nil, nil},
		{"top level broken before the header", cat([]byte{0x12, 0x7f}, AppendHeader(nil, h)), nil},
		{"invalid UTF-8 in the header", msg(1, msg(1, []byte{0xc3})), nil},
		{"truncated header", AppendHeader(nil, h)[:10], nil},
		{"header field of the wrong wire type", cat(varint(1, 5), AppendHeader(nil, h)), want},
	}
}

func TestPeekHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range peekCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got := PeekHeader(tc.in)
			if (got == nil) != (tc.want == nil) || !proto.Equal(got, tc.want) {
				t.Errorf("PeekHeader = %v, want %v", got, tc.want)
			}
			checkPeek(t, tc.in)
		})
	}
}

// peekReference is what PeekHeader must return, written with the generated
// code: every header field of the parsed top level merged with
// proto.Unmarshal.
func peekReference(b []byte) *offboxv1.BatchHeader {
	var h *offboxv1.BatchHeader
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return h
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return h
		}
		if num == 1 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b)
			if h == nil {
				h = new(offboxv1.BatchHeader)
			}
			if (proto.UnmarshalOptions{Merge: true}).Unmarshal(v, h) != nil {
				return nil
			}
		}
		b = b[m:]
	}
	return h
}

// checkPeek fails t unless PeekHeader agrees with the generated code on in,
// and with Open and proto.Unmarshal wherever they accept it.
func checkPeek(t *testing.T, in []byte) {
	t.Helper()
	got := PeekHeader(in)
	if ref := peekReference(in); (got == nil) != (ref == nil) || !proto.Equal(got, ref) {
		t.Fatalf("PeekHeader(%x) = %v, the generated code reads %v", in, got, ref)
	}
	if b, err := Open(in); err == nil && !proto.Equal(got, b.GetHeader()) {
		t.Fatalf("PeekHeader(%x) = %v, Open reads %v", in, got, b.GetHeader())
	}
	var b offboxv1.Batch
	if err := proto.Unmarshal(in, &b); err == nil && b.Header != nil && !proto.Equal(got, b.Header) {
		t.Fatalf("PeekHeader(%x) = %v, proto.Unmarshal reads %v", in, got, b.Header)
	}
}

// FuzzPeekHeader: on any bytes, PeekHeader agrees with the generated code,
// and with Open wherever Open accepts them.
func FuzzPeekHeader(f *testing.F) {
	for _, tc := range peekCases(f) {
		f.Add(tc.in)
	}
	for _, tc := range decodeCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkPeek(t, in) })
}
