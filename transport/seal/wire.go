package seal

import (
	"errors"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The reading side's wire-level helpers, shared by the batch decoder
// (decode.go) and PeekHeader: they parse tags, varints and unknown fields
// exactly as the generated decoder does.

const (
	varintType = uint64(protowire.VarintType)
	bytesType  = uint64(protowire.BytesType)
)

var (
	errDecode = errors.New("proto: cannot parse invalid wire-format data")
	errUTF8   = errors.New("string field contains invalid UTF-8")
)

// consumeTag parses a field's tag as the generated decoder does: a field
// number from 1 to protowire.MaxValidNumber, and no end-group tag (none of
// these messages is decoded as a group, so one is never expected).
func consumeTag(b []byte) (tag uint64, n int) {
	if len(b) > 0 && b[0] < 0x80 {
		tag, n = uint64(b[0]), 1
	} else {
		tag, n = protowire.ConsumeVarint(b)
		if n < 0 {
			return 0, n
		}
	}
	if num := tag >> 3; num < uint64(protowire.MinValidNumber) || num > uint64(protowire.MaxValidNumber) ||
		protowire.Type(tag&7) == protowire.EndGroupType {
		return 0, -1
	}
	return tag, n
}

func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// alias is a bytes field's value as the message holds it: nil when empty,
// as proto.Unmarshal leaves it, and without capacity past its end, so that
// appending to it never writes into the batch.
func alias(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return v[:len(v):len(v)]
}

// consumeUnknown skips the value of a field m does not know (or knows with
// another wire type) at the start of b and keeps it among m's unknown
// fields, tag re-encoded, as proto.Unmarshal does. It is the rare path.
func consumeUnknown(m protoreflect.ProtoMessage, tag uint64, b []byte) (int, error) {
	num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return 0, errDecode
	}
	r := m.ProtoReflect()
	u := protowire.AppendTag(r.GetUnknown(), num, typ)
	r.SetUnknown(append(u, b[:n]...))
	return n, nil
}
