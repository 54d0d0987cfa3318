package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/forward/forwardtest"
)

// TestForwardToRsyslogEndToEnd: the real agent ships a log (with hostile
// lines and a brute-force burst) to the real collector, which forwards
// every stored record and the alerts to Debian's rsyslog over TLS. Each
// line rsyslog holds names its record (device, seq, index) and carries
// its body byte for byte; every stored record is there once; forward
// status shows no lag.
func TestForwardToRsyslogEndToEnd(t *testing.T) {
	skipShort(t)
	rs := forwardtest.StartRsyslog(t)
	dir := t.TempDir()
	p := newPKI(t, "sw-edge-1")
	cfg := collectorConfig(t, dir, fmt.Sprintf("forward:\n  - {name: siem, type: syslog, address: %q, ca: %q, server_name: localhost, alerts: true}\n",
		rs.Addr(), rs.CA))
	db := filepath.Join(dir, "store.db")
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)

	log := filepath.Join(dir, "app.log")
	appendLines(t, log, "fwd", 0, 3000)
	stamp := time.Now().Format(time.Stamp)
	var extra []string
	for i := range 6 {
		extra = append(extra, fmt.Sprintf("%s sw-edge-1 sshd[%d]: Failed password for admin from 198.51.100.23 port %d ssh2", stamp, 4100+i, 50000+i))
	}
	extra = append(extra, "esc \x1b[31mred\x1b[0m ] \"quoted\" back\\slash \xff\xfe not utf-8", `<offbox@32473 seq="1">`)
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(strings.Join(extra, "\n") + "\n")
	f.Close()
	ag := startAgent(t, p, "sw-edge-1", in.addr, "-tail", log, "-start-at", "beginning", "-no-clock", "-no-watch")
	want := 3000 + len(extra)
	waitFor(t, 60*time.Second, "every line stored", func() bool {
		if ag.exited() || in.exited() {
			t.Fatalf("a process exited: agent %s\ncollector %s", ag.out.String(), in.out.String())
		}
		return count(t, db, "-kind", "log") >= want
	})
	ag.stop()
	stored := records(t, db)
	byKey := map[string]record{}
	for _, r := range stored {
		byKey[fmt.Sprintf("%s/%d/%d", r.Device, r.Seq, r.Index)] = r
	}
	waitFor(t, 60*time.Second, "rsyslog to hold every stored record and an alert", func() bool {
		return rs.Count() >= len(stored)+1
	})
	time.Sleep(500 * time.Millisecond) // anything more would be a duplicate or another alert

	seen := map[string]int{}
	alerts := map[string]bool{}
	for _, l := range rs.Lines() {
		m, err := forwardtest.Parse(l)
		if err != nil {
			t.Fatalf("rsyslog holds %q: %v", l, err)
		}
		if m.MsgID == "alert" {
			alerts[m.Params["kind"]] = true
			continue
		}
		key := m.Params["device"] + "/" + m.Params["seq"] + "/" + m.Params["index"]
		r, ok := byKey[key]
		if !ok {
			t.Errorf("rsyslog holds %s, which is not in the store", key)
			continue
		}
		seen[key]++
		body, err := forwardtest.Unescape(m.Msg)
		if err != nil || !bytes.Equal(body, r.bytes(t)) {
			t.Errorf("%s: rsyslog body %q (%v), store %q", key, m.Msg, err, r.bytes(t))
		}
		if m.Host != "sw-edge-1" || m.MsgID != r.Kind || m.Params["received"] != r.ReceivedTime.UTC().Format(time.RFC3339Nano) {
			t.Errorf("%s: host %q msgid %q received %q; store kind %s received %s", key, m.Host, m.MsgID, m.Params["received"], r.Kind, r.ReceivedTime)
		}
	}
	for k := range byKey {
		if seen[k] != 1 {
			t.Errorf("%s is in rsyslog %d times, want once", k, seen[k])
		}
	}
	if !alerts["brute_force"] {
		t.Errorf("alerts forwarded: %v; want brute_force among them", alerts)
	}
	so, se, code := run(t, bin.ingest, "forward", "status", "-config", cfg, "-db", db)
	if code != 0 || !strings.Contains(so, "siem") {
		t.Fatalf("forward status: exit %d\n%s%s", code, so, se)
	}
	// The collector keeps running: its heartbeat records may follow, but
	// nothing stored before the agent stopped is behind.
	fields := strings.Fields(strings.Split(strings.TrimSpace(so), "\n")[1])
	if n, _ := strconv.Atoi(fields[len(fields)-3]); n > 1 {
		t.Errorf("forward status shows %d batches behind:\n%s", n, so)
	}
}
