package syslog

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/transport/tlsconf"
)

// routes is a relay's appliance table for tests, changeable while running.
type routes struct {
	mu sync.Mutex
	m  map[netip.Addr]collectors.Emitter
}

func (r *routes) route(a netip.Addr) (collectors.Emitter, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	em, ok := r.m[a]
	return em, ok
}

func (r *routes) remove(a string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, netip.MustParseAddr(a))
}

// dialFrom connects to addr on network from local address src.
func dialFrom(t *testing.T, network, src, addr string) net.Conn {
	t.Helper()
	var la net.Addr
	if network == "udp" {
		la = &net.UDPAddr{IP: net.ParseIP(src)}
	} else {
		la = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := (&net.Dialer{LocalAddr: la}).Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bodies(e *fakeEmitter) []string {
	var out []string
	for _, r := range e.snapshot() {
		if r.Kind == collectors.KindLog {
			out = append(out, string(r.Body))
		}
	}
	return out
}

// TestRelayRoutes: in relay mode each message, over UDP, TCP and TLS,
// goes to the emitter of the appliance whose address sent it; a sender
// that is no appliance is dropped and counted (heartbeat figure and an
// agent_status record), never attributed; an appliance removed stops
// being attributed at once, its open connection closed.
func TestRelayRoutes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := tlsconf.DevCerts(dir, []string{"fw1"}); err != nil {
		t.Fatal(err)
	}
	srvCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "ingest.pem"), filepath.Join(dir, "ingest-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	fw1, fw2 := newFake(), newFake()
	rt := &routes{m: map[netip.Addr]collectors.Emitter{
		netip.MustParseAddr("127.0.0.2"): fw1,
		netip.MustParseAddr("127.0.0.3"): fw2,
	}}
	c, relayOut := runCollector(t, Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, TLS: []string{"127.0.0.1:0"},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{srvCert}, MinVersion: tls.VersionTLS12},
		Route:     rt.route, ReportEvery: 20e6})
	if got := strings.Join(c.Sources(), " "); !strings.Contains(got, "relay:udp:") || !strings.Contains(got, "relay:tls:") {
		t.Errorf("sources %q: want relay:udp:, relay:tcp:, relay:tls:", got)
	}
	addrs := c.Addrs()
	udp, tcp, tlsAddr := addrs[0].String(), addrs[1].String(), addrs[2].String()

	dialFrom(t, "udp", "127.0.0.2", udp).Write([]byte("<34>Oct 11 22:14:15 fw1 sshd[1]: udp from fw1"))
	dialFrom(t, "udp", "127.0.0.3", udp).Write([]byte("<34>1 2026-10-11T22:14:15Z fw2 sshd 1 - - udp from fw2"))
	dialFrom(t, "udp", "127.0.0.4", udp).Write([]byte("<34>Oct 11 22:14:15 evil sshd[1]: forged"))
	tc := dialFrom(t, "tcp", "127.0.0.2", tcp)
	fmt.Fprintf(tc, "tcp newline from fw1\n")
	msg := "<34>1 2026-10-11T22:14:15Z fw2 app - - - tls octets from fw2"
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("ca.pem: %v", err)
	}
	tlc := tls.Client(dialFrom(t, "tcp", "127.0.0.3", tlsAddr), &tls.Config{ServerName: "localhost", RootCAs: pool})
	fmt.Fprintf(tlc, "%d %s", len(msg), msg)
	unk := dialFrom(t, "tcp", "127.0.0.4", tcp)
	fmt.Fprintf(unk, "tcp from nobody\n")

	waitFor(t, "fw1's and fw2's messages", func() bool { return len(bodies(fw1)) == 2 && len(bodies(fw2)) == 2 })
	waitFor(t, "the unknown senders counted", func() bool { return c.unknown.Load() == 2 })
	for _, b := range bodies(fw1) {
		if !strings.Contains(b, "fw1") {
			t.Errorf("fw1 got %q", b)
		}
	}
	for _, b := range bodies(fw2) {
		if !strings.Contains(b, "fw2") {
			t.Errorf("fw2 got %q", b)
		}
	}
	if got := bodies(fw2)[1]; got != msg && bodies(fw2)[0] != msg {
		t.Errorf("the octet-counted TLS message is not byte-exact: %q", bodies(fw2))
	}
	waitFor(t, "an agent_status record of the unknown senders", func() bool {
		for _, r := range relayOut.snapshot() {
			if r.Kind == collectors.KindAgentStatus && strings.Contains(string(r.Body), "no configured appliance") {
				return true
			}
		}
		return false
	})
	if n := len(bodies(relayOut)); n != 0 {
		t.Errorf("%d log records attributed to the relay itself: %q", n, bodies(relayOut))
	}
	var hb string
	for _, a := range c.HeartbeatAttrs() {
		if a.Key == "relay_unknown_senders" {
			hb = a.Value
		}
	}
	if hb != "2" {
		t.Errorf("heartbeat relay_unknown_senders = %q, want 2", hb)
	}

	// fw1 removed: its open connection's next message is not attributed.
	rt.remove("127.0.0.2")
	fmt.Fprintf(tc, "after removal\n")
	waitFor(t, "the removed appliance's message counted", func() bool { return c.unknown.Load() == 3 })
	dialFrom(t, "udp", "127.0.0.2", udp).Write([]byte("udp after removal"))
	waitFor(t, "the removed appliance's datagram counted", func() bool { return c.unknown.Load() == 4 })
	if got := bodies(fw1); len(got) != 2 {
		t.Errorf("fw1 after removal: %q", got)
	}
}

// TestApplianceTime: the appliance's own stamp becomes the record time
// (RFC 3339 as given; RFC 3164 in the relay's zone and the nearest year);
// anything else keeps the receive time.
func TestApplianceTime(t *testing.T) {
	t.Parallel()
	recv := time.Date(2027, 1, 1, 0, 0, 30, 0, time.UTC)
	for _, tt := range []struct {
		ts   string
		want time.Time
		ok   bool
	}{
		{"2026-12-31T23:59:59.5+01:00", time.Date(2026, 12, 31, 22, 59, 59, 5e8, time.UTC), true},
		{"Dec 31 23:59:50", time.Date(2026, 12, 31, 23, 59, 50, 0, time.UTC), true}, // last year: nearest
		{"Jan  1 00:00:10", time.Date(2027, 1, 1, 0, 0, 10, 0, time.UTC), true},
		{"Feb 29 12:00:00", time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC), true}, // the only year near with one
		{"", recv, false},
		{"yesterday", recv, false},
		{"Foo 12 10:00:00", recv, false},
	} {
		got, ok := applianceTime(tt.ts, recv)
		if !got.Equal(tt.want) || ok != tt.ok {
			t.Errorf("applianceTime(%q) = %v, %v; want %v, %v", tt.ts, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzApplianceTime(f *testing.F) {
	for _, s := range []string{"2026-12-31T23:59:59.5+01:00", "Dec 31 23:59:50", "Feb 29 12:00:00", "", "Jan  1 00:00:10", "9999-99-99T99:99:99Z"} {
		f.Add(s)
	}
	recv := time.Date(2027, 1, 1, 0, 0, 30, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ts string) {
		got, ok := applianceTime(ts, recv)
		if !ok && !got.Equal(recv) {
			t.Fatalf("%q: not a stamp, yet time %v", ts, got)
		}
		if ok && strings.Contains(ts, " ") && absDur(got.Sub(recv)) > 430*24*time.Hour {
			t.Fatalf("%q: an RFC 3164 stamp read %v from the receive time", ts, got.Sub(recv))
		}
	})
}

// TestRelayBadInput: in relay mode the listeners keep their bounds: a
// 65,507-byte datagram (the most UDP carries) is one record, whole; a
// longer-than-maximum octet count and an unterminated newline frame are
// cut into partial records, never lost or merged with the next sender's;
// invalid UTF-8 is kept byte-exact; a flood of connections from an
// unknown address is closed and counted, and takes no connection slot.
func TestRelayBadInput(t *testing.T) {
	t.Parallel()
	fw1 := newFake()
	rt := &routes{m: map[netip.Addr]collectors.Emitter{netip.MustParseAddr("127.0.0.2"): fw1}}
	c, _ := runCollector(t, Config{UDP: []string{"127.0.0.1:0"}, TCP: []string{"127.0.0.1:0"}, Route: rt.route,
		MaxMessageBytes: 70000, MaxConnections: 4, ReportEvery: 20e6})
	udp, tcp := c.Addrs()[0].String(), c.Addrs()[1].String()

	big := bytes.Repeat([]byte("x"), 65507)
	copy(big, "<13>Oct 11 22:14:15 fw1 big: ")
	dialFrom(t, "udp", "127.0.0.2", udp).Write(big)
	bad := []byte("<13>Oct 11 22:14:15 fw1 app: bad \xff\xfe utf-8")
	dialFrom(t, "udp", "127.0.0.2", udp).Write(bad)

	// A flood from an unknown address: every connection closed and counted.
	for range 20 {
		dialFrom(t, "tcp", "127.0.0.9", tcp)
	}
	waitFor(t, "the flood counted", func() bool { return c.unknown.Load() == 20 })
	if n := c.open.Load(); n != 0 {
		t.Errorf("%d connections held open by unknown senders", n)
	}
	// An octet count past the maximum, then a newline frame without its end.
	tc := dialFrom(t, "tcp", "127.0.0.2", tcp)
	over := strings.Repeat("y", 70010)
	fmt.Fprintf(tc, "%d %s", len(over), over)
	fmt.Fprintf(tc, "<13>Oct 11 22:14:15 fw1 app: unterminated")
	tc.Close()

	waitFor(t, "fw1's records", func() bool { return len(bodies(fw1)) >= 5 })
	got := fw1.snapshot()
	if !bytes.Equal(got[0].Body, big) || got[0].Flags != 0 {
		t.Errorf("the 65,507-byte datagram: %d bytes, flags %d; want whole", len(got[0].Body), got[0].Flags)
	}
	if !bytes.Equal(got[1].Body, bad) {
		t.Errorf("invalid UTF-8 changed: %q", got[1].Body)
	}
	var joined []byte
	for _, r := range got[2:4] {
		joined = append(joined, r.Body...)
	}
	if string(joined) != over || got[2].Flags&collectors.FlagPartial == 0 {
		t.Errorf("the long octet-counted message: %d bytes in %d records (first flags %d); want %d, cut and flagged", len(joined), 2, got[2].Flags, len(over))
	}
	if last := string(got[len(got)-1].Body); last != "<13>Oct 11 22:14:15 fw1 app: unterminated" {
		t.Errorf("the unterminated frame: %q", last)
	}
}
