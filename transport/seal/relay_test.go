package seal

import (
	"testing"

	"google.golang.org/protobuf/proto"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// An appliance's batch names its relay in the header (field 12): the
// hand-written decoder, the header peek and the generated code all read
// it, and a batch without it encodes exactly as before.
func TestHeaderRelay(t *testing.T) {
	t.Parallel()
	k := keys(t)["ed25519"]
	recs := encodeAll(sampleRecords)
	h := &Header{DeviceID: "fw1", Relay: "relay-1", Seq: 3, RecordCount: uint32(len(sampleRecords))}
	s, err := Seal(k, h, recs)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(s.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.GetHeader().GetRelay(); got != "relay-1" {
		t.Errorf("Open: relay = %q, want relay-1", got)
	}
	if got := PeekHeader(s.Bytes).GetRelay(); got != "relay-1" {
		t.Errorf("PeekHeader: relay = %q, want relay-1", got)
	}
	var pb offboxv1.Batch
	if err := proto.Unmarshal(s.Bytes, &pb); err != nil {
		t.Fatal(err)
	}
	if pb.GetHeader().GetRelay() != "relay-1" || pb.GetHeader().GetDeviceId() != "fw1" {
		t.Errorf("generated code reads device %q relay %q", pb.GetHeader().GetDeviceId(), pb.GetHeader().GetRelay())
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(&offboxv1.BatchHeader{DeviceId: "d", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := headerSize(&Header{DeviceID: "d", Seq: 1}); got != len(want) {
		t.Errorf("a header without relay: %d bytes, want %d (as before the field)", got, len(want))
	}
	if err := Verify(k.Public(), s.Bytes, s.Sig); err != nil {
		t.Error(err)
	}
}
