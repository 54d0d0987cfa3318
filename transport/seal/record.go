package seal

import (
	"math/bits"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// WireRecord is a record in the form AppendRecord encodes; field numbers
// follow offbox.v1.Record. Body and attribute strings are copied into the
// output, so they may alias the caller's buffers.
//
// A record may name its source by SourceRef, a 1-based index into the
// batch's source table (see AppendSource), instead of spelling it out in
// Source; the table is written once per batch, after the records.
type WireRecord struct {
	TimeNs    int64
	Kind      uint32
	Source    string
	Body      []byte
	Attrs     []WireAttr
	File      *WireFileRange
	Flags     uint32
	SourceRef uint32 // 1-based into the batch's sources; 0: none
}

// WireAttr is one attribute.
type WireAttr struct{ Key, Value string }

// WireFileRange is offbox.v1.FileRange. With FileRef set (a 1-based index
// into the batch's file table, see AppendFile) the identity fields are not
// encoded: the table entry holds them.
type WireFileRange struct {
	Dev, Inode uint64
	FPLen      uint32
	FP         []byte
	Start, End int64
	FileRef    uint32 // 1-based into the batch's files; 0: the identity is encoded in place
}

// Wire types in a tag's low bits.
const (
	wireVarint = byte(protowire.VarintType)
	wireBytes  = byte(protowire.BytesType)
)

// Every field AppendRecord writes has a number below 16, so each tag is one
// byte: tag(num, typ) = num<<3 | typ.
func tag(num int, typ byte) byte { return byte(num<<3) | typ }

// AppendRecord appends r as one field-2 entry of an offbox.v1.Batch, without
// allocating when dst has room. It is the agent's per-line hot path: every
// nested size is computed once, and the output is what proto.Marshal would
// write for the same record (fields in number order, zero values left out).
func AppendRecord(dst []byte, r *WireRecord) []byte {
	var fileN, idN int // sizes of the FileRange and FileIdentity messages
	if f := r.File; f != nil {
		fileN, idN = fileRangeSize(f)
	}
	n := recordSize(r, fileN)
	dst = slices.Grow(dst, 1+varintSize(uint64(n))+n)

	dst = append(dst, tag(2, wireBytes))
	dst = appendVarint(dst, uint64(n))
	dst = appendUint(dst, 1, uint64(r.TimeNs))
	dst = appendUint(dst, 2, uint64(r.Kind))
	if len(r.Source) > 0 {
		dst = append(dst, tag(3, wireBytes))
		dst = appendVarint(dst, uint64(len(r.Source)))
		dst = append(dst, r.Source...)
	}
	if len(r.Body) > 0 {
		dst = append(dst, tag(4, wireBytes))
		dst = appendVarint(dst, uint64(len(r.Body)))
		dst = append(dst, r.Body...)
	}
	for i := range r.Attrs {
		a := &r.Attrs[i]
		dst = append(dst, tag(5, wireBytes))
		dst = appendVarint(dst, uint64(attrSize(a)))
		dst = appendString(dst, 1, a.Key)
		dst = appendString(dst, 2, a.Value)
	}
	if f := r.File; f != nil {
		dst = append(dst, tag(6, wireBytes))
		dst = appendVarint(dst, uint64(fileN))
		if f.FileRef == 0 {
			dst = append(dst, tag(1, wireBytes))
			dst = appendVarint(dst, uint64(idN))
			dst = appendIdentity(dst, f)
		}
		dst = appendUint(dst, 2, uint64(f.Start))
		dst = appendUint(dst, 3, uint64(f.End))
		dst = appendUint(dst, 4, uint64(f.FileRef))
	}
	dst = appendUint(dst, 7, uint64(r.Flags))
	dst = appendUint(dst, 8, uint64(r.SourceRef))
	return dst
}

// lineHead is the head of the records AddLine encodes: their time and kind
// fields, which the lines of one read of a file share, encoded once.
type lineHead struct {
	timeNs int64
	kind   uint32
	n      int
	b      [2 + 10 + 5]byte // the two tags and varints
}

// set makes h the head of a record of time timeNs and kind kind. The zero
// lineHead is that of time 0 and kind 0: no bytes (zero values are left
// out).
func (h *lineHead) set(timeNs int64, kind uint32) {
	h.timeNs, h.kind = timeNs, kind
	h.n = len(appendUint(appendUint(h.b[:0], 1, uint64(timeNs)), 2, uint64(kind)))
}

// lineFields are what the records of a run of lines share, besides their
// head: the refs to their source and file (both not 0).
type lineFields struct {
	timeNs             int64
	kind               uint32
	sourceRef, fileRef uint32
}

// appendLine is AppendRecord for a record with the time, kind and refs of
// c (head encoding the time and kind), no Source and no Attrs, and body,
// flags and a File of range [start, end) referring to the file table: the
// bytes AppendRecord writes for such a record, in one pass without the
// generic record's branches.
//
// The record's length and its file range's are written after them, into
// room kept for them (no pass over the fields to size them first): two
// bytes for the record's, moved to fit when it needs one or three.
func appendLine(dst []byte, c *lineFields, head *lineHead, body []byte, flags uint32, start, end int64) []byte {
	if c.timeNs != head.timeNs || c.kind != head.kind {
		head.set(c.timeNs, c.kind)
	}
	dst = slices.Grow(dst, len(body)+LineOverheadMax)
	at := len(dst)
	dst = append(dst, tag(2, wireBytes), 0, 0)
	dst = append(dst, head.b[:head.n]...)
	if len(body) > 0 {
		dst = appendVarint(append(dst, tag(4, wireBytes)), uint64(len(body)))
		dst = append(dst, body...)
	}
	dst = append(dst, tag(6, wireBytes), 0)
	fileAt := len(dst)
	dst = appendUint(dst, 2, uint64(start))
	dst = appendUint(dst, 3, uint64(end))
	dst = appendVarint(append(dst, tag(4, wireVarint)), uint64(c.fileRef))
	dst[fileAt-1] = byte(len(dst) - fileAt) // < 128: three varints of at most 10 bytes, and their tags
	dst = appendUint(dst, 7, uint64(flags))
	dst = appendVarint(append(dst, tag(8, wireVarint)), uint64(c.sourceRef))
	n := len(dst) - at - 3
	switch {
	case n < 1<<7:
		dst[at+1] = byte(n)
		copy(dst[at+2:], dst[at+3:])
		dst = dst[:len(dst)-1]
	case n < 1<<14:
		dst[at+1], dst[at+2] = byte(n)|0x80, byte(n>>7)
	default:
		k := varintSize(uint64(n))
		dst = append(dst, make([]byte, k-2)...)
		copy(dst[at+1+k:], dst[at+3:at+3+n])
		appendVarint(dst[at+1:at+1], uint64(n))
	}
	return dst
}

// AppendSource appends s as one entry (Batch field 3) of a batch's source
// table. The first entry of a batch is SourceRef 1, the second 2, and so on.
func AppendSource(dst []byte, s string) []byte {
	dst = append(dst, tag(3, wireBytes))
	dst = appendVarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// AppendFile appends the identity of f (its range and FileRef are ignored)
// as one entry (Batch field 4) of a batch's file table. The first entry of a
// batch is FileRef 1, the second 2, and so on.
func AppendFile(dst []byte, f *WireFileRange) []byte {
	dst = append(dst, tag(4, wireBytes))
	dst = appendVarint(dst, uint64(identitySize(f)))
	return appendIdentity(dst, f)
}

// SourceSize is the number of bytes AppendSource adds for s.
func SourceSize(s string) int { return 1 + bytesSize(len(s)) }

// FileSize is the number of bytes AppendFile adds for f.
func FileSize(f *WireFileRange) int { return 1 + bytesSize(identitySize(f)) }

func appendIdentity(dst []byte, f *WireFileRange) []byte {
	dst = appendUint(dst, 1, f.Dev)
	dst = appendUint(dst, 2, f.Inode)
	dst = appendUint(dst, 3, uint64(f.FPLen))
	return appendBytes(dst, 4, f.FP)
}

// RecordSize is the number of bytes AppendRecord adds for r.
func RecordSize(r *WireRecord) int {
	var fileN int
	if r.File != nil {
		fileN, _ = fileRangeSize(r.File)
	}
	n := recordSize(r, fileN)
	return 1 + varintSize(uint64(n)) + n
}

// recordSize is the size of r's Record message, given the size of its
// FileRange message.
func recordSize(r *WireRecord, fileN int) int {
	n := uintSize(uint64(r.TimeNs)) + uintSize(uint64(r.Kind)) + strSize(len(r.Source)) + strSize(len(r.Body))
	for i := range r.Attrs {
		n += 1 + bytesSize(attrSize(&r.Attrs[i]))
	}
	if r.File != nil {
		n += 1 + bytesSize(fileN)
	}
	return n + uintSize(uint64(r.Flags)) + uintSize(uint64(r.SourceRef))
}

func attrSize(a *WireAttr) int { return strSize(len(a.Key)) + strSize(len(a.Value)) }

// identitySize is the size of f's FileIdentity message.
func identitySize(f *WireFileRange) int {
	return uintSize(f.Dev) + uintSize(f.Inode) + uintSize(uint64(f.FPLen)) + strSize(len(f.FP))
}

// fileRangeSize is the size of f's FileRange message and of the
// FileIdentity inside it (0 when f refers to the file table).
func fileRangeSize(f *WireFileRange) (rangeN, idN int) {
	if f.FileRef == 0 {
		idN = identitySize(f)
		rangeN = 1 + bytesSize(idN) // always present, even empty: a file line has a file
	}
	rangeN += uintSize(uint64(f.Start)) + uintSize(uint64(f.End)) + uintSize(uint64(f.FileRef))
	return rangeN, idN
}

// The size helpers below assume one-byte tags (field numbers below 16).

func varintSize(v uint64) int { return int(9*uint32(bits.Len64(v))+64) / 64 }

func bytesSize(n int) int { return varintSize(uint64(n)) + n }

// uintSize is the size of a varint field; 0 for a zero value (left out).
func uintSize(v uint64) int {
	if v == 0 {
		return 0
	}
	return 1 + varintSize(v)
}

// strSize is the size of a length-delimited field; 0 when empty (left out).
func strSize(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + bytesSize(n)
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendUint(b []byte, num int, v uint64) []byte {
	if v == 0 {
		return b
	}
	return appendVarint(append(b, tag(num, wireVarint)), v)
}

func appendString(b []byte, num int, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, tag(num, wireBytes))
	b = appendVarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, num int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(b, tag(num, wireBytes))
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}
