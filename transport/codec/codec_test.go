package codec

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// TestBatchCodecMatchesProtoMarshal checks that the framed batch is byte
// for byte what proto.Marshal makes, for lengths on each side of the varint
// size steps, and that it decodes back.
func TestBatchCodecMatchesProtoMarshal(t *testing.T) {
	t.Parallel()
	c := New()
	hdr := seal.AppendHeader(nil, &seal.Header{DeviceID: "sw1", Seq: 7, PrevHash: bytes.Repeat([]byte{3}, 32)})
	for _, recLen := range []int{0, 1, 100, 127 - len(hdr), 128, 16383, 16384, 1 << 20} {
		for _, sigLen := range []int{0, 64, 72} {
			batch := append(bytes.Clone(hdr), bytes.Repeat([]byte{0x12}, recLen)...)
			msg := &offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{
				Batch: batch, Signature: bytes.Repeat([]byte{9}, sigLen)}}}
			want, err := proto.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			data, err := c.Marshal(msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := data.Materialize(); !bytes.Equal(got, want) {
				t.Fatalf("records %d, signature %d: framed %d bytes differ from proto.Marshal's %d", recLen, sigLen, len(got), len(want))
			}
			if recLen > 0 && len(data) < 2 {
				t.Errorf("records %d: %d buffers, want the records in a buffer of their own", recLen, len(data))
			}
			var back offboxv1.AgentMessage
			if err := c.Unmarshal(data, &back); err != nil || !proto.Equal(&back, msg) {
				t.Errorf("records %d, signature %d: decodes to a different message (%v)", recLen, sigLen, err)
			}
		}
	}
	// Messages without a batch, or batch bytes without a header first, go
	// through the proto codec unchanged.
	for _, msg := range []*offboxv1.AgentMessage{
		{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{DeviceId: "sw1"}}},
		{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: []byte{0x12, 0}, Signature: []byte{1}}}},
		{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{}}},
	} {
		want, _ := proto.Marshal(msg)
		data, err := c.Marshal(msg)
		if err != nil || !bytes.Equal(data.Materialize(), want) {
			t.Errorf("%v: marshalled differently from proto.Marshal (%v)", msg, err)
		}
	}
}

// sealedSeed is a batch of n file lines as an agent seals it.
func sealedSeed(t testing.TB, n int) *seal.Sealed {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := seal.KeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var b seal.Builder
	for i := range n {
		b.Add(&seal.WireRecord{TimeNs: int64(1000 + i), Kind: 1, Source: "file:/var/log/x",
			Body: bytes.Repeat([]byte("line "+strconv.Itoa(i)+" "), 12),
			File: &seal.WireFileRange{Dev: 1, Inode: 2, FPLen: 4, FP: []byte("abcd"), Start: int64(120 * i), End: int64(120 * (i + 1))}})
	}
	s, err := seal.Seal(key, &seal.Header{DeviceID: "d", KeyID: keyID, Seq: 1, RecordCount: uint32(n)}, b.Close())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// codecSeeds are AgentMessages as agents send them, and near misses.
func codecSeeds(t testing.TB) [][]byte {
	s := sealedSeed(t, 50)
	msg := func(m *offboxv1.AgentMessage) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	batch := msg(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: s.Bytes, Signature: s.Sig}}})
	noSig := msg(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: s.Bytes}}})
	hello := msg(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{DeviceId: "d", KeyId: []byte{1, 2}}}})
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
	if err := New().Unmarshal(in, &got); err != nil {
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

// TestBatchCodecRoundTrip: what one side's codec writes, the other side's
// reads back as the message sent, through the fast paths of both.
func TestBatchCodecRoundTrip(t *testing.T) {
	t.Parallel()
	s := sealedSeed(t, 20)
	msg := &offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: s.Bytes, Signature: s.Sig}}}
	data, err := New().Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sealedBatch(data.Materialize()); !ok {
		t.Fatal("the agent's framing is not read by the collector's fast path")
	}
	var got offboxv1.AgentMessage
	if err := New().Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&got, msg) {
		t.Fatal("the message read back differs from the one sent")
	}
}

// FuzzBatchCodec: for any bytes, the codec and proto.Unmarshal agree:
// both fail, or both give equal messages.
func FuzzBatchCodec(f *testing.F) {
	for _, s := range codecSeeds(f) {
		f.Add(s)
	}
	c := New()
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
