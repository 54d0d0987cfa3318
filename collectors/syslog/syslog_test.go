package syslog

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

// fakeEmitter keeps copies of what it takes. While full is set, TryEmit
// refuses everything.
type fakeEmitter struct {
	mu       sync.Mutex
	recs     []collectors.Record
	logs     int
	full     bool
	refused  int // log records TryEmit refused
	gapTries int // gap records TryEmit refused
}

func newFake() *fakeEmitter { return &fakeEmitter{} }

func (e *fakeEmitter) keep(r collectors.Record) {
	r.Body = bytes.Clone(r.Body)
	r.Attrs = append([]collectors.Attr(nil), r.Attrs...)
	e.recs = append(e.recs, r)
	if r.Kind == collectors.KindLog {
		e.logs++
	}
}

func (e *fakeEmitter) Emit(ctx context.Context, r collectors.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keep(r)
	return nil
}

func (e *fakeEmitter) TryEmit(r collectors.Record) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.full {
		if r.Kind == collectors.KindLog {
			e.refused++
		} else {
			e.gapTries++
		}
		return false
	}
	e.keep(r)
	return true
}

func (e *fakeEmitter) setFull(v bool) { e.mu.Lock(); e.full = v; e.mu.Unlock() }

func (e *fakeEmitter) counts() (logs, refused int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs, e.refused
}

func (e *fakeEmitter) snapshot() []collectors.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]collectors.Record(nil), e.recs...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runCollector(t *testing.T, cfg Config) (*Collector, *fakeEmitter) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newFake()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx, e) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return c, e
}

// message is the i-th test message: RFC 3164 or 5424, with UTF-8 and
// varying length, so byte-exactness is checked on more than ASCII.
func message(tag string, i int) []byte {
	var s string
	if i%2 == 0 {
		s = fmt.Sprintf("<%d>Nov 22 18:00:00 host app[%d]: %s %08d héllo", i%192, i%1000, tag, i)
	} else {
		s = fmt.Sprintf("<%d>1 2026-11-22T18:00:00Z host app %d id [x@1 n=\"%d\"] %s %08d ünïcode", i%192, i%1000, i, tag, i)
	}
	return append([]byte(s), bytes.Repeat([]byte{'x'}, i%97)...)
}

// checkAll asserts the log records of source are messages [0, n) of tag,
// each once, byte-exact.
func checkAll(t *testing.T, recs []collectors.Record, source, tag string, n int) {
	t.Helper()
	seen := make([]bool, n)
	got := 0
	for _, r := range recs {
		if r.Source != source || r.Kind != collectors.KindLog {
			continue
		}
		i := bytes.Index(r.Body, []byte(tag+" "))
		if i < 0 {
			t.Fatalf("%s: unexpected body %q", source, r.Body)
		}
		k, err := strconv.Atoi(string(r.Body[i+len(tag)+1 : i+len(tag)+9]))
		if err != nil || k >= n || !bytes.Equal(r.Body, message(tag, k)) {
			t.Fatalf("%s: body %q is not a test message byte for byte", source, r.Body)
		}
		if seen[k] {
			t.Fatalf("%s: message %d delivered twice", source, k)
		}
		seen[k] = true
		got++
	}
	if got != n {
		t.Fatalf("%s: %d of %d messages delivered", source, got, n)
	}
}

const hundredK = 100_000

func TestHundredThousandOverEachTransport(t *testing.T) {
	t.Parallel()
	n := hundredK
	if testing.Short() {
		n = 5000
	}
	sock := filepath.Join(t.TempDir(), "log.sock")
	c, e := runCollector(t, Config{Unix: []string{sock}, UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}})
	addrs, names := c.Addrs(), c.Sources()

	// Unix datagrams: the sender blocks when the socket buffer is full.
	u, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for i := 0; i < n; i++ {
		if _, err := u.Write(message("unix", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "unix messages", func() bool { l, _ := e.counts(); return l >= n })

	// UDP: loopback drops what overflows the socket buffer, and that loss
	// is the kernel's, not the collector's; pace the sender.
	udp, err := net.Dial("udp", addrs[1].String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i := 0; i < n; i++ {
		if i%500 == 0 {
			waitFor(t, "UDP messages", func() bool { l, _ := e.counts(); return l >= n+i-2000 })
		}
		if _, err := udp.Write(message("udp", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "UDP messages", func() bool { l, _ := e.counts(); return l >= 2*n })

	// TCP: octet counting and newline framing alternate on one connection;
	// an octet-counted message may hold a newline.
	tc, err := net.Dial("tcp", addrs[2].String())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		m := message("tcp", i)
		if i%2 == 0 {
			fmt.Fprintf(&buf, "%d %s", len(m), m)
		} else {
			buf.Write(m)
			buf.WriteByte('\n')
		}
		if buf.Len() > 1<<16 || i == n-1 {
			if _, err := tc.Write(buf.Bytes()); err != nil {
				t.Fatal(err)
			}
			buf.Reset()
		}
	}
	tc.Close()
	waitFor(t, "TCP messages", func() bool { l, _ := e.counts(); return l >= 3*n })

	recs := e.snapshot()
	checkAll(t, recs, names[0], "unix", n)
	checkAll(t, recs, names[1], "udp", n)
	checkAll(t, recs, names[2], "tcp", n)
	if names[0] != "syslog:unix:"+sock || names[1] != "syslog:udp:127.0.0.1:0" || names[2] != "syslog:tcp:127.0.0.1:0" {
		t.Errorf("sources %q", names)
	}
}

// TestFullQueueDropsAreCounted: while the queue refuses, datagrams are
// dropped; the gap records that follow count exactly the messages that
// were not delivered, and come before the next delivered message.
func TestFullQueueDropsAreCounted(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "log.sock")
	c, e := runCollector(t, Config{Unix: []string{sock}, GapEvery: 20 * time.Millisecond})
	src := c.Sources()[0]
	u, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := u.Write(message("drop", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(0, 1000)
	waitFor(t, "the first 1000", func() bool { l, _ := e.counts(); return l == 1000 })
	e.setFull(true)
	send(1000, 3500)
	waitFor(t, "2500 refusals", func() bool { _, r := e.counts(); return r == 2500 })
	// A second burst after a pause: the count keeps growing, no gap yet.
	time.Sleep(100 * time.Millisecond)
	send(3500, 3600)
	waitFor(t, "2600 refusals", func() bool { _, r := e.counts(); return r == 2600 })
	e.setFull(false)
	// No message comes: the timer alone reports the count.
	waitFor(t, "a gap record", func() bool {
		for _, r := range e.snapshot() {
			if r.Kind == collectors.KindGap {
				return true
			}
		}
		return false
	})
	send(3600, 4000)
	waitFor(t, "the last 400", func() bool { l, _ := e.counts(); return l == 1400 })

	var delivered, reported, gaps int
	for _, r := range e.snapshot() {
		switch r.Kind {
		case collectors.KindLog:
			delivered++
		case collectors.KindGap:
			gaps++
			attrs := map[string]string{}
			for _, a := range r.Attrs {
				attrs[a.Key] = a.Value
			}
			n, err := strconv.Atoi(attrs["dropped"])
			if err != nil || r.Source != src || attrs["source"] != src {
				t.Fatalf("gap record %+v", r)
			}
			if delivered != 1000 {
				t.Errorf("gap record after %d delivered messages, want after 1000 (before the rest)", delivered)
			}
			reported += n
		}
	}
	// Refused gap records count as drops in the agent: they are tried once
	// per GapEvery while the queue stays full, not once per message.
	e.mu.Lock()
	gapTries := e.gapTries
	e.mu.Unlock()
	if gapTries > 20 {
		t.Errorf("%d gap records refused while the queue was full, want about one per GapEvery", gapTries)
	}
	if delivered+reported != 4000 || reported != 2600 {
		t.Fatalf("%d delivered + %d reported dropped (in %d gap records), want 1400 + 2600 = 4000", delivered, reported, gaps)
	}
}

// TestMalformedKeptRaw sends malformed messages through each transport:
// each is delivered whole and flagged.
func TestMalformedKeptRaw(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "log.sock")
	c, e := runCollector(t, Config{Unix: []string{sock}, UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}})
	bad := []struct {
		msg, reason string
	}{
		{"no pri at all", BadPRI},
		{"<999>Nov 22 18:00:00 a: b", BadPRI},
		{"<13>Nov 2", TruncatedHeader},
		{"<13>1 2026-01-01T00:00:00Z h", TruncatedHeader},
		{"<13>Nov 22 18:00:00 a: \x01\x02\xff binary", Binary},
	}
	addrs := c.Addrs()
	for _, nw := range []struct{ net, addr string }{{"unixgram", sock}, {"udp", addrs[1].String()}} {
		conn, err := net.Dial(nw.net, nw.addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			conn.Write([]byte(b.msg))
		}
		conn.Close()
	}
	tc, err := net.Dial("tcp", addrs[2].String())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		fmt.Fprintf(tc, "%d %s", len(b.msg), b.msg)
	}
	tc.Close()
	waitFor(t, "15 records", func() bool { l, _ := e.counts(); return l == 15 })
	perSource := map[string]int{}
	for _, r := range e.snapshot() {
		var reason string
		for _, a := range r.Attrs {
			if a.Key == "malformed" {
				reason = a.Value
			}
		}
		k := perSource[r.Source]
		perSource[r.Source]++
		if string(r.Body) != bad[k].msg || reason != bad[k].reason {
			t.Errorf("%s: record %d body %q malformed=%q, want %q malformed=%q", r.Source, k, r.Body, reason, bad[k].msg, bad[k].reason)
		}
	}
}

func TestLongMessagesAreCut(t *testing.T) {
	t.Parallel()
	c, e := runCollector(t, Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, MaxMessageBytes: 100})
	long := "<13>Nov 22 18:00:00 a: " + string(bytes.Repeat([]byte("0123456789"), 25)) // 273 bytes
	u, _ := net.Dial("udp", c.Addrs()[0].String())
	u.Write([]byte(long))
	u.Close()
	waitFor(t, "the datagram", func() bool { l, _ := e.counts(); return l == 1 })
	tc, _ := net.Dial("tcp", c.Addrs()[1].String())
	fmt.Fprintf(tc, "%s\n%d %s", long, len(long), long)
	tc.Close()
	waitFor(t, "the TCP pieces", func() bool { l, _ := e.counts(); return l == 7 })
	recs := e.snapshot()
	if r := recs[0]; string(r.Body) != long[:100] || r.Flags != collectors.FlagPartial {
		t.Errorf("datagram record %q flags %d, want the first 100 bytes flagged partial", r.Body, r.Flags)
	}
	for k, base := range []int{1, 4} {
		var joined []byte
		for i := base; i < base+3; i++ {
			joined = append(joined, recs[i].Body...)
			if partial := recs[i].Flags == collectors.FlagPartial; partial != (i < base+2) || len(recs[i].Body) > 100 {
				t.Errorf("TCP message %d piece %d: %d bytes, flags %d", k, i-base, len(recs[i].Body), recs[i].Flags)
			}
		}
		if string(joined) != long {
			t.Errorf("TCP message %d pieces join to %q", k, joined)
		}
	}
}

func TestUnixSocketSetup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	// A stale socket (its listener gone) is replaced.
	old, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	c, err := New(Config{Unix: []string{sock}})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o666 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v (%v), want socket 0666", fi.Mode(), err)
	}
	// A live one is not taken over.
	if _, err := New(Config{Unix: []string{sock}}); err == nil {
		t.Error("New took over a socket in use")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.Run(ctx, newFake())
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind after Run: %v", err)
	}
	// Not a socket: never removed.
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("x"), 0o644)
	if _, err := New(Config{Unix: []string{plain}}); err == nil {
		t.Error("New replaced a regular file")
	}
	if _, err := New(Config{UDP: []string{"nonsense"}}); err == nil {
		t.Error("New accepted a UDP address without a port")
	}
	if _, err := New(Config{MaxMessageBytes: -1}); err == nil {
		t.Error("New accepted a negative MaxMessageBytes")
	}
}

func TestSplitStream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"a\nb\n", []string{"a", "b"}},
		{"5 <1>ab3 xyz", []string{"<1>ab", "xyz"}},
		{"<1>x\n4 a\nbc<2>y", []string{"<1>x", "a\nbc", "<2>y"}},
		{"\n\n<1>x\n", []string{"<1>x"}},
		{"12x\n", []string{"12x"}}, // digits without a space: a line
		{"0 a\n", []string{"0 a"}}, // no zero length
		{"9 short", nil},           // the connection ended inside a counted message
		{"<1>no newline", []string{"<1>no newline"}},
	} {
		var got []string
		err := splitStream(newReader(tc.in), 1000, &msgBuf{}, func(m []byte, partial bool) error {
			got = append(got, string(m))
			return nil
		})
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: got %q (err %v), want %q", tc.in, got, err, tc.want)
		}
	}
}

// FuzzSplitStream: any byte stream splits without panic into messages no
// longer than the maximum, and newline-framed input without digits at line
// starts comes back whole.
func FuzzSplitStream(f *testing.F) {
	f.Add([]byte("5 <1>ab3 xyz"), 4)
	f.Add([]byte("<1>x\n4 a\nbc<2>y"), 100)
	f.Add([]byte("99999999 x"), 10)
	f.Fuzz(func(t *testing.T, b []byte, maxMsg int) {
		if maxMsg < 1 || maxMsg > 1<<16 {
			return
		}
		var joined []byte
		splitStream(bufio.NewReaderSize(bytes.NewReader(b), 16), maxMsg, &msgBuf{}, func(m []byte, partial bool) error {
			if len(m) > maxMsg {
				t.Fatalf("message of %d bytes, max %d", len(m), maxMsg)
			}
			joined = append(joined, m...)
			return nil
		})
		if !bytes.ContainsAny(b, "0123456789") {
			if want := bytes.ReplaceAll(b, []byte("\n"), nil); !bytes.Equal(joined, want) {
				t.Fatalf("newline-framed %q came back as %q", b, joined)
			}
		}
	})
}
