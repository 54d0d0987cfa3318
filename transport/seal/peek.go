package seal

import (
	"google.golang.org/protobuf/encoding/protowire"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// PeekHeader reads the header of batch bytes without decoding their
// records, so it also reads the header of a batch that does not decode as a
// whole (a wrong record count, a damaged record): the collector names who a
// refused batch claims to be from, and rate-limits by its record count,
// without the cost of a full decode. It returns nil when no header can be
// read: the top level does not parse before a header field, or a header
// field does not decode.
//
// It agrees with Open (and proto.Unmarshal) on every batch they accept:
// the header fields are merged, each over the one before, as there;
// FuzzPeekHeader holds it to that. Byte fields alias batch, as with Open.
func PeekHeader(batch []byte) *offboxv1.BatchHeader {
	var h *offboxv1.BatchHeader
	for len(batch) > 0 {
		// protowire's tag reader, as the generated code: it skips field
		// numbers above protobuf's range (up to MaxInt32) where consumeTag
		// stops (FuzzPeekHeader found the difference).
		num, typ, n := protowire.ConsumeTag(batch)
		if n < 0 {
			return h
		}
		batch = batch[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(batch)
			if n < 0 {
				return h
			}
			if h == nil {
				h = new(offboxv1.BatchHeader)
			}
			if decodeHeader(v, h) != nil {
				return nil
			}
			batch = batch[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, batch)
		if n < 0 {
			return h
		}
		batch = batch[n:]
	}
	return h
}
