package client

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// TestBatchCodecMatchesProtoMarshal checks that the framed batch is byte
// for byte what proto.Marshal makes, for lengths on each side of the varint
// size steps, and that it decodes back.
func TestBatchCodecMatchesProtoMarshal(t *testing.T) {
	t.Parallel()
	c := newBatchCodec()
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
