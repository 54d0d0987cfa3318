package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// escHook is a webhook receiver that records every alert body with its
// escalation flag and when it came.
type escHook struct {
	*httptest.Server
	mu  sync.Mutex
	got []escDelivery
}

type escDelivery struct {
	GroupID    string `json:"group_id"`
	Kind       string `json:"kind"`
	Severity   string `json:"severity"`
	Device     string `json:"device"`
	Escalation bool   `json:"escalation"`
	key        string // the Idempotency-Key header
	at         time.Time
}

func newEscHook(t *testing.T) *escHook {
	h := &escHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var d escDelivery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("webhook body: %v: %s", err, body)
			return
		}
		d.key, d.at = r.Header.Get("Idempotency-Key"), time.Now()
		h.mu.Lock()
		h.got = append(h.got, d)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// deliveries returns what came for device, escalations or not.
func (h *escHook) deliveries(device string, escalation bool) []escDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []escDelivery
	for _, d := range h.got {
		if d.Device == device && d.Escalation == escalation {
			out = append(out, d)
		}
	}
	return out
}

// TestEscalationEndToEnd: two devices each send a brute-force burst, which
// raises warning alerts delivered to a real HTTP receiver. An operator
// acknowledges esc-b's alerts with the CLI at once; esc-a's stay open.
// After escalate.after (4 s) each of esc-a's warning alerts is delivered
// once more, marked "escalation": true with an Idempotency-Key of its
// own, no sooner than after since its first delivery; esc-b's never are.
// A restart of the collector on the same store sends no escalation twice.
func TestEscalationEndToEnd(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "esc-a", "esc-b")
	hook := newEscHook(t)
	const after = 4 * time.Second
	cfg := collectorConfig(t, dir, fmt.Sprintf(`alerting:
  sinks:
    - {name: hook, type: webhook, url: %q, min_severity: warning}
  escalate:
    - {after: %s, min_severity: warning, sink: hook}
`, hook.URL, after))
	db := filepath.Join(dir, "store.db")
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	stamp := time.Now().Format(time.Stamp)
	for _, dev := range []string{"esc-a", "esc-b"} {
		var lines []string
		for i := range 8 {
			lines = append(lines, fmt.Sprintf("%s %s sshd[%d]: Failed password for admin from 198.51.100.23 port %d ssh2", stamp, dev, 4100+i, 50000+i))
		}
		logf := filepath.Join(dir, dev+".log")
		os.WriteFile(logf, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
		startAgent(t, p, dev, in.addr, "-tail", logf, "-start-at", "beginning")
	}
	// Acknowledge esc-b's alerts as soon as its brute_force is there.
	waitFor(t, 20*time.Second, "esc-b's brute_force alert", func() bool {
		return len(storedAlerts(t, db, "-device", "esc-b", "-kind", "brute_force")) == 1
	})
	out, errOut, code := run(t, bin.ingest, "alerts", "ack", "-db", db, "-all-matching", "-device", "esc-b", "-yes", "-comment", "known scanner")
	if code != 0 {
		t.Fatalf("alerts ack: exit %d: %s", code, errOut)
	}
	acked := time.Now()
	t.Logf("ack: %s", strings.TrimSpace(out))
	waitFor(t, 20*time.Second, "esc-a's brute_force alert", func() bool {
		return len(storedAlerts(t, db, "-device", "esc-a", "-kind", "brute_force")) == 1
	})
	// Every warning alert of esc-a escalates once.
	want := map[string]bool{}
	for _, a := range storedAlerts(t, db, "-device", "esc-a", "-severity", "warning") {
		want[a.Kind] = true
	}
	waitFor(t, 30*time.Second, "esc-a's escalations", func() bool {
		kinds := map[string]bool{}
		for _, d := range hook.deliveries("esc-a", true) {
			kinds[d.Kind] = true
		}
		return len(kinds) == len(want)
	})
	// Give esc-b's alerts time to have escalated, had the ack not stopped them.
	if wait := time.Until(acked.Add(after + 3*time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	if esc := hook.deliveries("esc-b", true); len(esc) != 0 {
		t.Errorf("acknowledged alerts escalated: %+v", esc)
	}
	if n := len(hook.deliveries("esc-b", false)); n == 0 {
		t.Errorf("esc-b's alerts were never delivered at all")
	}
	first := map[string]time.Time{}
	for _, d := range hook.deliveries("esc-a", false) {
		if _, ok := first[d.GroupID]; !ok {
			first[d.GroupID] = d.at
		}
	}
	check := func(when string) {
		t.Helper()
		seen := map[string]int{}
		for _, d := range hook.deliveries("esc-a", true) {
			seen[d.GroupID]++
			if d.key != d.GroupID+"/escalation" {
				t.Errorf("%s: escalation of %s has Idempotency-Key %q", when, d.GroupID, d.key)
			}
			if f, ok := first[d.GroupID]; !ok || d.at.Sub(f) < after-time.Second {
				t.Errorf("%s: %s escalated %s after its first delivery, want at least %s", when, d.Kind, d.at.Sub(f), after)
			}
		}
		for g, n := range seen {
			if n != 1 {
				t.Errorf("%s: alert %s escalated %d times, want once", when, g, n)
			}
		}
	}
	check("before the restart")
	// A restart on the same store: nothing escalates again.
	in.stop()
	waitFor(t, 10*time.Second, "the port to be free again", func() bool {
		c, err := net.Listen("tcp", in.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	in = startIngest(t, p, db, in.addr, "-config", cfg)
	time.Sleep(3 * time.Second) // several escalation rounds
	check("after the restart")
	hist, _, _ := run(t, bin.ingest, "alerts", "-db", db, "-device", "esc-b", "-state", "acknowledged")
	if strings.Count(hist, "\n") == 0 || strings.Contains(hist, "state=open") {
		t.Errorf("esc-b's alerts are not all acknowledged:\n%s", hist)
	}
}
