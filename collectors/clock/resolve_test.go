package clock

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestDNSResolver(t *testing.T) {
	t.Parallel()
	dns := startDNS(t, 300*time.Second)
	three := []netip.Addr{netip.MustParseAddr("127.0.0.21"), netip.MustParseAddr("127.0.0.22"), netip.MustParseAddr("127.0.0.23")}
	dns.set("ntp.test", three...)
	dns.set("v6.test", netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1"))
	var many []netip.Addr
	for i := range 20 {
		many = append(many, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
	}
	dns.set("many.test", many...)
	dns.set("empty.test")

	// A closed port first: the resolver goes on to the next server.
	closed, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	closed.Close()
	r := &DNSResolver{Servers: []string{closedAddr, dns.addr()}, Timeout: time.Second}

	tests := []struct {
		name     string
		want     []netip.Addr
		wantTTL  time.Duration
		notFound bool
	}{
		{name: "ntp.test", want: three, wantTTL: 300 * time.Second},
		{name: "NTP.test.", want: three, wantTTL: 300 * time.Second},
		{name: "v6.test", want: []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}, wantTTL: 300 * time.Second},
		{name: "many.test", want: many, wantTTL: 300 * time.Second}, // truncated over UDP: TCP
		{name: "nothere.test", notFound: true},
		{name: "empty.test", notFound: true},
	}
	for _, tc := range tests {
		got, ttl, err := r.Resolve(t.Context(), tc.name)
		if tc.notFound {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: got %v, %v; want ErrNotFound", tc.name, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(got, tc.want) || ttl != tc.wantTTL {
			t.Errorf("%s: got %v ttl %v, want %v ttl %v", tc.name, got, ttl, tc.want, tc.wantTTL)
		}
	}

	// No DNS server answering at all: an error, not ErrNotFound.
	r = &DNSResolver{Servers: []string{closedAddr}, Timeout: 200 * time.Millisecond}
	if _, _, err := r.Resolve(t.Context(), "ntp.test"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("no server: got %v, want a network error", err)
	}
}

func TestNameservers(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# generated\nsearch example.org\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\nnameserver 2001:db8::53\n"
	if err := os.WriteFile(p, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.53:53", "[fe80::1%eth0]:53", "[2001:db8::53]:53"}
	if got := nameservers(p); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := nameservers(filepath.Join(t.TempDir(), "none")); got != nil {
		t.Errorf("missing file: got %v", got)
	}
}

// Without nameservers the system resolver falls back to Go's (hosts file)
// and reports no TTL.
func TestSystemResolverFallback(t *testing.T) {
	t.Parallel()
	r := systemResolver{resolvConf: filepath.Join(t.TempDir(), "none")}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	addrs, ttl, err := r.Resolve(ctx, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if ttl != 0 || !slices.ContainsFunc(addrs, netip.Addr.IsLoopback) {
		t.Errorf("localhost: got %v ttl %v", addrs, ttl)
	}
}
