package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/offbox/offbox/collectors"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// decodeRecords decodes a run of encoded records and their tables (no
// header) with the generated code and resolves the records' table refs.
func decodeRecords(t testing.TB, recs []byte) *offboxv1.Batch {
	t.Helper()
	var b offboxv1.Batch
	if err := proto.Unmarshal(recs, &b); err != nil {
		t.Fatalf("records do not decode: %v", err)
	}
	if err := seal.Resolve(&b); err != nil {
		t.Fatalf("records do not resolve: %v", err)
	}
	return &b
}

// recordsPart strips the header (field 1, first) off batch bytes.
func recordsPart(t testing.TB, raw []byte) []byte {
	t.Helper()
	num, typ, n := protowire.ConsumeTag(raw)
	if num != 1 || typ != protowire.BytesType {
		t.Fatalf("batch does not start with its header: field %d type %d", num, typ)
	}
	m := protowire.ConsumeFieldValue(num, typ, raw[n:])
	if m < 0 {
		t.Fatal("bad header field")
	}
	return raw[n+m:]
}

func contextWithTimeout(t testing.TB, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// ackRecorder is a collector that only listens for acknowledgements.
type ackRecorder struct {
	mu  sync.Mutex
	got []collectors.Checkpoint
}

func (a *ackRecorder) Name() string { return "ackrecorder" }
func (a *ackRecorder) Run(ctx context.Context, _ collectors.Emitter) error {
	<-ctx.Done()
	return nil
}
func (a *ackRecorder) Acked(cps []collectors.Checkpoint) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, cps...)
}
func (a *ackRecorder) all() []collectors.Checkpoint {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]collectors.Checkpoint(nil), a.got...)
}

// funcCollector runs a function; it counts its runs.
type funcCollector struct {
	name string
	run  func(ctx context.Context, out collectors.Emitter, n int) error

	mu   sync.Mutex
	runs []time.Time
}

func (c *funcCollector) Name() string { return c.name }
func (c *funcCollector) Run(ctx context.Context, out collectors.Emitter) error {
	c.mu.Lock()
	c.runs = append(c.runs, time.Now())
	n := len(c.runs)
	c.mu.Unlock()
	return c.run(ctx, out, n)
}
func (c *funcCollector) runTimes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.runs...)
}

// resumer is a funcCollector that also takes checkpoints.
type resumer struct {
	funcCollector
	mu2     sync.Mutex
	resumed []collectors.Checkpoint
	calls   int
}

func (r *resumer) Resume(cps []collectors.Checkpoint) {
	r.mu2.Lock()
	defer r.mu2.Unlock()
	r.resumed = cps
	r.calls++
}

func (r *resumer) resumeCalls() (int, []collectors.Checkpoint) {
	r.mu2.Lock()
	defer r.mu2.Unlock()
	return r.calls, r.resumed
}
