package server

import (
	"fmt"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// BenchmarkStream is the collector's share of file-to-stored: 1 MiB
// batches of 170-byte file lines over real mutual TLS and gRPC on
// loopback, verified, indexed, committed and acknowledged, with a window
// of four batches in flight as an agent keeps. The batches are sealed
// beforehand so the figure is the collector's.
func BenchmarkStream(b *testing.B) {
	for _, sync := range []string{"full", "normal"} {
		b.Run("sync="+sync, func(b *testing.B) { benchStream(b, sync, nil) })
	}
}

// BenchmarkStreamWindow is BenchmarkStream (sync=normal) with each
// HTTP/2 window: the window must keep 1 MiB batches, four in flight,
// flowing as fast as gRPC's dynamic (BDP) window did.
func BenchmarkStreamWindow(b *testing.B) {
	for _, w := range []int32{64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("window=%dKiB", w>>10), func(b *testing.B) {
			benchStream(b, "normal", func(c *Config) { c.FlowWindow = w })
		})
	}
}

func benchStream(b *testing.B, sync string, mutate func(*Config)) {
	h := startServerSync(b, sync, mutate, "bench")
	c := h.dial(b, h.pki, "bench")
	c.mustHello()
	f := batchtest.NewFile("file:/var/log/bench.log", 1, 2)
	const window = 4
	var pre []*seal.Sealed
	for range 64 {
		pre = append(pre, c.dev.Next(f.Lines(1<<20/180, 170)...))
	}
	b.SetBytes(int64(len(pre[0].Bytes)))
	b.ResetTimer()
	sent, acked := 0, 0
	for sent < b.N {
		for sent < b.N && sent-acked < window {
			s := pre[sent%len(pre)]
			if sent >= len(pre) { // past the pre-sealed chain: seal on the fly, untimed
				b.StopTimer()
				s = c.dev.Next(f.Lines(1<<20/180, 170)...)
				b.StartTimer()
			}
			c.send(s)
			sent++
		}
		c.wantAck(uint64(acked+1), offboxv1.Ack_STATUS_STORED)
		acked++
	}
	for acked < sent {
		c.wantAck(uint64(acked+1), offboxv1.Ack_STATUS_STORED)
		acked++
	}
}
