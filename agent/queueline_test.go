package agent

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TestFileLinesThroughQueue sends file lines through the queue as a tailer
// does (most take the per-line path, admitLine), with a second source
// interleaved, a rotation to a new file, and a budget that fills up: every
// admitted line arrives once, in order, with its source and file range;
// every refused one is counted in a gap record; no batch is past its max
// bytes; and each batch's checkpoint mark is the last range of each source
// in it.
func TestFileLinesThroughQueue(t *testing.T) {
	q := newQueue(queueConfig{budget: 1500, maxBytes: 1000, maxRecords: 1 << 20, maxDelay: time.Hour, now: time.Now})
	idA := collectors.FileID{Dev: 1, Inode: 2, FPLen: 1024, FP: [32]byte{7}}
	idB := collectors.FileID{Dev: 1, Inode: 3, FPLen: 10, FP: [32]byte{8}}
	type line struct {
		source string
		body   string
		file   collectors.FileRange
	}
	var admitted []line
	dropped := 0
	offsets := map[string]int64{}
	var got []line
	gaps := 0
	take := func() {
		for {
			b, _ := q.takeReady(true, false)
			if b == nil {
				return
			}
			if len(b.recs) > 1000 {
				t.Errorf("batch of %d bytes, max 1000", len(b.recs))
			}
			last := map[string]collectors.FileRange{}
			for _, r := range decodeRecords(t, b.recs).GetRecords() {
				if r.GetKind() == offboxv1.Kind_KIND_GAP {
					for _, a := range r.GetAttrs() {
						if a.GetKey() == "dropped_records" {
							n, _ := strconv.Atoi(a.GetValue())
							gaps += n
						}
					}
					continue
				}
				f := r.GetFile()
				l := line{source: r.GetSource(), body: string(r.GetBody()), file: collectors.FileRange{
					ID:    collectors.FileID{Dev: f.GetFile().GetDev(), Inode: f.GetFile().GetInode(), FPLen: f.GetFile().GetFingerprintLen()},
					Start: f.GetStart(), End: f.GetEnd()}}
				copy(l.file.ID.FP[:], f.GetFile().GetFingerprint())
				got = append(got, l)
				last[l.source] = l.file
			}
			if len(b.marks) != len(last) {
				t.Errorf("batch marks %v, want the last range of each of %d sources", b.marks, len(last))
			}
			for _, m := range b.marks {
				if m.file != last[m.source] {
					t.Errorf("mark of %s = %+v, want the batch's last range %+v", m.source, m.file, last[m.source])
				}
			}
			q.release(b.size())
		}
	}
	for i := range 600 {
		src, id := "file:/var/log/a", idA
		switch {
		case i%37 == 5:
			src = "file:/var/log/b"
		case i >= 300:
			id = idB // a rotated to a new file
		}
		body := fmt.Sprintf("%d %s", i, string(make([]byte, i%61)))
		r := collectors.Record{Time: time.Unix(0, int64(i+1)), Kind: collectors.KindLog, Source: src, Body: []byte(body),
			File: &collectors.FileRange{ID: id, Start: offsets[src+strconv.FormatUint(id.Inode, 10)]}}
		r.File.End = r.File.Start + int64(len(body)) + 1
		if q.TryEmit(r) {
			offsets[src+strconv.FormatUint(id.Inode, 10)] = r.File.End
			admitted = append(admitted, line{source: src, body: body, file: *r.File})
		} else {
			dropped++
		}
		if i%40 == 39 { // the sender takes and acks now and then, not at once
			take()
		}
	}
	q.Flush()
	take()
	if dropped == 0 || dropped == 600 {
		t.Fatalf("%d of 600 lines refused: the test wants some refused by a full budget", dropped)
	}
	if gaps != dropped {
		t.Errorf("gap records count %d dropped lines, want %d", gaps, dropped)
	}
	if !slices.Equal(got, admitted) {
		t.Errorf("got %d lines, want the %d admitted in order", len(got), len(admitted))
		for i := range min(len(got), len(admitted)) {
			if got[i] != admitted[i] {
				t.Fatalf("line %d = %+v, want %+v", i, got[i], admitted[i])
			}
		}
	}
}
