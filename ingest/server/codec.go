package server

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec this one defers to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// batchCodec is gRPC's proto codec, except that an AgentMessage carrying a
// sealed batch, in the one shape agents send it (the batch, then the
// signature, nothing else), is read without copying the batch a second
// time: gRPC's codec gathers the message into a pooled buffer and
// proto.Unmarshal copies the batch out of it, a 1 MiB copy per batch for
// nothing. Here the message is gathered once into memory of its own, which
// the batch and signature then point into. Any other message, or any other
// shape, goes to the proto codec: the result is always what proto.Unmarshal
// gives (FuzzBatchCodec checks it).
type batchCodec struct{ proto encoding.CodecV2 }

func newBatchCodec() batchCodec { return batchCodec{proto: encoding.GetCodecV2("proto")} }

// Name is the content-subtype agents send: "proto".
func (batchCodec) Name() string { return "proto" }

func (c batchCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c batchCodec) Unmarshal(data mem.BufferSlice, v any) error {
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
