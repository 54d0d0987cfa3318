package clock

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/ntp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/offbox/offbox/collectors"
)

// --- an in-test NTP server, NTPv4 packets built by hand ---

// fakeNTP answers NTP client packets on a loopback UDP port: the time Offset
// away from the local clock, or a kiss-of-death when Kiss is set.
type fakeNTP struct {
	conn    *net.UDPConn
	offset  time.Duration
	kiss    string // "RATE", "DENY", ...: answer stratum 0 with this code
	queries atomic.Int64

	mu    sync.Mutex
	times []time.Time // when each query arrived
}

func startFakeNTP(t *testing.T, addr string, offset time.Duration, kiss string) *fakeNTP {
	t.Helper()
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNTP{conn: conn, offset: offset, kiss: kiss}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1024)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			recv := time.Now()
			if n < 48 || buf[0]&7 != 3 { // client mode only
				continue
			}
			f.queries.Add(1)
			f.mu.Lock()
			f.times = append(f.times, recv)
			f.mu.Unlock()
			conn.WriteToUDP(f.answer(buf[:48], recv), from)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return f
}

func (f *fakeNTP) addr() string { return f.conn.LocalAddr().String() }

func (f *fakeNTP) arrivals() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.times...)
}

// ntpTime is t as a 64-bit NTP timestamp (seconds since 1900, 32.32).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800
	secs := uint64(t.Unix() + unixToNTP)
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return secs<<32 | frac
}

// answer builds a 48-byte NTPv4 server packet (RFC 5905 figure 8).
func (f *fakeNTP) answer(req []byte, recv time.Time) []byte {
	b := make([]byte, 48)
	const leap, version, serverMode = 0, 4, 4
	b[0] = leap<<6 | version<<3 | serverMode
	b[1] = 2                                                                    // stratum
	b[2] = req[2]                                                               // poll, echoed
	b[3] = 0xec                                                                 // precision 2^-20 s
	binary.BigEndian.PutUint32(b[4:], 0x0000_0010)                              // root delay ~0.24 ms
	binary.BigEndian.PutUint32(b[8:], 0x0000_0010)                              // root dispersion ~0.24 ms
	copy(b[12:16], []byte{127, 0, 0, 1})                                        // refid: its upstream
	binary.BigEndian.PutUint64(b[16:], ntpTime(recv.Add(f.offset-time.Second))) // reference time
	copy(b[24:32], req[40:48])                                                  // origin = the client's transmit timestamp
	binary.BigEndian.PutUint64(b[32:], ntpTime(recv.Add(f.offset)))
	if f.kiss != "" {
		b[1] = 0
		b[0] = 3<<6 | version<<3 | serverMode
		copy(b[12:16], f.kiss)
	}
	binary.BigEndian.PutUint64(b[40:], ntpTime(time.Now().Add(f.offset)))
	return b
}

// --- an in-test DNS server, UDP and TCP ---

// dnsServer answers A and AAAA questions for the names it holds with a TTL,
// NXDOMAIN for others. Answers with more than udpMax records are truncated
// over UDP, so the client must come back over TCP.
type dnsServer struct {
	udp     *net.UDPConn
	tcp     *net.TCPListener
	udpMax  int
	queries atomic.Int64

	mu    sync.Mutex
	names map[string][]netip.Addr // absolute, lower case
	ttl   uint32
}

func startDNS(t *testing.T, ttl time.Duration) *dnsServer {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := udp.LocalAddr().(*net.UDPAddr).Port
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		udp.Close()
		t.Fatal(err)
	}
	d := &dnsServer{udp: udp, tcp: tcp, udpMax: 8, names: map[string][]netip.Addr{}, ttl: uint32(ttl / time.Second)}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if resp := d.answer(buf[:n], true); resp != nil {
				udp.WriteToUDP(resp, from)
			}
		}
	})
	wg.Go(func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var lb [2]byte
				if _, err := io.ReadFull(c, lb[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(lb[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				resp := d.answer(q, false)
				out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
				c.Write(append(out, resp...))
			})
		}
	})
	t.Cleanup(func() { udp.Close(); tcp.Close(); wg.Wait() })
	return d
}

func (d *dnsServer) addr() string { return d.udp.LocalAddr().String() }

func (d *dnsServer) set(name string, addrs ...netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.names[strings.ToLower(name)+"."] = addrs
}

func (d *dnsServer) answer(q []byte, overUDP bool) []byte {
	var m dnsmessage.Message
	if err := m.Unpack(q); err != nil || len(m.Questions) != 1 {
		return nil
	}
	d.queries.Add(1)
	qq := m.Questions[0]
	d.mu.Lock()
	addrs, ok := d.names[strings.ToLower(qq.Name.String())]
	ttl := d.ttl
	d.mu.Unlock()
	h := dnsmessage.Header{ID: m.Header.ID, Response: true, Authoritative: true, RecursionDesired: m.Header.RecursionDesired}
	if !ok {
		h.RCode = dnsmessage.RCodeNameError
	}
	var answers []dnsmessage.Resource
	for _, a := range addrs {
		rh := dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: ttl}
		switch {
		case a.Is4() && qq.Type == dnsmessage.TypeA:
			answers = append(answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AResource{A: a.As4()}})
		case a.Is6() && qq.Type == dnsmessage.TypeAAAA:
			answers = append(answers, dnsmessage.Resource{Header: rh, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
		}
	}
	if overUDP && len(answers) > d.udpMax {
		h.Truncated = true
		answers = answers[:d.udpMax]
	}
	resp := dnsmessage.Message{Header: h, Questions: m.Questions, Answers: answers}
	b, err := resp.Pack()
	if err != nil {
		return nil
	}
	return b
}

// --- fakes for unit tests without a network ---

type ntpResponse = ntp.Response

// fakeMono is a monotonic clock the test moves.
type fakeMono struct {
	mu sync.Mutex
	d  time.Duration
}

func (m *fakeMono) now() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.d
}

func (m *fakeMono) add(d time.Duration) {
	m.mu.Lock()
	m.d += d
	m.mu.Unlock()
}

// fakeServers answers queries from a per-address script and counts them.
type fakeServers struct {
	mu     sync.Mutex
	script map[string]func(n int) (*ntp.Response, error) // n counts from 0 per address
	counts map[string]int
}

func newFakeServers() *fakeServers {
	return &fakeServers{script: map[string]func(int) (*ntp.Response, error){}, counts: map[string]int{}}
}

func (f *fakeServers) set(addr string, fn func(n int) (*ntp.Response, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[addr] = fn
}

func (f *fakeServers) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts[addr]
}

func (f *fakeServers) query(ctx context.Context, addr string, _ time.Duration) (*ntp.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.mu.Lock()
	fn := f.script[addr]
	n := f.counts[addr]
	f.counts[addr]++
	f.mu.Unlock()
	if fn == nil {
		return nil, errors.New("read udp " + addr + ": i/o timeout")
	}
	return fn(n)
}

// good answers with a fixed offset and round trip.
func good(offset, rtt time.Duration) func(int) (*ntp.Response, error) {
	return func(int) (*ntp.Response, error) {
		return &ntp.Response{Version: 4, Stratum: 2, ClockOffset: offset, RTT: rtt, ReferenceID: 0x7f000001}, nil
	}
}

func kiss(code string) func(int) (*ntp.Response, error) {
	return func(int) (*ntp.Response, error) {
		return &ntp.Response{Version: 4, Stratum: 0, KissCode: code}, nil
	}
}

func down() func(int) (*ntp.Response, error) {
	return func(int) (*ntp.Response, error) { return nil, errors.New("i/o timeout") }
}

// staticResolver answers from fixed values and counts calls.
type staticResolver struct {
	mu    sync.Mutex
	addrs []netip.Addr
	ttl   time.Duration
	err   error
	calls int
}

func (r *staticResolver) Resolve(context.Context, string) ([]netip.Addr, time.Duration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return r.addrs, r.ttl, r.err
}

// newTestCollector builds a collector whose network, monotonic clock and
// kernel are fakes.
func newTestCollector(t *testing.T, cfg Config, fs *fakeServers, mono *fakeMono) *Collector {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Now == nil { // a wall clock in step with the fake monotonic one
		base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		c.now = func() time.Time { return base.Add(mono.now()) }
	}
	c.pc.query = fs.query
	c.pc.mono = mono.now
	c.pc.spacing = 0
	c.kernel = func() Kernel { return Kernel{Synced: true, State: "ok"} }
	return c
}

// emitter collects records.
type emitter struct {
	mu   sync.Mutex
	recs []collectors.Record
	ch   chan collectors.Record
}

func newEmitter() *emitter { return &emitter{ch: make(chan collectors.Record, 1024)} }

func (e *emitter) Emit(ctx context.Context, r collectors.Record) error {
	r.Body = append([]byte(nil), r.Body...)
	e.mu.Lock()
	e.recs = append(e.recs, r)
	e.mu.Unlock()
	select {
	case e.ch <- r:
	default:
	}
	return ctx.Err()
}

func (e *emitter) TryEmit(r collectors.Record) bool { return e.Emit(context.Background(), r) == nil }

func (e *emitter) records() []collectors.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]collectors.Record(nil), e.recs...)
}

func attr(r collectors.Record, key string) (string, bool) {
	for _, a := range r.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func serverByAddr(s Summary, addr string) (ServerStatus, bool) {
	for _, sv := range s.Servers {
		if sv.Address == addr {
			return sv, true
		}
	}
	return ServerStatus{}, false
}
