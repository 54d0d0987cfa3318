package agent

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// TestRecordsDecodeWithGeneratedCode checks that what Emit encodes, once
// sealed, decodes with proto.Unmarshal into offboxv1.Batch field for field,
// bodies byte-exact (invalid UTF-8, NUL, CR included), and that the encoding
// copies the body: a collector may reuse its buffer after Emit returns.
func TestRecordsDecodeWithGeneratedCode(t *testing.T) {
	t.Parallel()
	fixed := time.Unix(1_700_000_000, 123_456_789)
	fp := [32]byte{9, 8, 7}
	recs := []collectors.Record{
		{Time: fixed, Kind: collectors.KindLog, Source: "file:/var/log/auth.log",
			Body: []byte("Nov 22 18:00:01 host sshd[1]: Failed password for root"),
			File: &collectors.FileRange{ID: collectors.FileID{Dev: 2049, Inode: 1234, FPLen: 1024, FP: fp}, Start: 100, End: 155}},
		{Time: fixed.Add(1), Kind: collectors.KindLog, Source: "file:/x", Body: []byte{0xff, 0xfe, 0, '\r', 0xc3},
			Flags: collectors.FlagPartial | collectors.FlagNoNewline,
			File:  &collectors.FileRange{ID: collectors.FileID{Inode: 1}, Start: 0, End: 5}},
		{Time: fixed, Kind: collectors.KindHeartbeat, Source: "agent",
			Attrs: []collectors.Attr{{Key: "uptime_s", Value: "12"}, {Key: "boot_id", Value: "b"}, {Key: "", Value: ""}}},
		{Time: fixed, Kind: collectors.KindGap, Source: "file:/y", Body: []byte{}},
		{Time: time.Unix(0, -5), Kind: collectors.KindClock}, // before 1970: negative nanoseconds
	}
	id, pub := testIdentity(t)
	q := newQueue(queueConfig{budget: 1 << 20, maxBytes: 1 << 20, maxRecords: 100, maxDelay: time.Hour, now: time.Now})
	for i := range recs {
		r := recs[i]
		r.Body = bytes.Clone(r.Body)
		if err := q.Emit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		for j := range r.Body { // the collector reuses its buffer
			r.Body[j] = '#'
		}
	}
	b, _ := q.takeReady(true, false)
	s := &sender{q: q, identity: func() (Identity, error) { return id, nil }, now: time.Now,
		header: seal.Header{BootID: "boot", SessionID: []byte("0123456789abcdef"), AgentVersion: "v9"},
		tail:   link{seq: 41, hash: bytes.Repeat([]byte{1}, 32)}}
	if err := s.seal(b); err != nil {
		t.Fatal(err)
	}
	if err := seal.Verify(pub, b.sealed.Bytes, b.sealed.Sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	var got offboxv1.Batch
	if err := proto.Unmarshal(b.sealed.Bytes, &got); err != nil {
		t.Fatal(err)
	}
	h := got.GetHeader()
	wantHeader := &offboxv1.BatchHeader{DeviceId: "sw1", KeyId: id.KeyID, BootId: "boot",
		SessionId: []byte("0123456789abcdef"), Seq: 42, PrevHash: bytes.Repeat([]byte{1}, 32),
		RecordCount: uint32(len(recs)), SealedNs: h.GetSealedNs(), AgentVersion: "v9"}
	if !proto.Equal(h, wantHeader) {
		t.Errorf("header = %v, want %v", h, wantHeader)
	}
	if len(got.GetRecords()) != len(recs) {
		t.Fatalf("%d records decoded, want %d", len(got.GetRecords()), len(recs))
	}
	for i, r := range recs {
		want := &offboxv1.Record{TimeNs: r.Time.UnixNano(), Kind: offboxv1.Kind(r.Kind), Source: r.Source,
			Body: r.Body, Flags: r.Flags}
		if len(r.Body) == 0 {
			want.Body = nil
		}
		for _, a := range r.Attrs {
			want.Attrs = append(want.Attrs, &offboxv1.Attr{Key: a.Key, Value: a.Value})
		}
		if f := r.File; f != nil {
			want.File = &offboxv1.FileRange{Start: f.Start, End: f.End, File: &offboxv1.FileIdentity{
				Dev: f.ID.Dev, Inode: f.ID.Inode, FingerprintLen: f.ID.FPLen, Fingerprint: f.ID.FP[:]}}
		}
		if g := got.GetRecords()[i]; !proto.Equal(g, want) {
			t.Errorf("record %d = %v, want %v", i, g, want)
		}
	}
}
