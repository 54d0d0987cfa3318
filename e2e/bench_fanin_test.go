package e2e

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// BenchmarkFanIn runs one real offbox-ingest against 2,000 simulated agents
// in this process, each with its own Ed25519 client certificate and its own
// mutual-TLS gRPC stream, heartbeating once a second for 60 s. Connection
// setup is spread over 5 s. It reports how many agents connected, how many
// heartbeat batches were acknowledged as stored, how many were not acked
// within 3 s (missing or late), the ack latency, and the collector's peak
// RSS and CPU, and how many heartbeat_missing alerts the collector raised
// (each heartbeat names its 1 s interval, so a device unheard for 2.5 s is
// flagged). Run it with `make bench`.
func BenchmarkFanIn(b *testing.B) {
	const (
		agents    = 2000
		beats     = 60
		interval  = time.Second
		spread    = 5 * time.Second
		lateAfter = 3 * time.Second
	)
	raiseNoFile(b, 4*agents+1024)
	dir := filepath.Join(b.TempDir(), "pki")
	ca, certs := fanInPKI(b, dir, agents)
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	for i := 0; i < b.N; i++ {
		db := filepath.Join(b.TempDir(), "store.db")
		in := startIngest(b, pki(dir), db, "127.0.0.1:0")
		var (
			connected, sent, stored, otherAck, late, failed atomic.Int64
			mu                                              sync.Mutex
			lat                                             = make([]time.Duration, 0, agents*beats)
			firstErr                                        error
			firstDone                                       time.Time
			wg                                              sync.WaitGroup
		)
		fail := func(err error) {
			failed.Add(1)
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
		// Every agent is bounded by this deadline whatever the collector does.
		ctx, cancel := context.WithTimeout(context.Background(), spread+beats*interval+30*time.Second)
		cpu0, self0, t0 := cpuSeconds(b, in.pid()), cpuSeconds(b, os.Getpid()), time.Now()
		for a := range certs {
			wg.Add(1)
			go func(a int) {
				defer wg.Done()
				select {
				case <-time.After(spread * time.Duration(a) / agents):
				case <-ctx.Done():
					return
				}
				lats, st, other, snt, lt, err := fanInAgent(ctx, in.addr, roots, certs[a], beats, interval, lateAfter, &connected)
				mu.Lock()
				if firstDone.IsZero() {
					firstDone = time.Now() // from here on agents fall silent by design
				}
				mu.Unlock()
				sent.Add(snt)
				stored.Add(st)
				otherAck.Add(other)
				late.Add(lt)
				if err != nil {
					fail(fmt.Errorf("%s: %w", certs[a].name, err))
				}
				mu.Lock()
				lat = append(lat, lats...)
				mu.Unlock()
			}(a)
		}
		wg.Wait()
		cancel()
		elapsed := time.Since(t0)
		cpu := cpuSeconds(b, in.pid()) - cpu0
		self := cpuSeconds(b, os.Getpid()) - self0 // the simulated agents, to rule them out as the bottleneck
		peak := float64(procStatus(b, in.pid(), "VmHWM")) / 1024
		rss := float64(procStatus(b, in.pid(), "VmRSS")) / 1024
		in.stop()
		// What the collector's own liveness rule made of it, while every
		// agent was still heartbeating (the first ones to finish fall
		// silent up to 5 s before the collector stops: those alerts are
		// right, and not counted).
		missed := 0
		for _, a := range storedAlerts(b, db, "-kind", "heartbeat_missing") {
			if a.First.Before(firstDone) {
				missed++
			}
		}

		want := int64(agents * beats)
		missing := want - stored.Load()        // never acked as stored
		missingOrLate := missing + late.Load() // late counts only acked ones
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		var p50, p99, mx float64
		if len(lat) > 0 {
			p50, p99, mx = ms(lat[len(lat)/2]), ms(lat[min(len(lat)-1, len(lat)*99/100)]), ms(lat[len(lat)-1])
		}
		cpuPct := 100 * cpu / elapsed.Seconds()
		b.ReportMetric(float64(connected.Load()), "agents")
		b.ReportMetric(float64(stored.Load()), "acked")
		b.ReportMetric(float64(missingOrLate), "missing-or-late")
		b.ReportMetric(peak, "ingest-peak-rss-MiB")
		b.ReportMetric(cpuPct, "ingest-cpu-%")
		b.ReportMetric(p99, "ack-p99-ms")
		b.ReportMetric(float64(missed), "heartbeat-missing-alerts")
		fmt.Printf("fan-in: %d/%d agents connected (own certificates), %d of %d heartbeat batches sent, %d acked as stored, %d not stored-acked, %d acked late (> %s), %d other acks, %d agent errors; ack latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; ingest peak RSS %.1f MiB (RSS at end %.1f MiB), CPU %.1f CPU-s over %.0fs = %.1f%% of a core (the simulated agents: %.1f CPU-s); every heartbeat acked within %s: %s; heartbeat_missing alerts raised by the collector: %d\n",
			connected.Load(), agents, sent.Load(), want, stored.Load(), missing, late.Load(), lateAfter, otherAck.Load(), failed.Load(),
			p50, p99, mx, peak, rss, cpu, elapsed.Seconds(), cpuPct, self, lateAfter, yesNo(missingOrLate == 0), missed)
		if firstErr != nil {
			fmt.Printf("fan-in: first agent error: %v\n", firstErr)
		}
	}
	b.ReportMetric(0, "ns/op")
}

type fanInCert struct {
	name string
	cert tls.Certificate
	key  crypto.Signer
}

// fanInPKI writes a CA and the collector's certificate into dir (as
// newPKI's layout: ca.pem, ingest.pem, ingest-key.pem) and makes n client
// certificates in memory, one per simulated agent.
func fanInPKI(b *testing.B, dir string, n int) (*tlsconf.CA, []fanInCert) {
	b.Helper()
	ca, err := tlsconf.NewCA("offbox fan-in CA", 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := tlsconf.WriteKeyPair(dir, "ca", ca.Cert, ca.Key); err != nil {
		b.Fatal(err)
	}
	sk, err := tlsconf.GenerateKey(tlsconf.Ed25519)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := ca.Issue("localhost", sk.Public(), []string{"127.0.0.1", "localhost"}, false, 24*time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	if err := tlsconf.WriteKeyPair(dir, "ingest", sc, sk); err != nil {
		b.Fatal(err)
	}
	certs := make([]fanInCert, n)
	for i := range certs {
		name := "fan-" + strconv.Itoa(i)
		k, err := tlsconf.GenerateKey(tlsconf.Ed25519)
		if err != nil {
			b.Fatal(err)
		}
		c, err := ca.Issue(name, k.Public(), nil, true, 24*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		certs[i] = fanInCert{name: name, key: k, cert: tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k, Leaf: c}}
	}
	return ca, certs
}

// fanInAgent is one simulated agent: it opens its own mutual-TLS stream,
// says Hello, adopts the Welcome's head, then seals and sends one heartbeat
// batch every interval, beats times, reading acks as they come. It returns
// each stored-ack's latency, the counts of stored and other acks, batches
// sent and acks later than lateAfter.
func fanInAgent(ctx context.Context, addr string, roots *x509.CertPool, c fanInCert, beats int, interval, lateAfter time.Duration, connected *atomic.Int64) (lat []time.Duration, stored, other, sent, late int64, err error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: "localhost", RootCAs: roots, Certificates: []tls.Certificate{c.cert}}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	defer conn.Close()
	fanInConnect(ctx, conn) // under the collector's handshakes per address
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := offboxv1grpc.NewIngestClient(conn).Stream(sctx)
	if err != nil {
		return nil, 0, 0, 0, 0, fmt.Errorf("stream: %w", err)
	}
	keyID, err := seal.KeyID(c.key.Public())
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	boot, session := "boot-"+c.name, []byte("session-"+c.name)
	err = stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Hello{Hello: &offboxv1.Hello{
		AgentVersion: "fan-in", BootId: boot, SessionId: session, DeviceId: c.name, KeyId: keyID}}})
	if err != nil {
		return nil, 0, 0, 0, 0, fmt.Errorf("hello: %w", err)
	}
	m, err := stream.Recv()
	if err != nil {
		return nil, 0, 0, 0, 0, fmt.Errorf("welcome: %w", err)
	}
	w := m.GetWelcome()
	if w == nil {
		return nil, 0, 0, 0, 0, fmt.Errorf("first message %v, want Welcome", m)
	}
	connected.Add(1)
	base, prev := w.GetHead().GetSeq(), w.GetHead().GetHash()

	sentAt := make([]atomic.Int64, beats) // Unix ns, by seq-base-1
	acks := make(chan error, 1)
	go func() { // the ack reader; ends when every batch is acked or the stream ends
		var n int
		for n < beats {
			m, err := stream.Recv()
			if err != nil {
				acks <- err
				return
			}
			now := time.Now()
			a := m.GetAck()
			if a == nil {
				acks <- fmt.Errorf("got %v, want an Ack", m)
				return
			}
			n++
			if a.GetStatus() != offboxv1.Ack_STATUS_STORED {
				other++
				continue
			}
			stored++
			if k := a.GetSeq() - base - 1; k < uint64(beats) {
				d := now.Sub(time.Unix(0, sentAt[k].Load()))
				lat = append(lat, d)
				if d > lateAfter {
					late++
				}
			}
		}
		acks <- nil
	}()

	// stop ends the stream and waits for the reader, so that its counts
	// are final and read by this goroutine only after it has returned.
	stop := func(err error) ([]time.Duration, int64, int64, int64, int64, error) {
		cancel()
		<-acks
		return lat, stored, other, sent, late, err
	}
	start := time.Now()
	var body []byte
	for k := 0; k < beats; k++ {
		select {
		case <-time.After(time.Until(start.Add(time.Duration(k) * interval))):
		case <-sctx.Done():
			return stop(sctx.Err())
		}
		now := time.Now()
		rec := seal.WireRecord{TimeNs: now.UnixNano(), Kind: uint32(offboxv1.Kind_KIND_HEARTBEAT), Source: "agent",
			Attrs: []seal.WireAttr{{Key: "uptime_s", Value: strconv.Itoa(k)}, {Key: "heartbeat_interval", Value: interval.String()}}}
		body = seal.AppendRecord(body[:0], &rec)
		seq := base + uint64(k) + 1
		s, err := seal.Seal(c.key, &seal.Header{DeviceID: c.name, KeyID: keyID, BootID: boot, SessionID: session,
			Seq: seq, PrevHash: prev, RecordCount: 1, SealedNs: now.UnixNano(), AgentVersion: "fan-in"}, body)
		if err != nil {
			return stop(err)
		}
		prev = s.Digest[:]
		sentAt[k].Store(now.UnixNano())
		if err := stream.Send(&offboxv1.AgentMessage{Msg: &offboxv1.AgentMessage_Batch{Batch: &offboxv1.SealedBatch{Batch: s.Bytes, Signature: s.Sig}}}); err != nil {
			return stop(fmt.Errorf("send seq %d: %w", seq, err))
		}
		sent++
	}
	// Wait for the last acks, at most lateAfter plus a margin.
	select {
	case err = <-acks:
	case <-time.After(lateAfter + 2*time.Second):
		cancel()
		err = <-acks
		if err != nil {
			err = fmt.Errorf("acks still missing at the end: %w", err)
		}
	}
	stream.CloseSend()
	return lat, stored, other, sent, late, err
}

// raiseNoFile raises the soft open-files limit to at least n (up to the hard
// limit); the collector started afterwards inherits it.
func raiseNoFile(b *testing.B, n uint64) {
	b.Helper()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	if l.Cur >= n {
		return
	}
	l.Cur = min(n, l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	if l.Cur < n {
		b.Logf("open-files limit is %d, below the %d wanted", l.Cur, n)
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}
