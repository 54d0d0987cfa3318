package agent

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// TestRecordsDecodeWithGeneratedCode checks that what Emit encodes, once
// sealed, decodes with proto.Unmarshal into offboxv1.Batch field for field
// once the records' refs are resolved against the batch's tables (each
// source and file identity once, in order of first use), bodies byte-exact
// (invalid UTF-8, NUL, CR included), and that the encoding copies the body:
// a collector may reuse its buffer after Emit returns.
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
		{Time: time.Unix(0, -5), Kind: collectors.KindClock}, // before 1970: negative nanoseconds: no source, no ref
		{Time: fixed.Add(2), Kind: collectors.KindLog, Source: "file:/var/log/auth.log", Body: []byte("again"),
			File: &collectors.FileRange{ID: collectors.FileID{Dev: 2049, Inode: 1234, FPLen: 1024, FP: fp}, Start: 155, End: 161}},
		{Time: fixed.Add(3), Kind: collectors.KindLog, Source: "file:/x", Body: []byte("same source, new file"),
			File: &collectors.FileRange{ID: collectors.FileID{Inode: 2, FPLen: 3, FP: fp}, Start: 0, End: 22}},
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
		chain:  chain{tail: link{seq: 41, hash: bytes.Repeat([]byte{1}, 32)}}}
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
	wantSources := []string{"file:/var/log/auth.log", "file:/x", "agent", "file:/y"}
	if !slices.Equal(got.GetSources(), wantSources) {
		t.Errorf("sources = %q, want %q", got.GetSources(), wantSources)
	}
	wantFiles := []*offboxv1.FileIdentity{
		{Dev: 2049, Inode: 1234, FingerprintLen: 1024, Fingerprint: fp[:]},
		{Inode: 1, Fingerprint: make([]byte, 32)},
		{Inode: 2, FingerprintLen: 3, Fingerprint: fp[:]},
	}
	if len(got.GetFiles()) != len(wantFiles) {
		t.Errorf("%d files in the table, want %d", len(got.GetFiles()), len(wantFiles))
	}
	for i := range min(len(got.GetFiles()), len(wantFiles)) {
		if !proto.Equal(got.GetFiles()[i], wantFiles[i]) {
			t.Errorf("file %d = %v, want %v", i+1, got.GetFiles()[i], wantFiles[i])
		}
	}
	wantRefs := [][2]uint32{{1, 1}, {2, 2}, {3, 0}, {4, 0}, {0, 0}, {1, 1}, {2, 3}} // source_ref, file_ref
	for i, r := range got.GetRecords() {
		if i < len(wantRefs) && (r.GetSourceRef() != wantRefs[i][0] || r.GetFile().GetFileRef() != wantRefs[i][1]) {
			t.Errorf("record %d refs = %d, %d, want %d, %d", i, r.GetSourceRef(), r.GetFile().GetFileRef(), wantRefs[i][0], wantRefs[i][1])
		}
		if r.GetSource() != "" || r.GetFile().GetFile() != nil {
			t.Errorf("record %d spells out its source or file: %v", i, r)
		}
	}
	if err := seal.Resolve(&got); err != nil {
		t.Fatal(err)
	}
	if opened, err := seal.Open(b.sealed.Bytes); err != nil || !proto.Equal(opened, &got) {
		t.Errorf("seal.Open = %v, %v; want the resolved batch %v", opened, err, &got)
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

// TestTablesPerBatch checks that every batch carries its own tables, each
// source and file once, in order of first use, and that a record the budget
// refuses leaves nothing in them.
func TestTablesPerBatch(t *testing.T) {
	t.Parallel()
	id := func(inode uint64) collectors.FileID {
		return collectors.FileID{Inode: inode, FPLen: 1, FP: [32]byte{byte(inode)}}
	}
	rec := func(source string, inode uint64) collectors.Record {
		return collectors.Record{Time: time.Unix(1, 0), Kind: collectors.KindLog, Source: source, Body: []byte("line"),
			File: &collectors.FileRange{ID: id(inode), Start: 0, End: 5}}
	}
	q := newQueue(queueConfig{budget: 1 << 20, maxBytes: 1 << 20, maxRecords: 3, maxDelay: time.Hour, now: time.Now})
	for _, r := range []collectors.Record{rec("a", 1), rec("a", 1), rec("b", 2), rec("b", 2), rec("a", 3), rec("c", 1)} {
		if !q.TryEmit(r) {
			t.Fatal("TryEmit refused with room in the budget")
		}
	}
	want := []struct {
		sources []string
		inodes  []uint64 // of the file table
		records [][2]string
	}{
		{[]string{"a", "b"}, []uint64{1, 2}, [][2]string{{"a", "1"}, {"a", "1"}, {"b", "2"}}},
		{[]string{"b", "a", "c"}, []uint64{2, 3, 1}, [][2]string{{"b", "2"}, {"a", "3"}, {"c", "1"}}},
	}
	var used int64
	for i, w := range want {
		b, _ := q.takeReady(true, false)
		if b == nil {
			t.Fatalf("batch %d missing", i)
		}
		used += b.size()
		var raw offboxv1.Batch
		if err := proto.Unmarshal(b.recs, &raw); err != nil {
			t.Fatal(err)
		}
		var inodes []uint64
		for _, f := range raw.GetFiles() {
			inodes = append(inodes, f.GetInode())
		}
		if !slices.Equal(raw.GetSources(), w.sources) || !slices.Equal(inodes, w.inodes) {
			t.Errorf("batch %d tables = %q, inodes %v; want %q, %v", i, raw.GetSources(), inodes, w.sources, w.inodes)
		}
		var got [][2]string
		for _, r := range decodeRecords(t, b.recs).GetRecords() {
			got = append(got, [2]string{r.GetSource(), strconv.FormatUint(r.GetFile().GetFile().GetInode(), 10)})
		}
		if !slices.Equal(got, w.records) {
			t.Errorf("batch %d records (source, inode) = %v, want %v", i, got, w.records)
		}
	}
	if u, _ := q.usage(); u != used {
		t.Errorf("budget used = %d, the batches hold %d", u, used)
	}

	// A budget with room for one record and its table entries: the second
	// record, of a new source and file, is refused and leaves no trace.
	one := newQueue(queueConfig{budget: 1, maxBytes: 1 << 20, maxRecords: 100, maxDelay: time.Hour, now: time.Now})
	if !one.TryEmit(rec("a", 1)) {
		t.Fatal("the first record is refused by an empty queue")
	}
	if one.TryEmit(rec("other", 9)) {
		t.Fatal("a record past the budget was admitted")
	}
	b, _ := one.takeReady(true, false)
	raw := decodeRecords(t, b.recs)
	if !slices.Equal(raw.GetSources(), []string{"a"}) || len(raw.GetFiles()) != 1 || len(raw.GetRecords()) != 1 {
		t.Errorf("after a refused record: sources %q, %d files, %d records; want [a], 1, 1",
			raw.GetSources(), len(raw.GetFiles()), len(raw.GetRecords()))
	}
	if u, _ := one.usage(); u != b.size() {
		t.Errorf("budget used = %d, the batch holds %d", u, b.size())
	}
}
