package clock

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Resolver finds every address of a DNS name and how long the answer may be
// kept.
type Resolver interface {
	// Resolve returns the A and AAAA addresses of name and the smallest TTL
	// of the answer (0: the resolver does not know). A name that does not
	// exist or has no address is an error wrapping ErrNotFound.
	Resolve(ctx context.Context, name string) (addrs []netip.Addr, ttl time.Duration, err error)
}

// ErrNotFound is wrapped by Resolve errors for a name that does not exist or
// has no A/AAAA record.
var ErrNotFound = errors.New("no such host")

// How long a resolved server list is kept: the answer's TTL within these
// bounds, noTTL when the resolver gives none, retryFailed after a failure.
const (
	minTTL      = 30 * time.Second
	maxTTL      = time.Hour
	noTTL       = 5 * time.Minute
	retryFailed = minTTL
)

// keepFor is how long an answer with this TTL is used before asking again.
func keepFor(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return noTTL
	}
	return min(max(ttl, minTTL), maxTTL)
}

// DNSResolver asks DNS servers directly, over UDP and over TCP when the
// answer is truncated, so that it learns the TTL that net.Resolver hides.
type DNSResolver struct {
	Servers []string      // "host:port" of DNS servers, tried in order
	Timeout time.Duration // per query; 0 means 2s
}

// Resolve implements Resolver.
func (r *DNSResolver) Resolve(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	if len(r.Servers) == 0 {
		return nil, 0, errors.New("dns: no server to ask")
	}
	var lastErr error
	for _, srv := range r.Servers {
		addrs, ttl, err := r.resolveAt(ctx, srv, name)
		if err == nil || errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			return addrs, ttl, err // an authoritative answer, good or bad, ends the search
		}
		lastErr = err
	}
	return nil, 0, lastErr
}

func (r *DNSResolver) resolveAt(ctx context.Context, server, name string) ([]netip.Addr, time.Duration, error) {
	var (
		addrs []netip.Addr
		ttl   time.Duration
	)
	for _, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		got, t, err := r.exchange(ctx, server, name, qt)
		if err != nil {
			return nil, 0, err
		}
		if len(got) > 0 && (ttl == 0 || t < ttl) {
			ttl = t
		}
		addrs = append(addrs, got...)
	}
	if len(addrs) == 0 {
		return nil, 0, fmt.Errorf("%s: no A/AAAA record: %w", name, ErrNotFound)
	}
	return addrs, ttl, nil
}

// exchange asks server one question and returns the addresses of that type
// in the answer section (following a CNAME chain is the server's job) and
// the smallest TTL among the answer's records.
func (r *DNSResolver) exchange(ctx context.Context, server, name string, qt dnsmessage.Type) ([]netip.Addr, time.Duration, error) {
	if !strings.HasSuffix(name, ".") {
		name += "." // the configured name is absolute: no search list
	}
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return nil, 0, fmt.Errorf("dns name %q: %w", name, err)
	}
	var idb [2]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, 0, err
	}
	id := binary.BigEndian.Uint16(idb[:])
	q := dnsmessage.Question{Name: qname, Type: qt, Class: dnsmessage.ClassINET}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, 0, err
	}
	if err := b.Question(q); err != nil {
		return nil, 0, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, 0, err
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, 0, err
	}
	if err := b.OPTResource(opt, dnsmessage.OPTResource{}); err != nil {
		return nil, 0, err
	}
	query, err := b.Finish()
	if err != nil {
		return nil, 0, err
	}

	resp, err := r.roundTrip(ctx, "udp", server, query, id, q)
	if err == nil && resp.Header.Truncated {
		resp, err = r.roundTrip(ctx, "tcp", server, query, id, q)
	}
	if err != nil {
		return nil, 0, err
	}
	switch resp.Header.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return nil, 0, fmt.Errorf("%s: %w", strings.TrimSuffix(name, "."), ErrNotFound)
	default:
		return nil, 0, fmt.Errorf("dns %s from %s: %v", strings.TrimSuffix(name, "."), server, resp.Header.RCode)
	}
	var (
		addrs []netip.Addr
		ttl   uint32
		first = true
	)
	for _, a := range resp.Answers {
		if first || a.Header.TTL < ttl {
			ttl, first = a.Header.TTL, false
		}
		switch body := a.Body.(type) {
		case *dnsmessage.AResource:
			if qt == dnsmessage.TypeA {
				addrs = append(addrs, netip.AddrFrom4(body.A))
			}
		case *dnsmessage.AAAAResource:
			if qt == dnsmessage.TypeAAAA {
				addrs = append(addrs, netip.AddrFrom16(body.AAAA))
			}
		}
	}
	return addrs, time.Duration(ttl) * time.Second, nil
}

// roundTrip sends query over network ("udp" or "tcp") and returns the
// parsed answer to it, skipping datagrams that answer something else.
func (r *DNSResolver) roundTrip(ctx context.Context, network, server string, query []byte, id uint16, q dnsmessage.Question) (*dnsmessage.Message, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if network == "tcp" {
		msg := make([]byte, 2+len(query))
		binary.BigEndian.PutUint16(msg, uint16(len(query)))
		copy(msg[2:], query)
		if _, err := conn.Write(msg); err != nil {
			return nil, err
		}
		var lb [2]byte
		if _, err := io.ReadFull(conn, lb[:]); err != nil {
			return nil, err
		}
		buf := make([]byte, binary.BigEndian.Uint16(lb[:]))
		if _, err := io.ReadFull(conn, buf); err != nil {
			return nil, err
		}
		return parseAnswer(buf, id, q)
	}
	if _, err := conn.Write(query); err != nil {
		return nil, err
	}
	buf := make([]byte, 65535)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		if m, err := parseAnswer(buf[:n], id, q); err == nil {
			return m, nil
		}
		// Not our answer (late, spoofed or garbled): keep waiting.
	}
}

func parseAnswer(b []byte, id uint16, q dnsmessage.Question) (*dnsmessage.Message, error) {
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		return nil, err
	}
	if !m.Header.Response || m.Header.ID != id || len(m.Questions) != 1 ||
		m.Questions[0].Type != q.Type || !strings.EqualFold(m.Questions[0].Name.String(), q.Name.String()) {
		return nil, errors.New("dns: answer does not match the question")
	}
	return &m, nil
}

// systemResolver is the default: it asks the nameservers of
// /etc/resolv.conf directly to learn TTLs and, when that fails for any
// other reason than the name not existing, falls back to Go's resolver
// (hosts file, nsswitch) without a TTL.
type systemResolver struct {
	resolvConf string // path; the agent's own, not the host root's: DNS is asked from the agent's network namespace
}

func (s systemResolver) Resolve(ctx context.Context, name string) ([]netip.Addr, time.Duration, error) {
	var dnsErr error
	if servers := nameservers(s.resolvConf); len(servers) > 0 {
		r := DNSResolver{Servers: servers}
		addrs, ttl, err := r.Resolve(ctx, name)
		if err == nil {
			return addrs, ttl, nil
		}
		dnsErr = err
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			err = fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		if dnsErr != nil && errors.Is(dnsErr, ErrNotFound) {
			return nil, 0, dnsErr
		}
		return nil, 0, err
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	return addrs, 0, nil
}

// nameservers reads the nameserver lines of a resolv.conf as "host:53".
func nameservers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(fields[1])
		if err != nil {
			continue
		}
		out = append(out, netip.AddrPortFrom(a, 53).String())
	}
	return out
}
