package client

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec this one defers to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// batchCodec is gRPC's proto codec, except that an AgentMessage carrying a
// sealed batch is framed around the batch's records instead of copied: the
// records were encoded once, when emitted, and a 1 MiB copy per batch (into
// fresh memory) cost the agent a fifth of its CPU. The bytes on the wire are
// exactly what proto.Marshal would produce.
//
// gRPC writes a message after Send returns, so the records must not change
// until the collector has them; the agent reuses a batch's buffer only
// after the batch is acknowledged. The header is copied, because re-sealing
// rewrites it in place.
type batchCodec struct{ proto encoding.CodecV2 }

func newBatchCodec() batchCodec { return batchCodec{proto: encoding.GetCodecV2("proto")} }

// Name is the content-subtype: the collector decodes with its proto codec.
func (batchCodec) Name() string { return "proto" }

func (c batchCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (c batchCodec) Marshal(v any) (mem.BufferSlice, error) {
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
