package agent

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/internal/loggen"
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

// TestEmitLinesWaitsForBudget: a run of lines given to EmitLines arrives
// line by line, in order, with each line's range, waiting for room as Emit
// does; when its context ends while it waits, it reports how many lines it
// queued, and exactly those were queued.
func TestEmitLinesWaitsForBudget(t *testing.T) {
	q := newQueue(queueConfig{budget: 1500, maxBytes: 1000, maxRecords: 1 << 20, maxDelay: time.Hour, now: time.Now})
	var data []byte
	var runLines []collectors.Line
	var want []string
	for i := range 200 {
		body := fmt.Sprintf("line %d %s", i, string(make([]byte, i%23)))
		want = append(want, body)
		data = append(append(data, body...), '\n')
		runLines = append(runLines, collectors.Line{Len: len(body), N: len(body) + 1})
	}
	id := collectors.FileID{Dev: 1, Inode: 2, FPLen: 1024, FP: [32]byte{7}}
	rec := collectors.Record{Time: time.Unix(0, 1), Kind: collectors.KindLog, Source: "file:/var/log/a",
		File: &collectors.FileRange{ID: id, Start: 1000}}

	var got []string
	var ends []int64
	take := func() {
		for {
			b, _ := q.takeReady(true, false)
			if b == nil {
				return
			}
			for _, r := range decodeRecords(t, b.recs).GetRecords() {
				got = append(got, string(r.GetBody()))
				if f := r.GetFile(); f.GetEnd()-f.GetStart() != int64(len(r.GetBody())+1) {
					t.Errorf("line %q has range [%d, %d)", r.GetBody(), f.GetStart(), f.GetEnd())
				}
				ends = append(ends, r.GetFile().GetEnd())
			}
			q.release(b.size())
		}
	}
	done := make(chan error, 1)
	go func() {
		n, err := q.EmitLines(t.Context(), rec, data, runLines)
		if err == nil && n != len(runLines) {
			err = fmt.Errorf("EmitLines queued %d of %d", n, len(runLines))
		}
		done <- err
	}()
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		case <-time.After(time.Millisecond):
		}
		take()
	}
	q.Flush()
	take()
	if !slices.Equal(got, want) {
		t.Fatalf("got %d lines, want %d in order", len(got), len(want))
	}
	if ends[len(ends)-1] != 1000+int64(len(data)) {
		t.Errorf("last line ends at %d, want %d", ends[len(ends)-1], 1000+len(data))
	}

	// The budget fills and nobody acks: the context ends the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	n, err := q.EmitLines(ctx, rec, data, runLines)
	if err == nil || n == 0 || n == len(runLines) {
		t.Fatalf("EmitLines with a full budget and its context ended = %d, %v; want some queued and the context's error", n, err)
	}
	q.Flush()
	got = got[:0]
	take()
	if !slices.Equal(got, want[:n]) {
		t.Errorf("after a cut-short run: %d lines queued, want the %d EmitLines reported", len(got), n)
	}
}

// BenchmarkEmitRealistic measures the per-line path on internal/loggen's
// bastion mix (135 bytes a line on average), as the file tailer drives it:
// line by line through Emit, or in runs of 256 through EmitLines. A
// consumer takes full batches and frees their budget as the sender would
// after an ack. Neither may allocate.
func BenchmarkEmitRealistic(b *testing.B) {
	const n = 1 << 14
	gen := loggen.New(loggen.Config{Seed: 1, Devices: 4, Lines: n, Span: time.Hour, Mix: loggen.Bastion})
	var data []byte
	var all []collectors.Line
	for range n {
		before := len(data)
		data = gen.Append(data)
		all = append(all, collectors.Line{Len: len(data) - before - 1, N: len(data) - before})
	}
	id := collectors.FileID{Dev: 2049, Inode: 1234, FPLen: 1024, FP: [32]byte{1}}
	for _, runs := range []bool{false, true} {
		b.Run(map[bool]string{false: "Emit", true: "EmitLines"}[runs], func(b *testing.B) {
			q := newQueue(queueConfig{budget: DefaultMemoryBudget, maxBytes: DefaultBatchMaxBytes,
				maxRecords: DefaultBatchMaxRecords, maxDelay: time.Hour, now: time.Now})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go consume(ctx, q)
			rng := &collectors.FileRange{ID: id}
			r := collectors.Record{Time: time.Now(), Kind: collectors.KindLog, Source: "file:/var/log/auth.log", File: rng}
			b.SetBytes(int64(len(data)) / n)
			b.ReportAllocs()
			i, off, base := 0, 0, int64(0)
			for b.Loop() {
				if i == n {
					i, off, base = 0, 0, base+int64(len(data))
				}
				if runs {
					if i%256 == 0 {
						k := min(256, n-i)
						end := off
						for _, l := range all[i : i+k] {
							end += l.N
						}
						rng.Start = base + int64(off)
						if _, err := q.EmitLines(ctx, r, data[off:end], all[i:i+k]); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					l := all[i]
					rng.Start, rng.End = base+int64(off), base+int64(off+l.N)
					r.Body = data[off : off+l.Len]
					if err := q.Emit(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				off += all[i].N
				i++
			}
		})
	}
}

// consume takes full batches and frees their budget, as the sender does on
// acknowledgements, until ctx ends.
func consume(ctx context.Context, q *queue) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.ready:
		}
		for {
			bt, _ := q.takeReady(false, false)
			if bt == nil {
				break
			}
			q.recycle(bt.buf)
			q.release(bt.size())
		}
	}
}
