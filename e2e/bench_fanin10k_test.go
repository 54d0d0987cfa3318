package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/offbox/offbox/ingest/server"
	"github.com/offbox/offbox/transport/codec"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// BenchmarkFanIn10k is issue 19's fleet fan-in: one real offbox-ingest
// against 10,000 simulated agents in this process, each with its own
// Ed25519 client certificate (the agent's default key type), its own
// mutual-TLS connection and gRPC stream, and the agent's traffic at one log
// line a second: at that rate the agent seals each line alone (its idle
// batch delay is 10 ms), so every agent sends one one-line batch a second,
// and a heartbeat batch every 15 s (the default, half a second off the
// lines) with the attributes a real heartbeat carries, and pings every 10 s
// as the agent's transport does. Like the agent, each keeps at most four
// batches unacknowledged; records made while the window is full go out
// together in the next batch, and an ack's latency is counted from its
// batch's oldest record. Connections are spread over 20 s; the
// measured window is the 120 s after the last one. It reports agents
// connected, batches and heartbeats sent and acknowledged as stored, ack
// latency p50/p99/max (every batch), heartbeat_missing alerts, the
// collector's CPU over the window (CPU-s and cores) and peak RSS, memory
// per connection ((RSS with every agent connected - RSS idle) / agents),
// and the simulator's own CPU. The certificates are cached under
// $OFFBOX_BENCH_CACHE (default: the user cache dir) across runs.
func BenchmarkFanIn10k(b *testing.B) {
	const (
		line      = time.Second
		heartbeat = 15 * time.Second
	)
	// The target's load; OFFBOX_FANIN_AGENTS and OFFBOX_FANIN_WINDOW (Go
	// durations) shrink it for a quick look, never in make bench;
	// OFFBOX_FANIN_PPROF=127.0.0.1:PORT serves the collector's profiles;
	// OFFBOX_FANIN_INGEST_GOMEMLIMIT=900MiB runs it with that GOMEMLIMIT.
	agents, window, spread := 10_000, 120*time.Second, 20*time.Second
	if v, err := strconv.Atoi(os.Getenv("OFFBOX_FANIN_AGENTS")); err == nil && v > 0 {
		agents, spread = v, spread*time.Duration(v)/10_000
	}
	if v, err := time.ParseDuration(os.Getenv("OFFBOX_FANIN_WINDOW")); err == nil && v > 0 {
		window = v
	}
	raiseNoFile(b, uint64(agents+4096)) // per process: the collector and the simulator each hold one socket per agent
	dir, ca, certs := fanInCachedPKI(b, agents)
	roots := x509.NewCertPool()
	roots.AddCert(ca)

	for i := 0; i < b.N; i++ {
		db := filepath.Join(b.TempDir(), "store.db")
		var extra []string
		if a := os.Getenv("OFFBOX_FANIN_PPROF"); a != "" { // profile the collector: -pprof ADDR
			extra = []string{"-pprof", a}
		}
		// OFFBOX_FANIN_INGEST_GOMEMLIMIT gives the collector (only: this
		// process's runtime read its own at start) a soft memory limit.
		if v := os.Getenv("OFFBOX_FANIN_INGEST_GOMEMLIMIT"); v != "" {
			b.Setenv("GOMEMLIMIT", v)
		}
		in := startIngest(b, pki(dir), db, "127.0.0.1:0", extra...)
		time.Sleep(time.Second)
		idle := procStatus(b, in.pid(), "VmRSS")
		sim := &fanInSim{addr: in.addr, roots: roots, line: line, heartbeat: heartbeat}
		r := sim.run(b, in.pid(), certs, spread, window)
		peak := float64(procStatus(b, in.pid(), "VmHWM")) / 1024
		in.stop()
		missed := 0
		for _, a := range storedAlerts(b, db, "-kind", "heartbeat_missing") {
			if a.First.Before(r.stopAt) {
				missed++
			}
		}

		perConn := 0.0
		if r.conns > 0 {
			perConn = float64(r.full-idle) / float64(r.conns) // KiB
		}
		b.ReportMetric(float64(r.conns), "agents")
		b.ReportMetric(float64(r.hbSent-r.hbAcked), "heartbeats-unacked")
		b.ReportMetric(r.p99, "ack-p99-ms")
		b.ReportMetric(float64(missed), "heartbeat-missing-alerts")
		b.ReportMetric(r.cores(), "ingest-cores")
		b.ReportMetric(r.cpu, "ingest-CPU-s")
		b.ReportMetric(peak, "ingest-peak-rss-MiB")
		b.ReportMetric(perConn, "KiB/conn")
		b.ReportMetric(r.self, "simulator-CPU-s")
		fmt.Printf("fan-in 10k: %d/%d agents connected (own Ed25519 certificates, real TLS and gRPC) in %.1fs (collector %.1f CPU-s for the ramp), %d agents failed (handshake or stream; not retried); "+
			"in the %.0fs window: %d batches sent, %d acked as stored (%d other acks), heartbeats %d sent, %d acked; ack latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; "+
			"heartbeat_missing alerts: %d; collector %.1f CPU-s = %.2f cores, peak RSS %.1f MiB (idle %.1f MiB, %.1f MiB with every agent connected: %.1f KiB per connection); simulator %.1f CPU-s = %.2f cores\n",
			r.conns, agents, r.ramp.Seconds(), r.rampCPU, r.failed,
			r.elapsed.Seconds(), r.sent, r.acked, r.other, r.hbSent, r.hbAcked, r.p50, r.p99, r.max,
			missed, r.cpu, r.cores(), peak, float64(idle)/1024, float64(r.full)/1024, perConn, r.self, r.self/r.elapsed.Seconds())
		if err := sim.firstErr; err != nil {
			fmt.Printf("fan-in 10k: first agent error: %v\n", err)
		}
	}
	b.ReportMetric(0, "ns/op")
}

// fanInSim is the simulated fleet: what every agent counts, while measure
// is set (the window), and the first error any agent met.
type fanInSim struct {
	addr            string
	roots           *x509.CertPool
	line, heartbeat time.Duration
	measure         atomic.Bool

	connected, failed                   atomic.Int64
	sent, acked, other, hbSent, hbAcked atomic.Int64
	mu                                  sync.Mutex
	lat                                 []time.Duration
	firstErr                            error
}

func (s *fanInSim) fail(err error) {
	s.failed.Add(1)
	s.mu.Lock()
	if s.firstErr == nil {
		s.firstErr = err
	}
	s.mu.Unlock()
}

// fanInResult is what one run of the simulated fleet measured: the ramp,
// then the window's counts, ack latencies (ms), the collector's CPU and
// RSS half-way through (KiB), and the simulator's own CPU.
type fanInResult struct {
	conns, failed                       int64
	ramp                                time.Duration
	rampCPU                             float64
	elapsed                             time.Duration
	sent, acked, other, hbSent, hbAcked int64
	p50, p99, max                       float64
	cpu, self                           float64
	full                                int64
	stopAt                              time.Time
}

func (r *fanInResult) cores() float64 { return r.cpu / r.elapsed.Seconds() }

// run connects one agent per certificate to the collector (process pid)
// spread over spread, waits for every one (or 30 s more), measures the
// window, lets the last batches' acks arrive, and stops every agent.
func (s *fanInSim) run(b testing.TB, pid int, certs []fanInCert, spread, window time.Duration) *fanInResult {
	b.Helper()
	agents := len(certs)
	ctx, cancel := context.WithCancel(context.Background())
	t0, cpuT0 := time.Now(), cpuSeconds(b, pid)
	var wg sync.WaitGroup
	for a := range certs {
		wg.Add(1)
		go func(a int) {
			defer wg.Done()
			select {
			case <-time.After(spread * time.Duration(a) / time.Duration(agents)):
			case <-ctx.Done():
				return
			}
			s.agent(ctx, &certs[a])
		}(a)
	}
	// The window starts once the ramp is over and every agent that
	// will connect has (or 30 s after the ramp at most).
	waitUntil := t0.Add(spread + 30*time.Second)
	time.Sleep(spread)
	for s.connected.Load()+s.failed.Load() < int64(agents) && time.Now().Before(waitUntil) {
		time.Sleep(100 * time.Millisecond)
	}
	r := &fanInResult{ramp: time.Since(t0)}
	cpu0, self0, w0 := cpuSeconds(b, pid), cpuSeconds(b, os.Getpid()), time.Now()
	r.rampCPU = cpu0 - cpuT0
	s.measure.Store(true)
	time.Sleep(window / 2)
	r.full = procStatus(b, pid, "VmRSS")
	time.Sleep(window - time.Since(w0))
	s.measure.Store(false)
	r.elapsed = time.Since(w0)
	r.cpu = cpuSeconds(b, pid) - cpu0
	r.self = cpuSeconds(b, os.Getpid()) - self0
	r.stopAt = time.Now()
	// The last batches' acks, then every agent stops.
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()

	s.mu.Lock()
	lat := s.lat
	s.mu.Unlock()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	if len(lat) > 0 {
		r.p50, r.p99, r.max = ms(lat[len(lat)/2]), ms(lat[min(len(lat)-1, len(lat)*99/100)]), ms(lat[len(lat)-1])
	}
	r.conns, r.failed = s.connected.Load(), s.failed.Load()
	r.sent, r.acked, r.other = s.sent.Load(), s.acked.Load(), s.other.Load()
	r.hbSent, r.hbAcked = s.hbSent.Load(), s.hbAcked.Load()
	return r
}

// fanInHandshakes holds a place for each simulated agent connecting:
// they all come from 127.0.0.1, and the collector resets a connection
// past server.DefaultHandshakesPerAddress from one address that has not
// finished its handshake (a real agent would retry; these do not).
var fanInHandshakes = make(chan struct{}, server.DefaultHandshakesPerAddress)

// fanInConnect connects conn holding one of fanInHandshakes until the
// connection is ready, that is, until the collector's HTTP/2 settings have
// arrived, which it sends after its end of the TLS handshake: so no more
// than cap(fanInHandshakes) of the simulator's connections are ever in
// the collector's handshake at once. A connection that failed, or ctx
// ending, is left to the stream to report.
func fanInConnect(ctx context.Context, conn *grpc.ClientConn) {
	select {
	case fanInHandshakes <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-fanInHandshakes }()
	conn.Connect()
	for st := conn.GetState(); st != connectivity.Ready && st != connectivity.TransientFailure; st = conn.GetState() {
		if !conn.WaitForStateChange(ctx, st) {
			return
		}
	}
}

// fanInLines are the log lines the agents send in turn: routine ones,
// which the collector stores and parses but which raise no alert.
var fanInLines = []string{
	"<78>CRON[%d]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
	"<30>systemd[1]: Started session-%d.scope - Session %[1]d of User deploy.",
	"<86>sshd[%d]: pam_unix(sshd:session): session closed for user deploy",
	"<6>kernel: [%d.000000] nf_conntrack: table full, dropping packet",
	"<30>systemd-timesyncd[%d]: Initial synchronization to time server 10.0.0.1:123 (ntp.example).",
}

// agent is one simulated agent until ctx ends: connect, Hello, adopt the
// Welcome's head, then a one-line batch every line interval and a
// heartbeat batch every heartbeat interval, each sealed and chained as the
// agent does, with a reader timing the acks.
func (s *fanInSim) agent(ctx context.Context, c *fanInCert) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: "localhost", RootCAs: s.roots, Certificates: []tls.Certificate{c.cert}}
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec.New())),
		// The simulator's own buffers are kept small so that 10,000
		// agents fit in one process; the collector's are what is measured.
		grpc.WithReadBufferSize(4<<10), grpc.WithWriteBufferSize(4<<10), grpc.WithDisableServiceConfig())
	if err != nil {
		s.fail(err)
		return
	}
	defer conn.Close()
	fanInConnect(ctx, conn)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := offboxv1grpc.NewIngestClient(conn).Stream(sctx)
	if err != nil {
		s.fail(fmt.Errorf("%s: stream: %w", c.name, err))
		return
	}
	keyID, err := seal.KeyID(c.key.Public())
	if err != nil {
		s.fail(err)
		return
	}
	boot, session := "boot-"+c.name, []byte("session-"+c.name)
	if err := stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{
		AgentVersion: "fan-in", BootId: boot, SessionId: session, DeviceId: c.name, KeyId: keyID}}}); err != nil {
		s.fail(fmt.Errorf("%s: hello: %w", c.name, err))
		return
	}
	m, err := stream.Recv()
	if err != nil || m.GetWelcome() == nil {
		s.fail(fmt.Errorf("%s: welcome: %v %w", c.name, m, err))
		return
	}
	s.connected.Add(1)
	base, prev := m.GetWelcome().GetHead().GetSeq(), m.GetWelcome().GetHead().GetHash()

	// In flight: seq -> (its oldest record's time, heartbeats in it,
	// counted?), read by the reader. Like the agent, at most fanInWindow
	// batches are in flight; records made meanwhile wait and go out
	// together in the next batch (agent.DefaultWindow: a collector that
	// falls behind gets fewer, larger batches, not a growing backlog).
	type sentBatch struct {
		at    time.Time
		hbs   int64
		count bool
	}
	var mu sync.Mutex
	inflight := make(map[uint64]sentBatch)
	acked := make(chan struct{}, 1) // a batch left the window
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := stream.Recv()
			if err != nil {
				if sctx.Err() == nil {
					s.fail(fmt.Errorf("%s: recv: %w", c.name, err))
				}
				return
			}
			now := time.Now()
			a := m.GetAck()
			if a == nil {
				continue
			}
			mu.Lock()
			sb, ok := inflight[a.GetSeq()]
			delete(inflight, a.GetSeq())
			mu.Unlock()
			select {
			case acked <- struct{}{}:
			default:
			}
			if !ok || !sb.count {
				continue
			}
			if a.GetStatus() != offboxv1.Ack_STATUS_STORED {
				s.other.Add(1)
				continue
			}
			s.acked.Add(1)
			s.hbAcked.Add(sb.hbs)
			d := now.Sub(sb.at)
			s.mu.Lock()
			s.lat = append(s.lat, d)
			s.mu.Unlock()
		}
	}()

	start := time.Now()
	seq := base
	var body []byte
	type pendingRecord struct {
		rec seal.WireRecord
		at  time.Time
		hb  bool
	}
	var pending []pendingRecord
	// flush seals what is pending into one batch if the window has room.
	flush := func() error {
		mu.Lock()
		room := len(inflight) < fanInWindow
		mu.Unlock()
		if len(pending) == 0 || !room {
			return nil
		}
		now := time.Now()
		body = body[:0]
		var hbs int64
		for i := range pending {
			body = seal.AppendRecord(body, &pending[i].rec)
			if pending[i].hb {
				hbs++
			}
		}
		seq++
		sb, err := seal.Seal(c.key, &seal.Header{DeviceID: c.name, KeyID: keyID, BootID: boot, SessionID: session,
			Seq: seq, PrevHash: prev, RecordCount: uint32(len(pending)), SealedNs: now.UnixNano(), AgentVersion: "fan-in"}, body)
		if err != nil {
			return err
		}
		prev = sb.Digest[:]
		count := s.measure.Load()
		mu.Lock()
		inflight[seq] = sentBatch{at: pending[0].at, hbs: hbs, count: count}
		mu.Unlock()
		pending = pending[:0]
		if err := stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: sb.Bytes, Signature: sb.Sig}}}); err != nil {
			return fmt.Errorf("send seq %d: %w", seq, err)
		}
		if count {
			s.sent.Add(1)
			s.hbSent.Add(hbs)
		}
		return nil
	}
	// flushed flushes; on an error it reports it (unless the run is
	// ending), ends the connection and says false.
	flushed := func() bool {
		err := flush()
		if err == nil {
			return true
		}
		if sctx.Err() == nil && !errors.Is(err, context.Canceled) {
			s.fail(fmt.Errorf("%s: %w", c.name, err))
		}
		cancel()
		<-done
		return false
	}
	nextLine, nextBeat := start.Add(s.line), start.Add(s.line/2)
	for k := 0; ; k++ {
		at, hb := nextLine, false
		if nextBeat.Before(nextLine) {
			at, hb = nextBeat, true
		}
		timer := time.NewTimer(time.Until(at))
		select {
		case <-timer.C:
		case <-acked:
			timer.Stop()
			if !flushed() {
				return
			}
			k--
			continue
		case <-sctx.Done():
			timer.Stop()
			<-done
			return
		}
		now := time.Now()
		if hb {
			nextBeat = nextBeat.Add(s.heartbeat)
			pending = append(pending, pendingRecord{fanInHeartbeat(c.name, time.Since(start), s.heartbeat, seq-base), now, true})
		} else {
			nextLine = nextLine.Add(s.line)
			pending = append(pending, pendingRecord{seal.WireRecord{Kind: uint32(offboxv1.Kind_KIND_LOG), Source: "syslog",
				Body: fmt.Appendf(nil, fanInLines[k%len(fanInLines)], 1000+k%30000)}, now, false})
		}
		pending[len(pending)-1].rec.TimeNs = now.UnixNano()
		if !flushed() {
			return
		}
	}
}

// fanInWindow is the agent's batches in flight (agent.DefaultWindow).
const fanInWindow = 4

// fanInHeartbeat is a heartbeat record with the attributes the agent's
// carries (agent/heartbeat.go), so the collector does the same work on it.
func fanInHeartbeat(name string, up, every time.Duration, batches uint64) seal.WireRecord {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return seal.WireRecord{Kind: uint32(offboxv1.Kind_KIND_HEARTBEAT), Source: "agent", Attrs: []seal.WireAttr{
		{Key: "agent_uptime_s", Value: u(uint64(up / time.Second))},
		{Key: "boot_id", Value: "boot-" + name},
		{Key: "agent_version", Value: "fan-in"},
		{Key: "config_hash", Value: "0f3c9a"},
		{Key: "heartbeat_interval", Value: every.String()},
		{Key: "queue_bytes", Value: "0"},
		{Key: "sent_records", Value: u(batches)},
		{Key: "sent_batches", Value: u(batches)},
		{Key: "dropped_records", Value: "0"},
		{Key: "dropped_bytes", Value: "0"},
		{Key: "throttle_events", Value: "0"},
		{Key: "host_uptime_s", Value: u(uint64(up/time.Second) + 86400)},
		{Key: "load1", Value: "0.12"},
		{Key: "mem_available_kb", Value: "812344"},
		{Key: "agent_rss_kb", Value: "14200"},
		{Key: "agent_cpu_s", Value: "1.25"},
	}}
}

// fanInCachedPKI returns a directory laid out as newPKI's (ca.pem,
// ingest.pem, ingest-key.pem) and n client certificates, made once and
// cached across runs under $OFFBOX_BENCH_CACHE or the user cache dir
// (Ed25519: making 10,000 takes about a second; the cache keeps even that
// and the keys' randomness out of repeated runs). A cache older than half
// its certificates' 30 days is made again.
func fanInCachedPKI(b testing.TB, n int) (string, *x509.Certificate, []fanInCert) {
	b.Helper()
	root := os.Getenv("OFFBOX_BENCH_CACHE")
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			c = os.TempDir()
		}
		root = filepath.Join(c, "offbox-bench")
	}
	dir := filepath.Join(root, "fanin-"+strconv.Itoa(n))
	if ca, certs, err := loadFanInPKI(dir, n); err == nil {
		return dir, ca, certs
	} else {
		b.Logf("fan-in certificates: making %d under %s (%v)", n, dir, err)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		b.Fatal(err)
	}
	ca, err := tlsconf.NewCA("offbox fan-in CA", 30*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := tlsconf.WriteKeyPair(tmp, "ca", ca.Cert, ca.Key); err != nil {
		b.Fatal(err)
	}
	sk, err := tlsconf.GenerateKey(tlsconf.Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := ca.Issue("localhost", sk.Public(), []string{"127.0.0.1", "localhost"}, false, 30*24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := tlsconf.WriteKeyPair(tmp, "ingest", sc, sk); err != nil {
		b.Fatal(err)
	}
	// clients.bin: per client, the 32-byte Ed25519 seed, the certificate's
	// DER length (4 bytes, big endian) and the DER.
	var out []byte
	for i := range n {
		pub, key, err := ed25519.GenerateKey(nil)
		if err != nil {
			b.Fatal(err)
		}
		c, err := ca.Issue("fan-"+strconv.Itoa(i), pub, nil, true, 30*24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, key.Seed()...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(c.Raw)))
		out = append(out, c.Raw...)
	}
	if err := os.WriteFile(filepath.Join(tmp, "clients.bin"), out, 0o600); err != nil {
		b.Fatal(err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	ca2, certs, err := loadFanInPKI(dir, n)
	if err != nil {
		b.Fatal(err)
	}
	return dir, ca2, certs
}

// loadFanInPKI reads what fanInCachedPKI wrote, and fails if it is not all
// there or its CA has less than 15 days left.
func loadFanInPKI(dir string, n int) (*x509.Certificate, []fanInCert, error) {
	ca, err := tlsconf.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return nil, nil, err
	}
	if time.Until(ca.Cert.NotAfter) < 15*24*time.Hour {
		return nil, nil, fmt.Errorf("CA expires %s", ca.Cert.NotAfter)
	}
	if _, err := os.Stat(filepath.Join(dir, "ingest-key.pem")); err != nil {
		return nil, nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, "clients.bin"))
	if err != nil {
		return nil, nil, err
	}
	certs := make([]fanInCert, 0, n)
	for len(raw) > 0 {
		if len(raw) < ed25519.SeedSize+4 {
			return nil, nil, errors.New("clients.bin: truncated")
		}
		key := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		l := int(binary.BigEndian.Uint32(raw[ed25519.SeedSize:]))
		raw = raw[ed25519.SeedSize+4:]
		if l > len(raw) {
			return nil, nil, errors.New("clients.bin: truncated certificate")
		}
		c, err := x509.ParseCertificate(raw[:l])
		if err != nil {
			return nil, nil, err
		}
		raw = raw[l:]
		certs = append(certs, fanInCert{name: c.Subject.CommonName, key: key,
			cert: tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}})
	}
	if len(certs) != n {
		return nil, nil, fmt.Errorf("clients.bin holds %d certificates, want %d", len(certs), n)
	}
	return ca.Cert, certs, nil
}
