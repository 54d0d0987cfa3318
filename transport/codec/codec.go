// Package codec is the gRPC codec both programs use on the offbox stream:
// gRPC's proto codec, except that a sealed batch, the one large message,
// is neither copied on the agent's side nor twice on the collector's. The
// bytes it writes are exactly what proto.Marshal writes, and what it reads
// is exactly what proto.Unmarshal reads (FuzzBatchCodec holds it to that);
// it never changes what is on the wire, only how many times it is copied.
package codec

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec this one defers to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// Codec is gRPC's proto codec with two shortcuts for an AgentMessage that
// carries a sealed batch; every other message goes to the proto codec.
//
// Sending (the agent), the message is framed around the batch's records
// instead of copied: the records were encoded once, when emitted, and a
// 1 MiB copy per batch (into fresh memory) cost the agent a fifth of its
// CPU. gRPC writes a message after Send returns, so the records must not
// change until the collector has them; the agent reuses a batch's buffer
// only after the batch is acknowledged. The header is copied, because
// re-sealing rewrites it in place.
//
// Receiving (the collector), a batch in the one shape agents send it (the
// batch, then the signature, nothing else) is read without copying it a
// second time: gRPC's codec gathers the message into a pooled buffer and
// proto.Unmarshal copies the batch out of it, a 1 MiB copy per batch for
// nothing. Here the message is gathered once into memory of its own, which
// the batch and signature then point into. Any other shape goes to the
// proto codec.
type Codec struct{ proto encoding.CodecV2 }

// New returns the codec, deferring to gRPC's registered proto codec.
func New() Codec { return Codec{proto: encoding.GetCodecV2("proto")} }

// Name is the content-subtype: "proto", so either side may use the plain
// proto codec.
func (Codec) Name() string { return "proto" }

// Marshal is proto.Marshal, framing a sealed batch around its records.
func (c Codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*offboxv1.AgentMessage)
	if !ok || m.GetBatch() == nil || len(m.ProtoReflect().GetUnknown()) > 0 {
		return c.proto.Marshal(v)
	}
	sb := m.GetBatch()
	if len(sb.ProtoReflect().GetUnknown()) > 0 {
		return c.proto.Marshal(v)
	}
	if data, ok := frameSealedBatch(sb.GetBatch(), sb.GetSignature()); ok {
		return data, nil
	}
	return c.proto.Marshal(v)
}

// Unmarshal is proto.Unmarshal, reading a sealed batch in place.
func (c Codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*offboxv1.AgentMessage)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	buf := data.Materialize() // a copy of its own, not pooled: the batch may point into it
	if sb, ok := sealedBatch(buf); ok {
		m.Reset()
		m.Msg = &offboxv1.AgentMessage_Batch{Batch: sb}
		return nil
	}
	return c.proto.Unmarshal(mem.BufferSlice{mem.SliceBuffer(buf)}, v)
}

// frameSealedBatch encodes AgentMessage{batch: SealedBatch{batch, sig}} as
// three buffers: the framing and the batch header (copied), the records (not
// copied), and the signature. ok is false if batch does not start with its
// header.
func frameSealedBatch(batch, sig []byte) (mem.BufferSlice, bool) {
	hdrEnd := headerEnd(batch)
	if hdrEnd < 0 {
		return nil, false
	}
	inner := 0
	if len(batch) > 0 {
		inner += protowire.SizeTag(1) + protowire.SizeBytes(len(batch))
	}
	if len(sig) > 0 {
		inner += protowire.SizeTag(2) + protowire.SizeBytes(len(sig))
	}
	head := make([]byte, 0, 16+hdrEnd)
	head = protowire.AppendTag(head, 2, protowire.BytesType) // AgentMessage.batch
	head = protowire.AppendVarint(head, uint64(inner))
	if len(batch) > 0 {
		head = protowire.AppendTag(head, 1, protowire.BytesType) // SealedBatch.batch
		head = protowire.AppendVarint(head, uint64(len(batch)))
		head = append(head, batch[:hdrEnd]...)
	}
	data := mem.BufferSlice{mem.SliceBuffer(head)}
	if len(batch) > hdrEnd {
		data = append(data, mem.SliceBuffer(batch[hdrEnd:]))
	}
	if len(sig) > 0 {
		tail := protowire.AppendTag(nil, 2, protowire.BytesType) // SealedBatch.signature
		data = append(data, mem.SliceBuffer(protowire.AppendBytes(tail, sig)))
	}
	return data, true
}

// headerEnd is the length of the header field (Batch field 1) that starts
// batch, 0 for an empty batch, or -1.
func headerEnd(batch []byte) int {
	if len(batch) == 0 {
		return 0
	}
	num, typ, n := protowire.ConsumeTag(batch)
	if n < 0 || num != 1 || typ != protowire.BytesType {
		return -1
	}
	m := protowire.ConsumeFieldValue(num, typ, batch[n:])
	if m < 0 {
		return -1
	}
	return n + m
}

// sealedBatch reads AgentMessage{batch: SealedBatch{batch: B, signature:
// S}} encoded minimally, each field once, in that order, B and S not
// empty; ok is false for anything else.
func sealedBatch(buf []byte) (*offboxv1.SealedBatch, bool) {
	inner, ok := onlyField(buf, 2)
	if !ok {
		return nil, false
	}
	num, typ, n := protowire.ConsumeTag(inner)
	if num != 1 || typ != protowire.BytesType || n != 1 {
		return nil, false
	}
	batch, m := protowire.ConsumeBytes(inner[n:])
	if m < 0 || len(batch) == 0 {
		return nil, false
	}
	sig, ok := onlyField(inner[n+m:], 2)
	if !ok || len(sig) == 0 {
		return nil, false
	}
	return &offboxv1.SealedBatch{Batch: batch[:len(batch):len(batch)], Signature: sig[:len(sig):len(sig)]}, true
}

// onlyField reads b as exactly one length-delimited field num, its tag and
// length minimally encoded.
func onlyField(b []byte, num protowire.Number) ([]byte, bool) {
	got, typ, n := protowire.ConsumeTag(b)
	if got != num || typ != protowire.BytesType || n != 1 {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) || protowire.SizeVarint(uint64(len(v))) != m-len(v) {
		return nil, false
	}
	return v, true
}
