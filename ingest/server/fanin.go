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
// the session has read. The default is what an agent keeps in flight at
// most, four batches of its largest, 1 MiB: a real agent is then never
// held by flow control, only by its own window, and a peer that ignores
// acks holds at most 4 MiB unread. Smaller windows cost the agent a round
// trip a batch (gRPC widens the window for the message being read, not the
// next): BenchmarkEndToEnd/synthetic 72.5-74.7 MiB/s with 64 KiB, 82.1-83.5
// with 256 KiB, 85.5-91.0 with 1 MiB, 88.2-90.8 with the BDP window; the
// realistic input 31.4-38.7 with 1 MiB, 37.4-41.0 with 4 MiB, 37.9-41.0
// with the BDP window (busy machine, runs alternated). A fleet of quiet
// agents leaves a few KiB unread each however wide the window.
const DefaultFlowWindow = 4 << 20

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
