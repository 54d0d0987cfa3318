package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

func TestRevokedBy(t *testing.T) {
	t.Parallel()
	issued := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert := &x509.Certificate{NotBefore: issued, PublicKey: pub}
	key, err := seal.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	other := []byte{4, 5, 6}
	tests := []struct {
		name string
		revs []store.Revocation
		want string // the By of the revocation that applies; "" for none
	}{
		{"none", nil, ""},
		{"another device", []store.Revocation{{Device: "b", Time: issued.Add(time.Hour), KeyIDs: [][]byte{key}, By: "x"}}, ""},
		{"issued before the revocation", []store.Revocation{{Device: "a", Time: issued.Add(time.Second), By: "x"}}, "x"},
		{"issued in the revocation's second", []store.Revocation{{Device: "a", Time: issued.Add(900 * time.Millisecond), By: "x"}}, ""},
		{"issued after the revocation", []store.Revocation{{Device: "a", Time: issued.Add(-time.Hour), KeyIDs: [][]byte{other}, By: "x"}}, ""},
		{"its key listed", []store.Revocation{{Device: "a", Time: issued.Add(-time.Hour), KeyIDs: [][]byte{other, key}, By: "x"}}, "x"},
		{"the latest applying wins", []store.Revocation{
			{Device: "a", Time: issued.Add(time.Hour), By: "first"},
			{Device: "a", Time: issued.Add(-time.Hour), By: "not applying"},
			{Device: "a", Time: issued.Add(2 * time.Hour), By: "second"}}, "second"},
	}
	for _, tc := range tests {
		got := revokedBy(tc.revs, "a", cert)
		if (got == nil) != (tc.want == "") || (got != nil && got.By != tc.want) {
			t.Errorf("%s: revokedBy = %+v, want by %q", tc.name, got, tc.want)
		}
	}
}

func TestLimiterReserve(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		limit          Limit
		records, bytes []int // batches, in order, all at now
		want           time.Duration
		why            string
	}{
		{"within the burst", Limit{RecordsPerSecond: 100, Burst: time.Second}, []int{60, 40}, []int{0, 0}, 0, ""},
		{"over the burst waits", Limit{RecordsPerSecond: 100, Burst: time.Second}, []int{60, 60}, []int{0, 0}, 200 * time.Millisecond, "100 records/s"},
		{"larger than the burst passes, later", Limit{RecordsPerSecond: 200, Burst: 100 * time.Millisecond}, []int{120}, []int{0}, 500 * time.Millisecond, "200 records/s"},
		{"default burst is 2s", Limit{RecordsPerSecond: 10}, []int{20, 10}, []int{0, 0}, time.Second, "10 records/s"},
		{"bytes limit", Limit{BytesPerSecond: 1000, Burst: time.Second}, []int{1, 1}, []int{1000, 500}, 500 * time.Millisecond, "1000 bytes/s"},
		{"the longer wait names the limit", Limit{RecordsPerSecond: 10, BytesPerSecond: 1000, Burst: time.Second}, []int{10, 5}, []int{1000, 2000}, 2 * time.Second, "1000 bytes/s"},
	}
	for _, tc := range tests {
		l := newLimiter(tc.limit)
		var d time.Duration
		var why string
		for i := range tc.records {
			d, why = l.reserve(now, tc.records[i], tc.bytes[i])
		}
		if d != tc.want || why != tc.why {
			t.Errorf("%s: last wait %v (%q), want %v (%q)", tc.name, d, why, tc.want, tc.why)
		}
	}
	if l := newLimiter(Limit{}); l != nil {
		t.Errorf("newLimiter(zero) = %+v, want nil (no limit)", l)
	}
}

// withRevocations has the server read the harness store's revocations
// every poll.
func withRevocations(poll time.Duration) func(*Config) {
	return func(c *Config) {
		c.Revocations = c.Store.(*sqlite.Store).Revocations
		c.RevocationPoll = poll
	}
}

func (h *harness) revoke(device string, keyIDs ...[]byte) store.Revocation {
	h.t.Helper()
	r := store.Revocation{Device: device, Time: time.Now(), KeyIDs: keyIDs, Reason: "lost in transit", By: "alice"}
	if err := h.store.Revoke(context.Background(), r); err != nil {
		h.t.Fatal(err)
	}
	return r
}

// refusal says Hello and returns how the stream ended.
func (c *client) refusal() error {
	c.t.Helper()
	err := c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{
		AgentVersion: "test", BootId: c.dev.BootID, SessionId: c.dev.Session, DeviceId: c.dev.Name, KeyId: c.dev.KeyID}}})
	if err != nil && !errors.Is(err, io.EOF) {
		c.t.Fatalf("send hello: %v", err)
	}
	m, err := c.stream.Recv()
	if err == nil {
		c.t.Fatalf("got %v, want the stream refused", m)
	}
	return err
}

func wantRevokedStatus(t *testing.T, err error) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied ||
		!strings.Contains(err.Error(), "certificate revoked at ") || !strings.Contains(err.Error(), "by alice: lost in transit") {
		t.Fatalf("stream ended with %v, want PermissionDenied \"certificate revoked at <time> by alice: lost in transit\"", err)
	}
}

func (h *harness) kindCount(device, kind string) int {
	n := 0
	for _, e := range h.events(device) {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// TestRevokedAtConnect: a device revoked (ahead of its first connection)
// is refused with PermissionDenied saying when, by whom and why; the
// refusal is an integrity event, once a minute however often it retries;
// other devices are not affected.
func TestRevokedAtConnect(t *testing.T) {
	t.Parallel()
	h := startServer(t, withRevocations(20*time.Millisecond), "router-1", "router-2")
	h.revoke("router-1")
	time.Sleep(200 * time.Millisecond) // several polls
	for range 3 {
		wantRevokedStatus(t, h.dial(t, h.pki, "router-1").refusal())
	}
	h.wantEvent("router-1", store.EventRevoked, 0, "refused: certificate revoked at ")
	if n := h.kindCount("router-1", store.EventRevoked); n != 1 {
		t.Errorf("%d revoked events after 3 refused connections within a minute, want 1", n)
	}
	if n := h.count(store.RecordQuery{Device: "router-1"}); n != 0 {
		t.Errorf("%d records stored for a revoked device", n)
	}
	c := h.dial(t, h.pki, "router-2")
	c.mustHello()
	c.send(c.dev.Next(batchtest.Heartbeat(1)))
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)
}

// TestRevokedAtStart: revocations stored before the collector starts are
// in force for its first connection.
func TestRevokedAtStart(t *testing.T) {
	t.Parallel()
	h := startServer(t, func(c *Config) {
		st := c.Store.(*sqlite.Store)
		if err := st.Revoke(context.Background(), store.Revocation{Device: "router-1", Time: time.Now(), Reason: "lost in transit", By: "alice"}); err != nil {
			t.Fatal(err)
		}
		c.Revocations = st.Revocations
		c.RevocationPoll = time.Hour // only the read at start counts
	}, "router-1")
	wantRevokedStatus(t, h.dial(t, h.pki, "router-1").refusal())
}

// TestRevokedWhileStreaming: the open stream of a device revoked by key id
// ends with PermissionDenied within the poll period, what it had sent is
// stored, the cut-off is an integrity event, and a reconnect is refused.
func TestRevokedWhileStreaming(t *testing.T) {
	t.Parallel()
	const poll = 100 * time.Millisecond
	h := startServer(t, withRevocations(poll), "router-1")
	c := h.dial(t, h.pki, "router-1")
	c.mustHello()
	f := batchtest.NewFile("file:/var/log/auth.log", 2049, 1234)
	c.send(c.dev.Next(f.Lines(10, 100)...))
	c.wantAck(1, offboxv1.Ack_STATUS_STORED)

	h.revoke("router-1", c.dev.KeyID)
	start := time.Now()
	_, err := c.stream.Recv()
	took := time.Since(start)
	wantRevokedStatus(t, err)
	t.Logf("open stream closed %v after the revocation (poll %v)", took.Round(time.Millisecond), poll)
	if took > 5*time.Second {
		t.Errorf("the open stream ended %v after the revocation, want within 5s", took)
	}
	h.wantEvent("router-1", store.EventRevoked, 0, "the open stream from ")
	if n := h.count(store.RecordQuery{Device: "router-1"}); n != 10 {
		t.Errorf("%d records stored, want the 10 acknowledged before the revocation", n)
	}

	wantRevokedStatus(t, h.dial(t, h.pki, "router-1").refusal())
	if n := h.kindCount("router-1", store.EventRevoked); n != 1 {
		t.Errorf("%d revoked events, want 1: the cut-off, the refused reconnect within the minute not again", n)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "session end") || !strings.Contains(logs, "certificate revoked") {
		t.Errorf("no session end naming the revocation in the log:\n%s", logs)
	}
}

// TestRateLimitThrottles: a device over its records/s is read more slowly
// and told so with Throttle messages; every batch is stored and
// acknowledged, nothing is lost, and it takes at least as long as the rate
// says (1000 records at 500/s with a burst of 1s: at least 1s).
func TestRateLimitThrottles(t *testing.T) {
	t.Parallel()
	h := startServer(t, func(c *Config) {
		c.Limits = func(device string) Limit {
			if device != "router-1" {
				return Limit{}
			}
			return Limit{RecordsPerSecond: 500, Burst: time.Second}
		}
	}, "router-1")
	c := h.dial(t, h.pki, "router-1")
	c.mustHello()
	f := batchtest.NewFile("file:/var/log/auth.log", 2049, 1234)
	var batches []*offboxv1.SealedBatch
	for range 10 {
		s := c.dev.Next(f.Lines(100, 100)...)
		batches = append(batches, &offboxv1.SealedBatch{Batch: s.Bytes, Signature: s.Sig})
	}
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		for _, b := range batches {
			if err := c.stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: b}}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	var throttles []*offboxv1.Throttle
	for seq := uint64(1); seq <= 10; {
		m, err := c.stream.Recv()
		if err != nil {
			t.Fatalf("waiting for the ack of %d: %v", seq, err)
		}
		if th := m.GetThrottle(); th != nil {
			throttles = append(throttles, th)
			continue
		}
		a := m.GetAck()
		if a.GetSeq() != seq || a.GetStatus() != offboxv1.Ack_STATUS_STORED {
			t.Fatalf("got %v, want ack %d STORED", m, seq)
		}
		seq++
	}
	took := time.Since(start)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("1000 records at 500/s (burst 1s) took %v, %d Throttle messages", took.Round(time.Millisecond), len(throttles))
	if took < time.Second {
		t.Errorf("1000 records at 500/s with a burst of 500 took %v, want at least 1s", took)
	}
	if len(throttles) == 0 {
		t.Fatal("no Throttle message")
	}
	for _, th := range throttles {
		if th.GetRetryAfterMs() <= 0 || !strings.Contains(th.GetReason(), "500 records/s") {
			t.Errorf("Throttle %v, want a positive retry_after_ms and the limit in the reason", th)
		}
	}
	if n := h.count(store.RecordQuery{Device: "router-1"}); n != 1000 {
		t.Errorf("%d records stored, want 1000", n)
	}
	if evs := h.events("router-1"); len(evs) != 0 {
		t.Errorf("integrity events for a throttled device: %+v", evs)
	}
}
