package loggen

import (
	"bytes"
	"crypto/sha256"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/detect/authlog"
)

func lines(c Config, n int) []byte {
	g := New(c)
	var b []byte
	for range n {
		b = g.Append(b)
	}
	return b
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	c := Config{Seed: 42, Devices: 5, Lines: 20000}
	a, b := lines(c, 20000), lines(c, 20000)
	if !bytes.Equal(a, b) {
		t.Fatal("the same Config gave different lines")
	}
	c.Seed = 43
	if bytes.Equal(a, lines(c, 20000)) {
		t.Fatal("seeds 42 and 43 gave the same lines")
	}
	var w bytes.Buffer
	if n, err := New(Config{Seed: 42, Devices: 5, Lines: 20000}).Write(&w, 20000); err != nil || n != int64(len(a)) || !bytes.Equal(w.Bytes(), a) {
		t.Fatalf("Write gave %d bytes, err %v; want the %d bytes Append gives", n, err, len(a))
	}
	// A fixed digest: the lines must not change between machines or Go
	// versions (math/rand/v2's PCG is specified), so a benchmark's input
	// stays the same input. Change it only with the generator, on purpose.
	if got := sha256.Sum256(lines(Config{Seed: 1}, 1000)); got != golden {
		t.Errorf("digest of seed 1's first 1000 lines changed: %x", got)
	}
}

var golden = [32]byte{0xc7, 0xaa, 0x85, 0x29, 0x70, 0x73, 0x7c, 0x01, 0xe0, 0x7f, 0x96, 0xd1, 0xb6, 0x2f, 0x7d, 0xb0, 0xe2, 0xea, 0xce, 0xb3, 0xe3, 0x55, 0xe4, 0x6a, 0xe2, 0xba, 0x2d, 0xea, 0x45, 0xf0, 0x16, 0x22}

func TestProportions(t *testing.T) {
	t.Parallel()
	for name, mix := range map[string]Mix{"bastion": Bastion, "edge": EdgeRouter} {
		const n = 200000
		g := New(Config{Seed: 7, Devices: 3, Mix: mix})
		var buf []byte
		for range n {
			buf = g.Append(buf[:0])
		}
		total := 0
		for _, w := range mix {
			total += w
		}
		for k := range NumKinds {
			want := float64(mix[k]) / float64(total)
			got := float64(g.Count(k)) / n
			// 5 standard deviations of a binomial share: never flaky, and
			// still far tighter than any mistake in the draw.
			if tol := 5 * math.Sqrt(want*(1-want)/n); math.Abs(got-want) > tol {
				t.Errorf("%s: %s is %.4f of the lines, want %.4f ± %.4f", name, k, got, want, tol)
			}
		}
	}
}

// TestAuthShares checks what the collector will see: the shares of failed
// and accepted logins the authlog parser reads in the bastion mix, against
// issue 19's sample (about 12 % failed passwords, 14 % accepted logins).
func TestAuthShares(t *testing.T) {
	t.Parallel()
	const n = 100000
	b := lines(Config{Seed: 3, Devices: 4}, n)
	var fail, ok, count int
	hosts := map[string]bool{}
	start := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for l := range bytes.Lines(b) {
		count++
		if f := strings.Fields(string(l)); len(f) > 3 {
			hosts[f[3]] = true
		}
		ev, parsed := authlog.Parse(l, start)
		if !parsed {
			continue
		}
		switch ev.Kind {
		case authlog.AuthFailure:
			fail++
		case authlog.AuthSuccess:
			ok++
		}
		if !ev.Time.IsZero() && ev.Time.Sub(start) > 2*time.Hour {
			t.Fatalf("line time %v is outside the hour the lines cover: %q", ev.Time, l)
		}
	}
	if count != n {
		t.Fatalf("%d lines, want %d", count, n)
	}
	if f := float64(fail) / n; f < 0.10 || f > 0.18 {
		t.Errorf("authlog reads %.3f of the lines as failures, want about 0.13", f)
	}
	if s := float64(ok) / n; s < 0.12 || s > 0.20 {
		t.Errorf("authlog reads %.3f of the lines as successes, want about 0.15", s)
	}
	for _, h := range []string{"bastion-01", "bastion-04", "rtr-02", "mx-03", "fw-04"} {
		if !hosts[h] {
			t.Errorf("no line from host %s (have %d hosts)", h, len(hosts))
		}
	}
}

// TestVendorsParse checks each appliance's login lines are in a format the
// collector knows: a generator whose lines no parser reads would measure
// nothing.
func TestVendorsParse(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	g := New(Config{Seed: 9, Mix: Mix{Cisco: 1, Junos: 1, FortiOS: 1}})
	var buf []byte
	for range 3000 {
		buf = g.Append(buf[:0])
		if ev, ok := authlog.Parse(buf, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)); ok {
			seen[ev.Program+" "+string(ev.Kind)]++
		}
	}
	for _, want := range []string{"SEC_LOGIN-4-LOGIN_FAILED auth_failure", "SEC_LOGIN-5-LOGIN_SUCCESS auth_success"} {
		if seen[want] == 0 {
			t.Errorf("no %q event; parsed %v", want, seen)
		}
	}
	if len(seen) < 5 {
		t.Errorf("only %d kinds of appliance event parsed: %v", len(seen), seen)
	}
}

func TestTimeAndFraming(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 7, 23, 59, 58, 0, time.UTC)
	g := New(Config{Seed: 5, Start: start, Span: 4 * time.Second, Lines: 4})
	var out []string
	for range 4 {
		out = append(out, string(g.Append(nil)))
	}
	for i, want := range []string{"Dec  7 23:59:58 ", "Dec  7 23:59:59 ", "Dec  8 00:00:00 ", "Dec  8 00:00:01 "} {
		if !strings.HasPrefix(out[i], want) || !strings.HasSuffix(out[i], "\n") || strings.Count(out[i], "\n") != 1 {
			t.Errorf("line %d = %q, want it to start %q and be one line", i, out[i], want)
		}
	}
}

func TestNoAllocPerLine(t *testing.T) {
	g := New(Config{Seed: 1, Devices: 10})
	buf := make([]byte, 0, 4096)
	if a := testing.AllocsPerRun(10000, func() { buf = g.Append(buf[:0]) }); a != 0 {
		t.Errorf("Append allocates %.2f times a line, want 0", a)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, m := range []struct {
		name string
		mix  Mix
	}{{"bastion", Bastion}, {"edge", EdgeRouter}} {
		b.Run(m.name, func(b *testing.B) {
			g := New(Config{Seed: 1, Devices: 10, Mix: m.mix})
			buf := make([]byte, 0, 4096)
			var n int64
			for b.Loop() {
				buf = g.Append(buf[:0])
				n += int64(len(buf))
			}
			b.ReportMetric(float64(n)/float64(b.N), "B/line")
			b.SetBytes(n / int64(b.N))
		})
	}
}
