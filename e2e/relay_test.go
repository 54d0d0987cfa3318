package e2e

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer"
)

// loggerOutput runs the real util-linux logger against a capture listener
// on 127.0.0.1 and returns the bytes it sent: one datagram with --udp, the
// whole stream with --tcp. logger cannot bind a source address, so the
// test forwards these bytes from each appliance's own address (127.0.0.2,
// 127.0.0.3 ...) with sendFrom.
func loggerOutput(t *testing.T, logger, network string, args ...string) []byte {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		port := strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
		if _, se, code := run(t, logger, append([]string{"--server", "127.0.0.1", "--port", port, "--udp"}, args...)...); code != 0 {
			t.Fatalf("logger: exit %d: %s", code, se)
		}
		buf := make([]byte, 65536)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("logger's datagram: %v", err)
		}
		return buf[:n]
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if _, se, code := run(t, logger, append([]string{"--server", "127.0.0.1", "--port", port, "--tcp"}, args...)...); code != 0 {
		t.Fatalf("logger: exit %d: %s", code, se)
	}
	b := <-got
	if len(b) == 0 {
		t.Fatal("logger sent nothing over TCP")
	}
	return b
}

// sendFrom sends b to addr from local IP src: one datagram, or one TCP
// connection that is closed after it.
func sendFrom(t *testing.T, network, src, addr string, b []byte) {
	t.Helper()
	var la net.Addr = &net.UDPAddr{IP: net.ParseIP(src)}
	if network == "tcp" {
		la = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := (&net.Dialer{LocalAddr: la, Timeout: 5 * time.Second}).Dial(network, addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("send from %s: %v", src, err)
	}
}

func relayConfig(t *testing.T, path string, appliances ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("relay:\n  appliances:\n")
	for i := 0; i < len(appliances); i += 2 {
		fmt.Fprintf(&b, "    - {name: %s, address: %s, labels: {site: lab}}\n", appliances[i], appliances[i+1])
	}
	// Written aside and renamed in, as config management does.
	if err := os.WriteFile(path+".new", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

func bodiesOf(rs []record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Body)
	}
	return out
}

// TestRelayAppliancesEndToEnd: two appliances on 127.0.0.2 and 127.0.0.3
// send real syslog (util-linux logger, RFC 3164 and 5424, UDP and TCP with
// octet counting) through one relay agent to the collector, over real
// mutual TLS: each appliance's records are stored under its own name with
// the relay's source; a brute force from one raises alerts naming it only;
// the other's clock, an hour behind, raises timestamp_mismatch for it only;
// an appliance the collector does not authorise for the relay (fw9) and a
// sender that is no appliance (logger from 127.0.0.1) are refused and
// counted; an appliance removed from the file stops being attributed at
// once and is no longer heartbeated; SIGHUP reloads; verify is clean.
func TestRelayAppliancesEndToEnd(t *testing.T) {
	skipShort(t)
	logger := testpeer.LookPath(t, "bsdutils", "logger")
	dir := t.TempDir()
	p := newPKI(t, "relay-1")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	for _, name := range []string{"fw1", "fw2"} {
		if _, se, code := run(t, bin.ingest, "appliance", "add", "-db", in.db, "-name", name, "-relay", "relay-1", "-label", "site=lab"); code != 0 {
			t.Fatalf("appliance add %s: exit %d: %s", name, code, se)
		}
	}
	cfg := filepath.Join(dir, "offbox.yaml")
	relayConfig(t, cfg, "fw1", "127.0.0.2", "fw2", "127.0.0.3", "fw9", "127.0.0.4")
	udp, tcp := freePort(t, "udp"), freePort(t, "tcp")
	ag := startAgent(t, p, "relay-1", in.addr, "-config", cfg, "-no-boot", "-no-clock", "-no-watch", "-heartbeat", "1s",
		"-relay-udp", udp, "-relay-tcp", tcp)
	waitFor(t, 20*time.Second, "the relay to listen", func() bool {
		if ag.exited() {
			t.Fatalf("the relay exited: %s", ag.out.String())
		}
		return strings.Contains(ag.out.String(), "relay listening")
	})

	// fw1: a brute force, RFC 3164 over UDP, and one RFC 5424 line over TCP.
	for i := range 8 {
		msg := loggerOutput(t, logger, "udp", "--rfc3164", "-t", "sshd", "-i",
			fmt.Sprintf("Failed password for admin from 198.51.100.7 port %d ssh2", 50000+i))
		sendFrom(t, "udp", "127.0.0.2", udp, msg)
	}
	sendFrom(t, "tcp", "127.0.0.2", tcp, loggerOutput(t, logger, "tcp", "--rfc5424", "-t", "app", "fw1 says hello over tcp"))
	// fw2: RFC 5424 octet-counted over TCP, RFC 3164 over UDP, and a line
	// stamped an hour ago by its clock.
	var stream []byte
	for i := range 3 {
		stream = append(stream, loggerOutput(t, logger, "tcp", "--rfc5424", "--octet-count", "-t", "app", fmt.Sprintf("fw2 line %d", i))...)
	}
	sendFrom(t, "tcp", "127.0.0.3", tcp, stream)
	sendFrom(t, "udp", "127.0.0.3", udp, loggerOutput(t, logger, "udp", "--rfc3164", "-t", "ntpd", "fw2 says hello over udp"))
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	sendFrom(t, "udp", "127.0.0.3", udp, []byte("<30>1 "+old+" fw2 ntpd - - - fw2 clock an hour behind"))
	// Not authorised at the collector, and no appliance at all.
	sendFrom(t, "udp", "127.0.0.4", udp, loggerOutput(t, logger, "udp", "--rfc3164", "fw9 would like to be stored"))
	for range 2 {
		if _, se, code := run(t, logger, "--server", "127.0.0.1", "--port", portOf(udp), "--udp", "--rfc3164", "unknown sender line"); code != 0 {
			t.Fatalf("logger: %s", se)
		}
	}
	conn, err := net.Dial("tcp", tcp) // from 127.0.0.1: closed at once, counted
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "unknown sender over tcp\n")
	conn.Close()

	waitFor(t, 30*time.Second, "fw1's 9 and fw2's 5 lines", func() bool {
		return count(t, in.db, "-device", "fw1", "-kind", "log") == 9 && count(t, in.db, "-device", "fw2", "-kind", "log") == 5
	})
	for dev, want := range map[string]string{"fw1": "fw1", "fw2": "fw2"} {
		for _, r := range records(t, in.db, "-device", dev, "-kind", "log") {
			if !strings.Contains(r.Body, want) && !strings.Contains(r.Body, "Failed password") {
				t.Errorf("%s stores %q", dev, r.Body)
			}
			if dev == "fw2" && strings.Contains(r.Body, "Failed password") {
				t.Errorf("fw2 stores fw1's line %q", r.Body)
			}
			if r.Via != "relay-1" {
				t.Errorf("%s record via %q, want relay-1", dev, r.Via)
			}
			if !strings.HasPrefix(r.Source, "relay:") || r.Attrs["relay_received_time"] == "" || r.Attrs["timestamp"] == "" {
				t.Errorf("%s record source %q attrs %v: want relay:..., relay_received_time and the appliance's timestamp", dev, r.Source, r.Attrs)
			}
		}
	}
	formats := map[string]bool{}
	for _, r := range records(t, in.db, "-kind", "log") {
		formats[r.Attrs["format"]] = true
		if strings.Contains(r.Body, "unknown sender") || strings.Contains(r.Body, "fw9") {
			t.Errorf("a refused sender's line is stored under %s: %q", r.Device, r.Body)
		}
		if r.Device != "fw1" && r.Device != "fw2" {
			t.Errorf("log line stored under %s: %q", r.Device, r.Body)
		}
	}
	if !formats["rfc3164"] || !formats["rfc5424"] {
		t.Errorf("formats stored %v: want rfc3164 and rfc5424", formats)
	}

	// Alerts name the appliance: brute force and the clock per appliance.
	waitFor(t, 30*time.Second, "brute_force on fw1, timestamp_mismatch on fw2, appliance_refused on relay-1", func() bool {
		as := storedAlerts(t, in.db)
		return len(ofKind(as, "brute_force")) > 0 && len(ofKind(as, "timestamp_mismatch")) > 0 && len(ofKind(as, "appliance_refused")) > 0
	})
	as := storedAlerts(t, in.db)
	for _, a := range append(ofKind(as, "brute_force"), ofKind(as, "auth_failure")...) {
		if a.Device != "fw1" || a.Fields["source"] != "198.51.100.7" || a.Fields["user"] != "admin" || a.Labels["site"] != "lab" {
			t.Errorf("%s alert on %s fields %v labels %v: want fw1, admin from 198.51.100.7, site=lab (appliance add -label)", a.Kind, a.Device, a.Fields, a.Labels)
		}
	}
	for _, a := range ofKind(as, "timestamp_mismatch") {
		if a.Device != "fw2" {
			t.Errorf("timestamp_mismatch on %s (%s): want fw2 only", a.Device, a.Summary)
		}
	}
	refused := ofKind(as, "appliance_refused")
	if len(refused) != 1 || refused[0].Device != "relay-1" || !strings.Contains(refused[0].Summary, `"fw9"`) {
		t.Errorf("appliance_refused alerts %+v: want one, of relay-1, naming fw9", refused)
	}
	if n := count(t, in.db, "-device", "fw9"); n != 0 {
		t.Errorf("%d records stored under fw9", n)
	}

	// The unknown senders are counted at the relay: heartbeats and an
	// agent_status record.
	waitFor(t, 30*time.Second, "the unknown senders counted in a heartbeat and an agent_status record", func() bool {
		hb, st := false, false
		for _, r := range records(t, in.db, "-device", "relay-1", "-kind", "heartbeat") {
			if n, _ := strconv.Atoi(r.Attrs["relay_unknown_senders"]); n >= 3 {
				hb = true
			}
		}
		for _, r := range records(t, in.db, "-device", "relay-1", "-kind", "agent_status") {
			if r.Attrs["reason"] == "unknown_sender" {
				st = true
			}
		}
		return hb && st
	})

	// fw2 removed from the file: its next datagram is not attributed.
	before := count(t, in.db, "-device", "fw2", "-kind", "log") // its heartbeats stop with the reload, not at once
	relayConfig(t, cfg, "fw1", "127.0.0.2", "fw9", "127.0.0.4")
	waitFor(t, 10*time.Second, "the appliance list reloaded", func() bool {
		return strings.Contains(ag.out.String(), "relay appliance list reloaded")
	})
	sendFrom(t, "udp", "127.0.0.3", udp, []byte("<30>Dec  7 01:00:00 fw2 app: after removal"))
	sendFrom(t, "udp", "127.0.0.2", udp, []byte("<30>Dec  7 01:00:00 fw1 app: fw1 still here"))
	waitFor(t, 20*time.Second, "fw1's line after the reload", func() bool {
		for _, r := range records(t, in.db, "-device", "fw1", "-kind", "log") {
			if strings.Contains(r.Body, "fw1 still here") {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	fw2Beats := count(t, in.db, "-device", "fw2", "-kind", "heartbeat") // no more from now on
	for _, r := range records(t, in.db, "-kind", "log") {
		if strings.Contains(r.Body, "after removal") {
			t.Errorf("a removed appliance's line was stored under %s", r.Device)
		}
	}
	if after := count(t, in.db, "-device", "fw2", "-kind", "log"); after != before {
		t.Errorf("fw2 has %d records after its removal, %d before", after, before)
	}
	// SIGHUP reloads too (and does not end the agent).
	ag.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "a reload on SIGHUP", func() bool { return strings.Contains(ag.out.String(), "why=SIGHUP") })
	if ag.exited() {
		t.Fatal("SIGHUP ended the relay")
	}
	// fw2, off the list, is no longer heartbeated; fw1 still is.
	fw1Beats := count(t, in.db, "-device", "fw1", "-kind", "heartbeat")
	time.Sleep(2500 * time.Millisecond)
	if n := count(t, in.db, "-device", "fw2", "-kind", "heartbeat"); n != fw2Beats {
		t.Errorf("fw2 heartbeated after its removal: %d heartbeats, %d at its removal", n, fw2Beats)
	}
	if n := count(t, in.db, "-device", "fw1", "-kind", "heartbeat"); n <= fw1Beats {
		t.Errorf("fw1 not heartbeated: %d heartbeats, %d 2.5 s before", n, fw1Beats)
	}

	ag.stop()
	so, se, code := run(t, bin.ingest, "verify", "-db", in.db)
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, so, se)
	}
	for _, dev := range []string{"fw1", "fw2", "relay-1"} {
		if !strings.Contains(so, "device="+dev+" ") {
			t.Errorf("verify does not report %s:\n%s", dev, so)
		}
	}
	// The dashboard's and API's per-device queries read the same store;
	// the CLI's: records and events of fw1 alone.
	so, se, code = run(t, bin.ingest, "events", "-db", in.db, "-device", "fw1")
	if code != 0 || strings.Count(so, "198.51.100.7") != 8 {
		t.Errorf("events -device fw1: exit %d, %d lines naming 198.51.100.7, want 8:\n%s%s", code, strings.Count(so, "198.51.100.7"), so, se)
	}
	if got := bodiesOf(records(t, in.db, "-device", "fw2", "-kind", "log")); len(got) != 5 {
		t.Errorf("records -device fw2: %q", got)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}
