package seal

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

func keys(t testing.TB) map[string]crypto.Signer {
	t.Helper()
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"ed25519": ed, "ecdsa-p256": ec}
}

var sampleRecords = []WireRecord{
	{TimeNs: 1_700_000_000_123_456_789, Kind: 1, Source: "file:/var/log/auth.log",
		Body: []byte("Nov 22 18:00:01 host sshd[1]: Failed password for root from 10.0.0.1 port 22 ssh2"),
		File: &WireFileRange{Dev: 2049, Inode: 1234, FPLen: 1024, FP: bytes.Repeat([]byte{7}, 32), Start: 0, End: 85}},
	{TimeNs: 1, Kind: 1, Source: "file:/x", Body: []byte{0xff, 0xfe, 0, '\r'}, Flags: 1},
	{TimeNs: 2, Kind: 3, Source: "agent", Attrs: []WireAttr{{"uptime_s", "12"}, {"boot_id", "b"}, {"", ""}}},
	{Kind: 8},
}

func encodeAll(recs []WireRecord) []byte {
	var b []byte
	for i := range recs {
		b = AppendRecord(b, &recs[i])
	}
	return b
}

func TestAppendRecordDecodesWithGeneratedCode(t *testing.T) {
	t.Parallel()
	h := &Header{DeviceID: "sw1", KeyID: bytes.Repeat([]byte{1}, 32), BootID: "boot", SessionID: []byte("sess"),
		Seq: 7, PrevHash: bytes.Repeat([]byte{2}, 32), RecordCount: uint32(len(sampleRecords)),
		DroppedRecords: 3, DroppedBytes: 300, SealedNs: 42, AgentVersion: "v1"}
	buf := AppendHeader(nil, h)
	for i := range sampleRecords {
		before := len(buf)
		buf = AppendRecord(buf, &sampleRecords[i])
		if got, want := len(buf)-before, RecordSize(&sampleRecords[i]); got != want {
			t.Errorf("record %d: AppendRecord wrote %d bytes, RecordSize says %d", i, got, want)
		}
	}
	var b offboxv1.Batch
	if err := proto.Unmarshal(buf, &b); err != nil {
		t.Fatal(err)
	}
	gh := b.GetHeader()
	if gh.GetDeviceId() != "sw1" || gh.GetSeq() != 7 || gh.GetDroppedRecords() != 3 || gh.GetDroppedBytes() != 300 ||
		gh.GetSealedNs() != 42 || gh.GetAgentVersion() != "v1" || gh.GetBootId() != "boot" ||
		!bytes.Equal(gh.GetPrevHash(), h.PrevHash) || gh.GetRecordCount() != 4 {
		t.Errorf("header = %v, want %+v", gh, h)
	}
	if len(b.GetRecords()) != len(sampleRecords) {
		t.Fatalf("got %d records, want %d", len(b.GetRecords()), len(sampleRecords))
	}
	for i, r := range b.GetRecords() {
		w := sampleRecords[i]
		if r.GetTimeNs() != w.TimeNs || uint32(r.GetKind()) != w.Kind || r.GetSource() != w.Source ||
			!bytes.Equal(r.GetBody(), w.Body) || r.GetFlags() != w.Flags || len(r.GetAttrs()) != len(w.Attrs) {
			t.Errorf("record %d = %v, want %+v", i, r, w)
		}
		for j, a := range r.GetAttrs() {
			if a.GetKey() != w.Attrs[j].Key || a.GetValue() != w.Attrs[j].Value {
				t.Errorf("record %d attr %d = %v, want %v", i, j, a, w.Attrs[j])
			}
		}
		if w.File != nil {
			f := r.GetFile()
			if f.GetStart() != w.File.Start || f.GetEnd() != w.File.End || f.GetFile().GetInode() != w.File.Inode ||
				f.GetFile().GetDev() != w.File.Dev || f.GetFile().GetFingerprintLen() != w.File.FPLen ||
				!bytes.Equal(f.GetFile().GetFingerprint(), w.File.FP) {
				t.Errorf("record %d file = %v, want %+v", i, f, w.File)
			}
		}
	}
}

func TestSealVerify(t *testing.T) {
	t.Parallel()
	for name, k := range keys(t) {
		t.Run(name, func(t *testing.T) {
			recs := encodeAll(sampleRecords)
			s, err := Seal(k, &Header{DeviceID: "d", Seq: 1, RecordCount: uint32(len(sampleRecords))}, recs)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(k.Public(), s.Bytes, s.Sig); err != nil {
				t.Fatalf("valid batch: %v", err)
			}
			if s.Digest != Digest(s.Bytes) {
				t.Error("Sealed.Digest is not the digest of Sealed.Bytes")
			}
			if _, err := Open(s.Bytes); err != nil {
				t.Fatalf("Open: %v", err)
			}
			// Any flipped bit anywhere in the bytes breaks the signature.
			for _, i := range []int{0, len(s.Bytes) / 2, len(s.Bytes) - 1} {
				bad := bytes.Clone(s.Bytes)
				bad[i] ^= 1
				if err := Verify(k.Public(), bad, s.Sig); !errors.Is(err, ErrBadSignature) {
					t.Errorf("byte %d flipped: err = %v, want ErrBadSignature", i, err)
				}
			}
			badSig := bytes.Clone(s.Sig)
			badSig[len(badSig)/2] ^= 1
			if err := Verify(k.Public(), s.Bytes, badSig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("flipped signature: err = %v", err)
			}
			// Another key of the same kind does not verify it.
			other := keys(t)[name]
			if err := Verify(other.Public(), s.Bytes, s.Sig); !errors.Is(err, ErrBadSignature) {
				t.Errorf("other key: err = %v", err)
			}
		})
	}
}

func TestResealKeepsRecordBytes(t *testing.T) {
	t.Parallel()
	k := keys(t)["ed25519"]
	recs := encodeAll(sampleRecords)
	a, _ := Seal(k, &Header{Seq: 1, RecordCount: 4}, recs)
	b, _ := Seal(k, &Header{Seq: 9, PrevHash: a.Digest[:], RecordCount: 4}, recs)
	ob, err := Open(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if ob.GetHeader().GetSeq() != 9 || !bytes.Equal(ob.GetHeader().GetPrevHash(), a.Digest[:]) {
		t.Errorf("resealed header = %v", ob.GetHeader())
	}
	if !bytes.HasSuffix(b.Bytes, recs) {
		t.Error("resealed batch does not end with the original record bytes")
	}
}

func TestSignRejectsUnsupportedKeys(t *testing.T) {
	t.Parallel()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	for name, k := range map[string]crypto.Signer{"p384": p384, "rsa": rk} {
		if _, err := SignDigest(k, [32]byte{}); err == nil {
			t.Errorf("%s: SignDigest succeeded, want an error", name)
		}
	}
}

func TestOpenRejectsMalformed(t *testing.T) {
	t.Parallel()
	one := encodeAll(sampleRecords[:1])
	tests := map[string][]byte{
		"garbage":     {0xff, 0xff, 0xff},
		"no header":   one,
		"seq 0":       append(AppendHeader(nil, &Header{RecordCount: 1}), one...),
		"count wrong": append(AppendHeader(nil, &Header{Seq: 1, RecordCount: 2}), one...),
		"short prev":  append(AppendHeader(nil, &Header{Seq: 1, PrevHash: []byte{1}, RecordCount: 1}), one...),
		"truncated":   append(AppendHeader(nil, &Header{Seq: 1, RecordCount: 1}), one[:len(one)-3]...),
		"empty":       nil,
	}
	for name, in := range tests {
		if _, err := Open(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzOpen(f *testing.F) {
	k := keys(f)["ed25519"]
	s, _ := Seal(k, &Header{Seq: 1, RecordCount: uint32(len(sampleRecords))}, encodeAll(sampleRecords))
	f.Add(s.Bytes, s.Sig)
	f.Add([]byte{0x0a, 0x02, 0x28, 0x01}, []byte{})
	f.Fuzz(func(t *testing.T, batch, sig []byte) {
		b, err := Open(batch)
		if err == nil && int(b.GetHeader().GetRecordCount()) != len(b.GetRecords()) {
			t.Fatalf("Open accepted a batch whose count disagrees")
		}
		if Verify(k.Public(), batch, sig) == nil && !bytes.Equal(batch, s.Bytes) {
			t.Fatalf("a signature verified over bytes that were never signed")
		}
	})
}

func BenchmarkSeal1MiB(b *testing.B) {
	k := keys(b)["ed25519"]
	line := bytes.Repeat([]byte("x"), 170)
	var recs []byte
	n := 0
	for len(recs) < 1<<20 {
		recs = AppendRecord(recs, &WireRecord{TimeNs: 1, Kind: 1, Source: "file:/var/log/x", Body: line,
			File: &WireFileRange{Dev: 1, Inode: 2, FPLen: 1024, FP: line[:32], Start: 100, End: 271}})
		n++
	}
	b.SetBytes(int64(len(recs)))
	for b.Loop() {
		if _, err := Seal(k, &Header{Seq: 1, RecordCount: uint32(n)}, recs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify1MiB(b *testing.B) {
	k := keys(b)["ed25519"]
	s, _ := Seal(k, &Header{Seq: 1}, bytes.Repeat([]byte{0x12, 0}, 1<<19))
	b.SetBytes(int64(len(s.Bytes)))
	for b.Loop() {
		if err := Verify(k.Public(), s.Bytes, s.Sig); err != nil {
			b.Fatal(err)
		}
	}
}
