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
	"slices"
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

// refRecords refer to the tables that appendTables encodes: refSources and
// refFiles.
var (
	refSources = []string{"file:/var/log/auth.log", "file:/x"}
	refFiles   = []WireFileRange{{Dev: 2049, Inode: 1234, FPLen: 1024, FP: bytes.Repeat([]byte{7}, 32)}, {Inode: 9}, {}}
	refRecords = []WireRecord{
		{TimeNs: 3, Kind: 1, SourceRef: 1, Body: []byte("ref line"), File: &WireFileRange{Start: 85, End: 94, FileRef: 1}},
		{TimeNs: 4, Kind: 1, SourceRef: 2, Body: []byte("other"), File: &WireFileRange{End: 6, FileRef: 2}, Flags: 2},
		// The source spelled out, the file (an empty identity) by ref.
		{TimeNs: 5, Kind: 9, Source: "agent", File: &WireFileRange{Start: 1 << 40, End: 1<<40 + 1, FileRef: 3}},
		{TimeNs: -1, Kind: 1, SourceRef: 1, Attrs: []WireAttr{{"k", "v"}}},
	}
)

// appendTables appends the tables refRecords refer to.
func appendTables(b []byte) []byte {
	for _, s := range refSources {
		b = AppendSource(b, s)
	}
	for i := range refFiles {
		b = AppendFile(b, &refFiles[i])
	}
	return b
}

// toProto is r as the generated code holds it; resolved replaces its refs by
// the entries of refSources and refFiles.
func toProto(r *WireRecord, resolved bool) *offboxv1.Record {
	p := &offboxv1.Record{TimeNs: r.TimeNs, Kind: offboxv1.Kind(r.Kind), Source: r.Source, Body: r.Body,
		Flags: r.Flags, SourceRef: r.SourceRef}
	for _, a := range r.Attrs {
		p.Attrs = append(p.Attrs, &offboxv1.Attr{Key: a.Key, Value: a.Value})
	}
	if resolved && r.SourceRef != 0 {
		p.Source, p.SourceRef = refSources[r.SourceRef-1], 0
	}
	if f := r.File; f != nil {
		id := f
		if resolved && f.FileRef != 0 {
			id = &refFiles[f.FileRef-1]
		}
		p.File = &offboxv1.FileRange{Start: f.Start, End: f.End}
		if f.FileRef == 0 || resolved {
			p.File.File = &offboxv1.FileIdentity{Dev: id.Dev, Inode: id.Inode, FingerprintLen: id.FPLen, Fingerprint: id.FP}
		}
		if !resolved {
			p.File.FileRef = f.FileRef
		}
	}
	return p
}

// TestAppendRecordMatchesMarshal checks that AppendRecord writes exactly the
// bytes proto.Marshal writes for the same record, and RecordSize their
// number.
func TestAppendRecordMatchesMarshal(t *testing.T) {
	t.Parallel()
	for i, r := range append(slices.Clone(sampleRecords), refRecords...) {
		got := AppendRecord([]byte("prefix"), &r)[len("prefix"):]
		want, err := proto.Marshal(&offboxv1.Batch{Records: []*offboxv1.Record{toProto(&r, false)}})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("record %d: AppendRecord = %x, proto.Marshal = %x", i, got, want)
		}
		if n := RecordSize(&r); n != len(got) {
			t.Errorf("record %d: RecordSize = %d, AppendRecord wrote %d", i, n, len(got))
		}
	}
	for i := range refFiles {
		f := &refFiles[i]
		got := AppendFile(nil, f)
		want, _ := proto.Marshal(&offboxv1.Batch{Files: []*offboxv1.FileIdentity{
			{Dev: f.Dev, Inode: f.Inode, FingerprintLen: f.FPLen, Fingerprint: f.FP}}})
		if !bytes.Equal(got, want) || FileSize(f) != len(got) {
			t.Errorf("file %d: AppendFile = %x (FileSize %d), proto.Marshal = %x", i, got, FileSize(f), want)
		}
	}
	got := AppendSource(nil, refSources[0])
	want, _ := proto.Marshal(&offboxv1.Batch{Sources: refSources[:1]})
	if !bytes.Equal(got, want) || SourceSize(refSources[0]) != len(got) {
		t.Errorf("AppendSource = %x (SourceSize %d), proto.Marshal = %x", got, SourceSize(refSources[0]), want)
	}
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
	all := append(slices.Clone(sampleRecords), refRecords...)
	h := &Header{DeviceID: "sw1", KeyID: bytes.Repeat([]byte{1}, 32), BootID: "boot", SessionID: []byte("sess"),
		Seq: 7, PrevHash: bytes.Repeat([]byte{2}, 32), RecordCount: uint32(len(all)),
		DroppedRecords: 3, DroppedBytes: 300, SealedNs: 42, AgentVersion: "v1"}
	buf := AppendHeader(nil, h)
	for i := range all {
		before := len(buf)
		buf = AppendRecord(buf, &all[i])
		if got, want := len(buf)-before, RecordSize(&all[i]); got != want {
			t.Errorf("record %d: AppendRecord wrote %d bytes, RecordSize says %d", i, got, want)
		}
	}
	buf = appendTables(buf)
	var b offboxv1.Batch
	if err := proto.Unmarshal(buf, &b); err != nil {
		t.Fatal(err)
	}
	gh := b.GetHeader()
	if gh.GetDeviceId() != "sw1" || gh.GetSeq() != 7 || gh.GetDroppedRecords() != 3 || gh.GetDroppedBytes() != 300 ||
		gh.GetSealedNs() != 42 || gh.GetAgentVersion() != "v1" || gh.GetBootId() != "boot" ||
		!bytes.Equal(gh.GetPrevHash(), h.PrevHash) || gh.GetRecordCount() != uint32(len(all)) {
		t.Errorf("header = %v, want %+v", gh, h)
	}
	if !slices.Equal(b.GetSources(), refSources) {
		t.Errorf("sources = %q, want %q", b.GetSources(), refSources)
	}
	if len(b.GetFiles()) != len(refFiles) {
		t.Errorf("%d files, want %d", len(b.GetFiles()), len(refFiles))
	}
	if len(b.GetRecords()) != len(all) {
		t.Fatalf("got %d records, want %d", len(b.GetRecords()), len(all))
	}
	// Field for field as encoded, refs and all; then resolved, as Open
	// returns them.
	for i, r := range b.GetRecords() {
		if want := toProto(&all[i], false); !proto.Equal(r, want) {
			t.Errorf("record %d = %v, want %v", i, r, want)
		}
	}
	opened, err := Open(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range opened.GetRecords() {
		if want := toProto(&all[i], true); !proto.Equal(r, want) {
			t.Errorf("opened record %d = %v, want %v", i, r, want)
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
	// References out of range, or beside an inline value.
	hdr := &offboxv1.BatchHeader{Seq: 1, RecordCount: 1}
	file := &offboxv1.FileIdentity{Inode: 1}
	for name, b := range map[string]*offboxv1.Batch{
		"source_ref, no table":   {Records: []*offboxv1.Record{{SourceRef: 1}}},
		"source_ref past table":  {Records: []*offboxv1.Record{{SourceRef: 3}}, Sources: []string{"a", "b"}},
		"source_ref max":         {Records: []*offboxv1.Record{{SourceRef: 1<<32 - 1}}, Sources: []string{"a"}},
		"source_ref and source":  {Records: []*offboxv1.Record{{SourceRef: 1, Source: "b"}}, Sources: []string{"a"}},
		"file_ref, no table":     {Records: []*offboxv1.Record{{File: &offboxv1.FileRange{FileRef: 1}}}},
		"file_ref past table":    {Records: []*offboxv1.Record{{File: &offboxv1.FileRange{FileRef: 2}}}, Files: []*offboxv1.FileIdentity{file}},
		"file_ref and file":      {Records: []*offboxv1.Record{{File: &offboxv1.FileRange{FileRef: 1, File: file}}}, Files: []*offboxv1.FileIdentity{file}},
		"file_ref to the source": {Records: []*offboxv1.Record{{File: &offboxv1.FileRange{FileRef: 1}}}, Sources: []string{"a"}},
	} {
		b.Header = hdr
		raw, err := proto.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		tests[name] = raw
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
	refs, _ := Seal(k, &Header{Seq: 2, RecordCount: uint32(len(refRecords))}, appendTables(encodeAll(refRecords)))
	f.Add(refs.Bytes, refs.Sig)
	f.Add(bytes.Clone(refs.Bytes[:len(refs.Bytes)-FileSize(&refFiles[2])]), []byte{}) // the last file entry cut off
	f.Fuzz(func(t *testing.T, batch, sig []byte) {
		b, err := Open(batch)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Open: %v, want ErrMalformed or nil", err)
		}
		if err == nil && int(b.GetHeader().GetRecordCount()) != len(b.GetRecords()) {
			t.Fatalf("Open accepted a batch whose count disagrees")
		}
		for i, r := range b.GetRecords() {
			if r.GetSourceRef() != 0 || r.GetFile().GetFileRef() != 0 {
				t.Fatalf("Open returned record %d with an unresolved ref: %v", i, r)
			}
		}
		if Verify(k.Public(), batch, sig) == nil && !bytes.Equal(batch, s.Bytes) && !bytes.Equal(batch, refs.Bytes) {
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

// BenchmarkAppendRecord measures the agent's per-line encoding: a 170-byte
// file line spelling out its source and file, and the same line by refs.
func BenchmarkAppendRecord(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 169)
	for _, bc := range []struct {
		name string
		r    WireRecord
	}{
		{"inline", WireRecord{TimeNs: 1_700_000_000_123_456_789, Kind: 1, Source: "file:/var/log/app.log", Body: line,
			File: &WireFileRange{Dev: 2049, Inode: 1234567, FPLen: 1024, FP: line[:32], Start: 1 << 30, End: 1<<30 + 170}}},
		{"refs", WireRecord{TimeNs: 1_700_000_000_123_456_789, Kind: 1, SourceRef: 1, Body: line,
			File: &WireFileRange{Start: 1 << 30, End: 1<<30 + 170, FileRef: 1}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1<<20)
			b.SetBytes(int64(len(line) + 1))
			b.ReportAllocs()
			for b.Loop() {
				if len(buf) > 1<<20-512 {
					buf = buf[:0]
				}
				buf = AppendRecord(buf, &bc.r)
			}
			b.ReportMetric(float64(RecordSize(&bc.r)), "B/record")
		})
	}
}
