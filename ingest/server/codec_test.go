package server

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/ingest/batchtest"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// codecSeeds are AgentMessages as agents send them, and near misses.
func codecSeeds(t testing.TB) [][]byte {
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/var/log/x", 1, 2)
	s := dev.Next(f.Lines(50, 120)...)
	msg := func(m *offboxv1.AgentMessage) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	batch := msg(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: s.Bytes, Signature: s.Sig}}})
	noSig := msg(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: s.Bytes}}})
	hello := msg(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{DeviceId: "d", KeyId: dev.KeyID}}})
	unknown := protowire.AppendBytes(protowire.AppendTag(bytes.Clone(batch), 9, protowire.BytesType), []byte("x"))
	twice := append(bytes.Clone(batch), batch...)
	return [][]byte{batch, noSig, hello, unknown, twice, batch[:len(batch)-1], batch[:10], nil, {0x12, 0x00}}
}

// TestBatchCodecReadsAgentsBatches: the batch an agent sends is read by
// the fast path, pointing into the message's own copy, equal to what
// proto.Unmarshal gives.
func TestBatchCodecReadsAgentsBatches(t *testing.T) {
	seeds := codecSeeds(t)
	data := seeds[0]
	var got offboxv1.AgentMessage
	in := mem.BufferSlice{mem.SliceBuffer(data)}
	if err := newBatchCodec().Unmarshal(in, &got); err != nil {
		t.Fatal(err)
	}
	if _, ok := sealedBatch(data); !ok {
		t.Fatal("an agent's batch message did not take the fast path")
	}
	var want offboxv1.AgentMessage
	if err := proto.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, &want) {
		t.Fatal("the codec's message differs from proto.Unmarshal's")
	}
	// The batch is the codec's own memory, not the buffer gRPC reuses.
	b := got.GetBatch().GetBatch()
	data[len(data)-len(got.GetBatch().GetSignature())-3] ^= 0xff
	if !bytes.Equal(b, want.GetBatch().GetBatch()) {
		t.Fatal("the decoded batch changed with gRPC's buffer")
	}
	for i, s := range seeds[1:] {
		if _, ok := sealedBatch(s); ok {
			t.Errorf("seed %d (not an agent's batch message) took the fast path", i+1)
		}
	}
}

// FuzzBatchCodec: for any bytes, the codec and proto.Unmarshal agree:
// both fail, or both give equal messages.
func FuzzBatchCodec(f *testing.F) {
	for _, s := range codecSeeds(f) {
		f.Add(s)
	}
	c := newBatchCodec()
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got offboxv1.AgentMessage
		werr := proto.Unmarshal(data, &want)
		gerr := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("proto.Unmarshal: %v; codec: %v", werr, gerr)
		}
		if werr == nil && !proto.Equal(&want, &got) {
			t.Fatalf("codec gives %v, proto.Unmarshal %v", &got, &want)
		}
	})
}
