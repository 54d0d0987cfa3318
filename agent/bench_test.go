package agent

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/transport/seal"
)

// BenchmarkEmit measures the hot path: a 170-byte file line encoded into the
// open batch. A consumer takes full batches and frees their budget as the
// sender would after an ack. It must not allocate.
func BenchmarkEmit(b *testing.B) {
	q := newQueue(queueConfig{budget: DefaultMemoryBudget, maxBytes: DefaultBatchMaxBytes,
		maxRecords: DefaultBatchMaxRecords, maxDelay: time.Hour, now: time.Now})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go consume(ctx, q)
	line := bytes.Repeat([]byte("x"), 169)
	rng := &collectors.FileRange{ID: collectors.FileID{Dev: 2049, Inode: 1234, FPLen: 1024, FP: [32]byte{1}}}
	r := collectors.Record{Time: time.Now(), Kind: collectors.KindLog, Source: "file:/var/log/syslog",
		Body: line, File: rng}
	b.SetBytes(int64(len(line) + 1)) // the line and its newline
	b.ReportAllocs()
	for b.Loop() {
		rng.Start = rng.End
		rng.End += 170
		if err := q.Emit(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal measures sealing a full 1 MiB batch of 170-byte lines with
// Ed25519: header, copy, SHA-256, signature.
func BenchmarkSeal(b *testing.B) {
	id, _ := testIdentity(b)
	q := newQueue(queueConfig{budget: 1 << 30, maxBytes: DefaultBatchMaxBytes, maxRecords: 1 << 30,
		maxDelay: time.Hour, now: time.Now})
	line := bytes.Repeat([]byte("x"), 169)
	rng := &collectors.FileRange{ID: collectors.FileID{Dev: 2049, Inode: 1234, FPLen: 1024, FP: [32]byte{1}}}
	for len(q.full) == 0 {
		rng.Start = rng.End
		rng.End += 170
		q.TryEmit(collectors.Record{Time: time.Now(), Kind: collectors.KindLog, Source: "file:/var/log/syslog", Body: line, File: rng})
	}
	bt, _ := q.takeReady(false, false)
	s := &sender{q: q, identity: func() (Identity, error) { return id, nil }, now: time.Now,
		header: seal.Header{BootID: "0f2c6f4e-5c1e-4c59-9e0b-1d7a1c2b3e4f", SessionID: make([]byte, 16), AgentVersion: "v1"}}
	b.SetBytes(bt.size())
	b.ReportAllocs()
	for b.Loop() {
		if err := s.seal(bt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bt.size())/float64(bt.count), "B/line") // encoded, of 170-byte lines
}
