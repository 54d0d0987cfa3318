package seal

import "google.golang.org/protobuf/encoding/protowire"

// WireRecord is a record in the form AppendRecord encodes; field numbers
// follow offbox.v1.Record. Body and attribute strings are copied into the
// output, so they may alias the caller's buffers.
type WireRecord struct {
	TimeNs int64
	Kind   uint32
	Source string
	Body   []byte
	Attrs  []WireAttr
	File   *WireFileRange
	Flags  uint32
}

// WireAttr is one attribute.
type WireAttr struct{ Key, Value string }

// WireFileRange is offbox.v1.FileRange.
type WireFileRange struct {
	Dev, Inode uint64
	FPLen      uint32
	FP         []byte
	Start, End int64
}

// AppendRecord appends r as one field-2 entry of an offbox.v1.Batch, without
// allocating when dst has room. It is the agent's per-line hot path.
func AppendRecord(dst []byte, r *WireRecord) []byte {
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(recordSize(r)))
	dst = appendUint(dst, 1, uint64(r.TimeNs))
	dst = appendUint(dst, 2, uint64(r.Kind))
	dst = appendString(dst, 3, r.Source)
	if len(r.Body) > 0 {
		dst = protowire.AppendTag(dst, 4, protowire.BytesType)
		dst = protowire.AppendBytes(dst, r.Body)
	}
	for i := range r.Attrs {
		a := &r.Attrs[i]
		dst = protowire.AppendTag(dst, 5, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(attrSize(a)))
		dst = appendString(dst, 1, a.Key)
		dst = appendString(dst, 2, a.Value)
	}
	if f := r.File; f != nil {
		dst = protowire.AppendTag(dst, 6, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(fileRangeSize(f)))
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(fileIDSize(f)))
		dst = appendUint(dst, 1, f.Dev)
		dst = appendUint(dst, 2, f.Inode)
		dst = appendUint(dst, 3, uint64(f.FPLen))
		dst = appendBytes(dst, 4, f.FP)
		dst = appendUint(dst, 2, uint64(f.Start))
		dst = appendUint(dst, 3, uint64(f.End))
	}
	dst = appendUint(dst, 7, uint64(r.Flags))
	return dst
}

// RecordSize is the number of bytes AppendRecord adds for r.
func RecordSize(r *WireRecord) int {
	n := recordSize(r)
	return protowire.SizeTag(2) + protowire.SizeBytes(n)
}

func recordSize(r *WireRecord) int {
	n := uintSize(1, uint64(r.TimeNs)) + uintSize(2, uint64(r.Kind)) + strSize(3, len(r.Source))
	if len(r.Body) > 0 {
		n += protowire.SizeTag(4) + protowire.SizeBytes(len(r.Body))
	}
	for i := range r.Attrs {
		n += protowire.SizeTag(5) + protowire.SizeBytes(attrSize(&r.Attrs[i]))
	}
	if f := r.File; f != nil {
		n += protowire.SizeTag(6) + protowire.SizeBytes(fileRangeSize(f))
	}
	return n + uintSize(7, uint64(r.Flags))
}

func attrSize(a *WireAttr) int { return strSize(1, len(a.Key)) + strSize(2, len(a.Value)) }

func fileIDSize(f *WireFileRange) int {
	return uintSize(1, f.Dev) + uintSize(2, f.Inode) + uintSize(3, uint64(f.FPLen)) + strSize(4, len(f.FP))
}

func fileRangeSize(f *WireFileRange) int {
	return protowire.SizeTag(1) + protowire.SizeBytes(fileIDSize(f)) +
		uintSize(2, uint64(f.Start)) + uintSize(3, uint64(f.End))
}

func uintSize(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func strSize(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}
