package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer"
)

// freePort returns a loopback host:port nobody listens on now.
func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syslogMessage is message i over a transport: RFC 3164 and 5424 in turn,
// with non-ASCII bytes.
func syslogMessage(transport string, i int) string {
	if i%2 == 0 {
		return fmt.Sprintf("<38>Nov 22 18:00:00 gw1 sshd[%d]: %s %05d Accepted publickey für root", i, transport, i)
	}
	return fmt.Sprintf("<165>1 2026-11-22T18:00:00Z gw1 app %d ID47 [x@1 k=\"v\"] %s %05d ünïcode", i, transport, i)
}

// TestSyslogAndLogreadReachTheCollector runs the real agent with syslog on
// a unix socket, UDP and TCP and a fake logread, and checks with `records
// -json` that every message is stored once, byte-exact, with its parsed
// header; a malformed one is kept and flagged.
func TestSyslogAndLogreadReachTheCollector(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "src")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	sock := filepath.Join(dir, "log.sock")
	udp, tcp := freePort(t, "udp"), freePort(t, "tcp")
	logread := filepath.Join(dir, "logread")
	os.WriteFile(logread, []byte("#!/bin/sh\nfor i in 1 2 3; do echo \"Sun Nov  2 18:00:0$i 2026 daemon.info dnsmasq[1]: query $i\"; done\nexec sleep 3600\n"), 0o755)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: %s
tls: {ca: %s, cert: %s, key: %s}
boot: {enabled: false}
clock: {enabled: false}
watch: {enabled: false}
syslog:
  unix: [%q]
  udp: [%q]
  tcp: [%q]
logread:
  enabled: true
  command: [%q, -f]
`, in.addr, p.ca(), p.cert("src"), p.key("src"), sock, udp, tcp, logread)), 0o644)
	ag := start(t, bin.agent, "run", "-config", cfg)
	waitFor(t, 20*time.Second, "the syslog socket", func() bool {
		if ag.exited() {
			t.Fatalf("agent exited: %s", ag.out.String())
		}
		_, err := os.Stat(sock)
		return err == nil
	})

	const n = 300
	conns := map[string]net.Conn{}
	for name, a := range map[string][2]string{"unix": {"unixgram", sock}, "udp": {"udp", udp}, "tcp": {"tcp", tcp}} {
		var c net.Conn
		waitFor(t, 10*time.Second, "the "+name+" listener", func() bool {
			var err error
			c, err = net.Dial(a[0], a[1])
			return err == nil
		})
		defer c.Close()
		conns[name] = c
	}
	for i := 0; i < n; i++ {
		for name, c := range conns {
			m := syslogMessage(name, i)
			if name == "tcp" {
				if i%2 == 0 {
					m = fmt.Sprintf("%d %s", len(m), m)
				} else {
					m += "\n"
				}
			}
			if _, err := c.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 49 {
			time.Sleep(20 * time.Millisecond) // loopback UDP: stay inside the socket buffer
		}
	}
	malformed := "\x00\x01 binary without a PRI \xff"
	conns["unix"].Write([]byte(malformed))

	want := 3*n + 1 + 3
	var recs []record
	waitFor(t, 30*time.Second, "every message stored", func() bool {
		recs = records(t, in.db, "-device", "src", "-kind", "log")
		return len(recs) >= want
	})
	time.Sleep(500 * time.Millisecond)
	recs = records(t, in.db, "-device", "src", "-kind", "log")
	if len(recs) != want {
		t.Fatalf("%d log records stored, want %d", len(recs), want)
	}
	got := map[string]map[string]record{}
	for _, r := range recs {
		if got[r.Source] == nil {
			got[r.Source] = map[string]record{}
		}
		body := string(r.bytes(t))
		if _, dup := got[r.Source][body]; dup {
			t.Fatalf("%s: %q stored twice", r.Source, body)
		}
		got[r.Source][body] = r
	}
	for name, src := range map[string]string{"unix": "syslog:unix:" + sock, "udp": "syslog:udp:" + udp, "tcp": "syslog:tcp:" + tcp} {
		for i := 0; i < n; i++ {
			r, ok := got[src][syslogMessage(name, i)]
			if !ok {
				t.Fatalf("%s: message %d %q not stored byte-exact (sources %d)", src, i, syslogMessage(name, i), len(got))
			}
			wantAttrs := map[string]string{"format": "rfc3164", "facility": "4", "severity": "6", "hostname": "gw1", "app": "sshd"}
			if i%2 == 1 {
				wantAttrs = map[string]string{"format": "rfc5424", "facility": "20", "severity": "5", "hostname": "gw1", "app": "app", "msgid": "ID47"}
			}
			for k, v := range wantAttrs {
				if r.Attrs[k] != v {
					t.Fatalf("%s message %d: attr %s = %q, want %q (attrs %v)", src, i, k, r.Attrs[k], v, r.Attrs)
				}
			}
		}
	}
	if r, ok := got["syslog:unix:"+sock][malformed]; !ok || r.Attrs["malformed"] != "bad_pri" || r.Attrs["format"] != "raw" {
		t.Errorf("malformed message stored as %+v (found %v), want it byte-exact with malformed=bad_pri", r, ok)
	}
	if len(got["logread"]) != 3 {
		t.Errorf("logread records %v, want the 3 lines", got["logread"])
	}
	ag.stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("agent left its syslog socket behind: %v", err)
	}
}

// journalEntries writes entries [from, to) into a journal file with
// systemd-journal-remote, which appends to an existing file.
func journalEntries(t *testing.T, f string, from, to int) {
	t.Helper()
	var in bytes.Buffer
	for i := from; i < to; i++ {
		msg := fmt.Sprintf("entry %05d\nwith a second line \x00", i)
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(msg)))
		fmt.Fprintf(&in, "__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"+
			"MESSAGE\n%s%s\n_SYSTEMD_UNIT=e2e.service\nPRIORITY=4\n_PID=%d\n\n", 1700000000000000+int64(i), 1000+i, n[:], msg, 100+i)
	}
	cmd := exec.Command("/lib/systemd/systemd-journal-remote", "-o", f, "-")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemd-journal-remote: %v\n%s", err, out)
	}
}

// TestJournalResumesAtAcknowledgedCursorIntegration runs the real agent on
// a real journal file, stops it, adds entries and starts it again: every
// entry is stored once, and the second journalctl starts after the last
// entry the collector acknowledged (from the checkpoint in its Welcome).
func TestJournalResumesAtAcknowledgedCursorIntegration(t *testing.T) {
	skipShort(t)
	testpeer.LookPath(t, "systemd-journal-remote", "/lib/systemd/systemd-journal-remote")
	testpeer.LookPath(t, "systemd", "journalctl")
	dir := t.TempDir()
	p := newPKI(t, "jrn")
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0")
	jf := filepath.Join(dir, "test.journal")
	journalEntries(t, jf, 0, 200)
	jc, _ := exec.LookPath("journalctl")
	calls := filepath.Join(dir, "calls")
	wrapper := filepath.Join(dir, "journalctl")
	os.WriteFile(wrapper, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\nexec "+jc+" \"$@\"\n"), 0o755)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: %s
tls: {ca: %s, cert: %s, key: %s}
boot: {enabled: false}
clock: {enabled: false}
watch: {enabled: false}
journal:
  enabled: true
  command: %q
  file: %q
`, in.addr, p.ca(), p.cert("jrn"), p.key("jrn"), wrapper, jf)), 0o644)

	ag := start(t, bin.agent, "run", "-config", cfg)
	waitFor(t, 30*time.Second, "200 journal records", func() bool { return count(t, in.db, "-device", "jrn", "-source", "journal") >= 200 })
	ag.stop()
	journalEntries(t, jf, 200, 300)
	ag = start(t, bin.agent, "run", "-config", cfg)
	waitFor(t, 30*time.Second, "300 journal records", func() bool { return count(t, in.db, "-device", "jrn", "-source", "journal") >= 300 })
	time.Sleep(500 * time.Millisecond)
	ag.stop()

	recs := records(t, in.db, "-device", "jrn", "-source", "journal")
	if len(recs) != 300 {
		t.Fatalf("%d journal records stored, want 300", len(recs))
	}
	for i, r := range recs {
		want := fmt.Sprintf("entry %05d\nwith a second line \x00", i)
		if string(r.bytes(t)) != want || r.Attrs["unit"] != "e2e.service" || r.Attrs["priority"] != "4" ||
			r.Attrs["pid"] != fmt.Sprint(100+i) || !strings.Contains(r.Attrs["cursor"], fmt.Sprintf(";i=%x;", i+1)) {
			t.Fatalf("record %d: body %q attrs %v, want entry %d", i, r.bytes(t), r.Attrs, i)
		}
		if !r.DeviceTime.Equal(time.UnixMicro(1700000000000000 + int64(i))) {
			t.Errorf("record %d: device time %v", i, r.DeviceTime)
		}
	}
	b, _ := os.ReadFile(calls)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || strings.Contains(lines[0], "--after-cursor") || !strings.Contains(lines[1], ";i=c8 ") && !strings.HasSuffix(lines[1], ";i=c8") {
		t.Errorf("journalctl calls:\n%s\nwant a first from the beginning and a second after entry 200 (i=c8)", b)
	}
}

// TestSyslogDropsAreCountedInTheStream: with the collector down and a small
// memory budget, datagrams sent to the agent's syslog socket cannot all be
// held; once the collector is up, the messages stored plus the drop count
// of the source's gap records equal the messages sent, and the agent's own
// queue-full gap records do not count the same loss again.
func TestSyslogDropsAreCountedInTheStream(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "drp")
	addr := freePort(t, "tcp")
	sock := filepath.Join(dir, "log.sock")
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: %s
tls: {ca: %s, cert: %s, key: %s}
memory_budget_bytes: 65536
boot: {enabled: false}
clock: {enabled: false}
watch: {enabled: false}
syslog:
  unix: [%q]
`, addr, p.ca(), p.cert("drp"), p.key("drp"), sock)), 0o644)
	ag := start(t, bin.agent, "run", "-config", cfg)
	var c net.Conn
	waitFor(t, 20*time.Second, "the syslog socket", func() bool {
		if ag.exited() {
			t.Fatalf("agent exited: %s", ag.out.String())
		}
		var err error
		c, err = net.Dial("unixgram", sock)
		return err == nil
	})
	defer c.Close()
	const sent = 5000
	for i := 0; i < sent-100; i++ {
		if _, err := c.Write([]byte(syslogMessage("drop", i))); err != nil {
			t.Fatal(err)
		}
	}
	in := startIngest(t, p, filepath.Join(dir, "store.db"), addr)
	src := "syslog:unix:" + sock
	// The drop count goes out once the budget has room again.
	waitFor(t, 30*time.Second, "the gap record", func() bool { return count(t, in.db, "-device", "drp", "-source", src, "-kind", "gap") > 0 })
	for i := sent - 100; i < sent; i++ {
		c.Write([]byte(syslogMessage("drop", i)))
	}
	var stored, dropped, agentDropped int
	waitFor(t, 30*time.Second, "every message stored or counted", func() bool {
		stored, dropped, agentDropped = 0, 0, 0
		for _, r := range records(t, in.db, "-device", "drp") {
			switch {
			case r.Kind == "log" && r.Source == src:
				stored++
			case r.Kind == "gap" && r.Source == src:
				var n int
				fmt.Sscan(r.Attrs["dropped"], &n)
				dropped += n
			case r.Kind == "gap" && r.Attrs["reason"] == "queue_full":
				var n int
				fmt.Sscan(r.Attrs["dropped_records"], &n)
				agentDropped += n
			}
		}
		return stored+dropped >= sent
	})
	if stored+dropped != sent || dropped == 0 || stored < 100 {
		t.Fatalf("%d stored + %d reported dropped, want %d sent (some of each)", stored, dropped, sent)
	}
	// The source's gap records are the datagrams' only count: the agent's
	// own queue-full gap records leave them out (at most a few of its own
	// records, heartbeats, were refused while full).
	if agentDropped > 10 {
		t.Errorf("agent counted %d dropped records besides the source's %d: the loss is counted twice", agentDropped, dropped)
	}
	t.Logf("%d sent: %d stored, %d dropped (agent: %d)", sent, stored, dropped, agentDropped)
}
