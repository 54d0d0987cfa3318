package server

// What a fleet of idle-ish connections costs (BenchmarkFanIn10k: 10,000
// agents each sending a one-line batch a second).
//
// gRPC's 32 KiB write buffer per connection is already shared (gRPC
// 1.85 returns it to a pool after each flush; grpc.SharedWriteBuffer is
// deprecated as the default).
//
// The HTTP/2 flow-control windows are explicit (Config.FlowWindow), which also
// turns off gRPC's BDP estimation: with it a connection's window grew
// toward 16 MiB, and a collector short of CPU held that much unread data
// per connection (1.6 GiB at 10,000 agents). A stream's window is what the
// agent may send beyond what the session has read; a batch larger than it
// still flows, as gRPC widens the window for the message being read.
const DefaultFlowWindow = 256 << 10
