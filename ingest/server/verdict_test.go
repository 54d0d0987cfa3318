package server

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

func identityOf(d *batchtest.Device) *identity {
	return &identity{device: d.Name, keyID: d.KeyID, pub: d.Key.Public()}
}

// verdictCases are the examine table, shared with FuzzBatchBytes as seeds.
func verdictCases() (dev *batchtest.Device, cases []verdictCase) {
	dev = batchtest.NewDevice("sw1")
	f := batchtest.NewFile("file:/var/log/messages", 1, 2)
	good := dev.Seal(1, nil, append(f.Lines(3, 170), batchtest.Heartbeat(5))...)
	other := batchtest.NewDevice("sw2")
	otherHdr := dev.Header(1, nil, 1)
	otherHdr.DeviceID = "sw2"
	badCount := dev.Header(2, nil, 5)
	flipped := bytes.Clone(good.Bytes)
	flipped[bytes.LastIndex(flipped, []byte("xxx"))] ^= 0x20 // a body byte: still decodes
	return dev, []verdictCase{
		{"valid", good.Bytes, good.Sig, ""},
		{"header names another device", dev.SealHeader(otherHdr, batchtest.Heartbeat(1)).Bytes, good.Sig, store.EventIdentityMismatch},
		{"another device's batch", other.Seal(1, nil, batchtest.Heartbeat(1)).Bytes, good.Sig, store.EventIdentityMismatch},
		{"wrong count naming another device", append(seal.AppendHeader(nil, &seal.Header{DeviceID: "x", Seq: 1, RecordCount: 2}), 0x12, 0), nil, store.EventIdentityMismatch},
		{"record count wrong", dev.SealHeader(badCount, batchtest.Heartbeat(1)).Bytes, good.Sig, store.EventMalformed},
		{"garbage", []byte{0xff, 0xff, 0xff}, nil, store.EventMalformed},
		{"empty", nil, nil, store.EventMalformed},
		{"no header", seal.AppendRecord(nil, &seal.WireRecord{Kind: 1}), nil, store.EventMalformed},
		{"a byte flipped", flipped, good.Sig, store.EventBadSignature},
		{"no signature", good.Bytes, nil, store.EventBadSignature},
		{"signature of another batch", dev.Seal(1, nil, batchtest.Heartbeat(9)).Bytes, good.Sig, store.EventBadSignature},
	}
}

type verdictCase struct {
	name      string
	raw, sig  []byte
	wantEvent string // "" = accepted
}

func TestExamine(t *testing.T) {
	t.Parallel()
	dev, cases := verdictCases()
	id := identityOf(dev)
	for _, tc := range cases {
		b, digest, rej := examine(id, tc.raw, tc.sig)
		switch {
		case tc.wantEvent == "" && rej != nil:
			t.Errorf("%s: rejected %s: %s", tc.name, rej.kind, rej.detail)
		case tc.wantEvent == "" && (b == nil || digest != seal.Digest(tc.raw)):
			t.Errorf("%s: accepted without a batch and its digest", tc.name)
		case tc.wantEvent != "" && rej == nil:
			t.Errorf("%s: accepted, want %s", tc.name, tc.wantEvent)
		case tc.wantEvent != "" && rej.kind != tc.wantEvent:
			t.Errorf("%s: %s (%s), want %s", tc.name, rej.kind, rej.detail, tc.wantEvent)
		}
	}
}

func TestExamineECDSA(t *testing.T) {
	t.Parallel()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dev := batchtest.WithKey("hsm-router", k)
	s := dev.Next(batchtest.Heartbeat(1))
	if _, _, rej := examine(identityOf(dev), s.Bytes, s.Sig); rej != nil {
		t.Fatalf("ECDSA P-256 batch rejected: %s %s", rej.kind, rej.detail)
	}
}

func TestPlace(t *testing.T) {
	t.Parallel()
	hash := bytes.Repeat([]byte{1}, 32)
	other := bytes.Repeat([]byte{2}, 32)
	tests := []struct {
		name string
		head store.Head
		seq  uint64
		prev []byte
		want placement
	}{
		{"first batch of a new device", store.Head{}, 1, nil, inOrder},
		{"first batch claiming a predecessor", store.Head{}, 1, other, forkNext},
		{"next, linked", store.Head{Seq: 5, Hash: hash}, 6, hash, inOrder},
		{"next, not linked", store.Head{Seq: 5, Hash: hash}, 6, other, forkNext},
		{"next, no prev_hash", store.Head{Seq: 5, Hash: hash}, 6, nil, forkNext},
		{"ahead", store.Head{Seq: 5, Hash: hash}, 9, hash, gapAhead},
		{"new device starting late", store.Head{}, 3, nil, gapAhead},
		{"the head again", store.Head{Seq: 5, Hash: hash}, 5, nil, behind},
		{"below the head", store.Head{Seq: 5, Hash: hash}, 1, nil, behind},
	}
	for _, tt := range tests {
		if got := place(tt.head, &offboxv1.BatchHeader{Seq: tt.seq, PrevHash: tt.prev}); got != tt.want {
			t.Errorf("%s: placement %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestBehindVerdict(t *testing.T) {
	t.Parallel()
	a, b := [32]byte{1}, [32]byte{2}
	tests := []struct {
		name      string
		seq       uint64
		prev      []byte
		stored    [32]byte
		found     bool
		want      offboxv1.Ack_Status
		wantEvent string
	}{
		{"same digest", 3, []byte{9}, a, true, offboxv1.Ack_STATUS_DUPLICATE, store.EventReplay},
		{"other digest", 3, []byte{9}, b, true, offboxv1.Ack_STATUS_REJECTED, store.EventFork},
		{"inside a gap", 3, []byte{9}, [32]byte{}, false, offboxv1.Ack_STATUS_REJECTED, store.EventFork},
		{"first batch again, same bytes", 1, nil, a, true, offboxv1.Ack_STATUS_DUPLICATE, store.EventReplay},
		{"a new chain from seq 1", 1, nil, b, true, offboxv1.Ack_STATUS_REJECTED, store.EventChainRestart},
		{"seq 1 with a prev_hash", 1, []byte{9}, b, true, offboxv1.Ack_STATUS_REJECTED, store.EventFork},
	}
	for _, tt := range tests {
		h := &offboxv1.BatchHeader{Seq: tt.seq, PrevHash: tt.prev, BootId: "b2"}
		st, rej := behindVerdict(h, store.Head{Seq: 7, Hash: b[:]}, a, tt.stored, tt.found)
		if st != tt.want || rej.kind != tt.wantEvent {
			t.Errorf("%s: %v %s, want %v %s", tt.name, st, rej.kind, tt.want, tt.wantEvent)
		}
	}
}

// FuzzBatchBytes feeds arbitrary bytes and signatures through the decode
// and verify path the server uses (examine, then the index the store
// builds). Nothing may panic; nothing unsigned may be accepted; whatever
// is accepted names the connection's identity and decodes consistently.
func FuzzBatchBytes(f *testing.F) {
	dev, cases := verdictCases()
	for _, tc := range cases {
		f.Add(tc.raw, tc.sig)
	}
	id := identityOf(dev)
	signed := map[string]bool{}
	for _, tc := range cases {
		if tc.wantEvent == "" {
			signed[string(tc.raw)] = true
		}
	}
	f.Fuzz(func(t *testing.T, raw, sig []byte) {
		b, digest, rej := examine(id, raw, sig)
		seq := seal.PeekHeader(raw).GetSeq() // used for acks of rejected batches: must not panic
		if rej != nil {
			if rej.kind == "" || rej.detail == "" {
				t.Fatalf("rejection without a kind or detail: %+v", rej)
			}
			return
		}
		if !signed[string(raw)] {
			t.Fatalf("accepted bytes that were never signed (%d bytes)", len(raw))
		}
		h := b.GetHeader()
		if h.GetDeviceId() != id.device || !bytes.Equal(h.GetKeyId(), id.keyID) || digest != seal.Digest(raw) ||
			int(h.GetRecordCount()) != len(b.GetRecords()) || seq != h.GetSeq() {
			t.Fatalf("accepted an inconsistent batch: %v", h)
		}
		segs, _ := store.Index(b.GetRecords(), map[string]store.Checkpoint{})
		n := 0
		for _, s := range segs {
			n += s.Count
		}
		if n != len(b.GetRecords()) {
			t.Fatalf("index covers %d of %d records of a fresh device", n, len(b.GetRecords()))
		}
	})
}
