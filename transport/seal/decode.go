package seal

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// decodeBatch is proto.Unmarshal(buf, b) for a zero b, written out for the
// collector's hot path: for every input it accepts and rejects what
// proto.Unmarshal does and fills b with what proto.Unmarshal would
// (unknown fields included; FuzzDecodeMatchesProto holds it to that). It is
// faster because it needs no reflection and fewer allocations: records
// and the messages inside them come from slabs, and byte fields alias buf
// (capacity clipped, so an append by a reader copies). Strings are copied,
// as they must be.
//
// Where the generated decoder would fail, decodeBatch fails too, with its
// error text (but for the space protobuf-go randomises in it).
func decodeBatch(buf []byte, b *offboxv1.Batch) error {
	var d decoder
	nRecords, nSources, nFiles := countEntries(buf)
	d.records = make([]offboxv1.Record, nRecords)
	d.left = nRecords
	b.Records = make([]*offboxv1.Record, 0, nRecords)
	if nSources > 0 {
		b.Sources = make([]string, 0, nSources)
	}
	if nFiles > 0 {
		b.Files = make([]*offboxv1.FileIdentity, 0, nFiles)
		d.files = make([]offboxv1.FileIdentity, nFiles)
	}
	for len(buf) > 0 {
		tag, n := consumeTag(buf)
		if n < 0 {
			return errDecode
		}
		buf = buf[n:]
		switch tag {
		case 1<<3 | bytesType: // header
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			if b.Header == nil {
				b.Header = new(offboxv1.BatchHeader)
			}
			if err := decodeHeader(v, b.Header); err != nil {
				return err
			}
			buf = buf[n:]
		case 2<<3 | bytesType: // records
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			r := d.record()
			if err := d.decodeRecord(v, r); err != nil {
				return err
			}
			b.Records = append(b.Records, r)
			buf = buf[n:]
		case 3<<3 | bytesType: // sources
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			if !utf8.Valid(v) {
				return errUTF8
			}
			b.Sources = append(b.Sources, string(v))
			buf = buf[n:]
		case 4<<3 | bytesType: // files
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			f := next(&d.files, 16)
			if err := decodeIdentity(v, f); err != nil {
				return err
			}
			b.Files = append(b.Files, f)
			buf = buf[n:]
		default:
			n, err := consumeUnknown(b, tag, buf)
			if err != nil {
				return err
			}
			buf = buf[n:]
		}
	}
	if len(b.Records) == 0 {
		b.Records = nil // as proto.Unmarshal leaves it
	}
	return nil
}

// decoder hands out the messages of one batch from slabs.
type decoder struct {
	records []offboxv1.Record // the rest of the slab sized by countEntries
	left    int               // records not yet decoded, counting the current one
	ranges  []offboxv1.FileRange
	ids     []offboxv1.FileIdentity // inline in FileRange
	files   []offboxv1.FileIdentity // the batch's file table
	attrs   []offboxv1.Attr
	nRanges int // handed out so far, to grow the next slab
	nIDs    int
	nAttrs  int
}

// record returns the next record of the slab.
func (d *decoder) record() *offboxv1.Record {
	if d.left > 0 {
		d.left--
	}
	return next(&d.records, 16)
}

// next hands out the first element of *s, refilling an empty *s with a new
// slab of size elements. The messages are never copied, only pointed to.
func next[T any](s *[]T, size int) *T {
	if len(*s) == 0 {
		*s = make([]T, max(size, 1))
	}
	p := &(*s)[0]
	*s = (*s)[1:]
	return p
}

// grow is the size of the next slab of a kind of message of which used
// have been handed out: double, but not past what the records left could
// use (each holds at most one FileRange and one FileIdentity).
func (d *decoder) grow(used int) int {
	return min(max(used, 16), d.left+1)
}

func (d *decoder) decodeRecord(buf []byte, r *offboxv1.Record) error {
	for len(buf) > 0 {
		tag, n := consumeTag(buf)
		if n < 0 {
			return errDecode
		}
		buf = buf[n:]
		switch tag {
		case 1<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			r.TimeNs = int64(v)
			buf = buf[n:]
		case 2<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			r.Kind = offboxv1.Kind(int32(v))
			buf = buf[n:]
		case 3<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			if !utf8.Valid(v) {
				return errUTF8
			}
			r.Source = string(v)
			buf = buf[n:]
		case 4<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			r.Body = alias(v)
			buf = buf[n:]
		case 5<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			a := next(&d.attrs, max(d.nAttrs, 16))
			d.nAttrs++
			if err := decodeAttr(v, a); err != nil {
				return err
			}
			r.Attrs = append(r.Attrs, a)
			buf = buf[n:]
		case 6<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			if r.File == nil {
				r.File = next(&d.ranges, d.grow(d.nRanges))
				d.nRanges++
			}
			if err := d.decodeRange(v, r.File); err != nil {
				return err
			}
			buf = buf[n:]
		case 7<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			r.Flags = uint32(v)
			buf = buf[n:]
		case 8<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			r.SourceRef = uint32(v)
			buf = buf[n:]
		default:
			n, err := consumeUnknown(r, tag, buf)
			if err != nil {
				return err
			}
			buf = buf[n:]
		}
	}
	return nil
}

func (d *decoder) decodeRange(buf []byte, f *offboxv1.FileRange) error {
	for len(buf) > 0 {
		tag, n := consumeTag(buf)
		if n < 0 {
			return errDecode
		}
		buf = buf[n:]
		switch tag {
		case 1<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			if f.File == nil {
				f.File = next(&d.ids, d.grow(d.nIDs))
				d.nIDs++
			}
			if err := decodeIdentity(v, f.File); err != nil {
				return err
			}
			buf = buf[n:]
		case 2<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			f.Start = int64(v)
			buf = buf[n:]
		case 3<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			f.End = int64(v)
			buf = buf[n:]
		case 4<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			f.FileRef = uint32(v)
			buf = buf[n:]
		default:
			n, err := consumeUnknown(f, tag, buf)
			if err != nil {
				return err
			}
			buf = buf[n:]
		}
	}
	return nil
}

func decodeIdentity(buf []byte, f *offboxv1.FileIdentity) error {
	for len(buf) > 0 {
		tag, n := consumeTag(buf)
		if n < 0 {
			return errDecode
		}
		buf = buf[n:]
		switch tag {
		case 1<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			f.Dev = v
			buf = buf[n:]
		case 2<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			f.Inode = v
			buf = buf[n:]
		case 3<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			f.FingerprintLen = uint32(v)
			buf = buf[n:]
		case 4<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			f.Fingerprint = alias(v)
			buf = buf[n:]
		default:
			n, err := consumeUnknown(f, tag, buf)
			if err != nil {
				return err
			}
			buf = buf[n:]
		}
	}
	return nil
}

func decodeAttr(buf []byte, a *offboxv1.Attr) error {
	for len(buf) > 0 {
		tag, n := consumeTag(buf)
		if n < 0 {
			return errDecode
		}
		buf = buf[n:]
		switch tag {
		case 1<<3 | bytesType, 2<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			if !utf8.Valid(v) {
				return errUTF8
			}
			if tag>>3 == 1 {
				a.Key = string(v)
			} else {
				a.Value = string(v)
			}
			buf = buf[n:]
		default:
			n, err := consumeUnknown(a, tag, buf)
			if err != nil {
				return err
			}
			buf = buf[n:]
		}
	}
	return nil
}

func decodeHeader(buf []byte, h *offboxv1.BatchHeader) error {
	for len(buf) > 0 {
		tag, n := consumeTag(buf)
		if n < 0 {
			return errDecode
		}
		buf = buf[n:]
		num := protowire.Number(tag >> 3)
		switch tag {
		case 1<<3 | bytesType, 3<<3 | bytesType, 11<<3 | bytesType, 12<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			if !utf8.Valid(v) {
				return errUTF8
			}
			switch num {
			case 1:
				h.DeviceId = string(v)
			case 3:
				h.BootId = string(v)
			case 12:
				h.Relay = string(v)
			default:
				h.AgentVersion = string(v)
			}
			buf = buf[n:]
		case 2<<3 | bytesType, 4<<3 | bytesType, 6<<3 | bytesType:
			v, n := protowire.ConsumeBytes(buf)
			if n < 0 {
				return errDecode
			}
			switch num {
			case 2:
				h.KeyId = alias(v)
			case 4:
				h.SessionId = alias(v)
			default:
				h.PrevHash = alias(v)
			}
			buf = buf[n:]
		case 5<<3 | varintType, 7<<3 | varintType, 8<<3 | varintType, 9<<3 | varintType, 10<<3 | varintType:
			v, n := consumeVarint(buf)
			if n < 0 {
				return errDecode
			}
			switch num {
			case 5:
				h.Seq = v
			case 7:
				h.RecordCount = uint32(v)
			case 8:
				h.DroppedRecords = v
			case 9:
				h.DroppedBytes = v
			default:
				h.SealedNs = int64(v)
			}
			buf = buf[n:]
		default:
			n, err := consumeUnknown(h, tag, buf)
			if err != nil {
				return err
			}
			buf = buf[n:]
		}
	}
	return nil
}

// countEntries counts the records, sources and files of a batch, as far as
// its top level parses; decodeBatch sizes its slabs by them.
func countEntries(b []byte) (records, sources, files int) {
	for len(b) > 0 {
		tag, n := consumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		typ := protowire.Type(tag & 7)
		if n = protowire.ConsumeFieldValue(protowire.Number(tag>>3), typ, b); n < 0 {
			return
		}
		b = b[n:]
		switch tag {
		case 2<<3 | bytesType:
			records++
		case 3<<3 | bytesType:
			sources++
		case 4<<3 | bytesType:
			files++
		}
	}
	return
}
