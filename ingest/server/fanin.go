package server

import (
	"google.golang.org/grpc/mem"
)

// What a fleet of mostly quiet connections costs (BenchmarkFanIn10k:
// 10,000 agents each sending a one-line batch a second), and what a
// collector short of CPU holds for them.
//
// The HTTP/2 flow-control windows are explicit (Config.FlowWindow), which
// also turns off gRPC's BDP estimation: with it a connection's window grew
// toward 16 MiB, and a collector short of CPU held that much unread data
// per connection. A stream's window is what its agent may send beyond what
// the session has read. The default is HTTP/2's least, 64 KiB: a batch
// larger than it still flows whole, as gRPC widens the window for the
// message being read (BenchmarkStreamWindow: 1 MiB batches flow as fast
// with 64 KiB as with 1 MiB), and 10,000 connections hold at most 640 MiB
// of unread batch bytes, in frames at most twice that (frameBuffers), and
// an agent keeps at most four batches in flight anyway. With 256 KiB
// windows and gRPC's default pool, a fan-in run short of CPU (simulated
// agents that did not wait for acks) peaked at 1.6 GiB.
const DefaultFlowWindow = 64 << 10

// frameBuffers is the pool gRPC reads DATA frames into. Its default pool
// has a 256-byte class and then 4 KiB, so a one-line batch (400-600
// bytes) waiting unread held 4 KiB: a 64 KiB window of them, 600 KiB.
// With every power of two from 256 bytes to 32 KiB a frame holds less
// than twice its size.
var frameBuffers = func() mem.BufferPool {
	p, err := mem.NewBinaryTieredBufferPool(8, 9, 10, 11, 12, 13, 14, 15, 20)
	if err != nil {
		panic(err) // the exponents are constants
	}
	return p
}()
