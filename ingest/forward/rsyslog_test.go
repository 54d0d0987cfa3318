package forward

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer"
	"github.com/offbox/offbox/transport/tlsconf"
)

// rsyslog is Debian's rsyslogd receiving RFC 5425 syslog over TLS (imtcp
// with the gtls driver, StreamDriver.Mode=1) into a file, one message a
// line exactly as received, run from a configuration in a temp dir.
type rsyslog struct {
	t                   testing.TB
	dir, conf, out, pid string
	port                int
	cmd                 *exec.Cmd
	ca                  string // the CA file that signs its certificate
}

func startRsyslog(t testing.TB) *rsyslog {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: -short")
	}
	bin := testpeer.LookPath(t, "rsyslog", "rsyslogd", "/usr/sbin/rsyslogd")
	for _, m := range []string{"imtcp.so", "lmnsd_gtls.so"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/x86_64-linux-gnu/rsyslog", m)); err != nil {
			if matches, _ := filepath.Glob("/usr/lib/*/rsyslog/" + m); len(matches) == 0 {
				testpeer.Missing(t, "rsyslog's "+m, "rsyslog-gnutls", err)
			}
		}
	}
	dir := t.TempDir()
	ca, err := tlsconf.NewCA("rsyslog test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, err := tlsconf.GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("localhost", key.Public(), []string{"localhost", "127.0.0.1"}, false, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := &rsyslog{t: t, dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), out: filepath.Join(dir, "out.log"),
		pid: filepath.Join(dir, "rsyslog.pid"), ca: filepath.Join(dir, "ca.pem")}
	if err := os.WriteFile(r.ca, tlsconf.CertPEM(ca.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tlsconf.InstallKeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), cert, key); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "work"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`global(workDirectory="%[1]s/work" maxMessageSize="64k"
	defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="%[1]s/ca.pem"
	defaultNetstreamDriverCertFile="%[1]s/server.pem" defaultNetstreamDriverKeyFile="%[1]s/server-key.pem")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="%[2]d")
template(name="raw" type="string" string="%%rawmsg%%\n")
action(type="omfile" file="%[3]s" template="raw")
`, dir, r.port, r.out)
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start(bin)
	t.Cleanup(r.stop)
	return r
}

func (r *rsyslog) start(bin string) {
	r.t.Helper()
	r.cmd = exec.Command(bin, "-n", "-f", r.conf, "-i", r.pid)
	var stderr bytes.Buffer
	r.cmd.Stdout, r.cmd.Stderr = &stderr, &stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	// Up once it completes a TLS handshake.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", r.addr(), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.cmd.Process.Kill()
			r.cmd.Wait()
			r.t.Fatalf("rsyslogd did not accept TLS on %s: %v\n%s", r.addr(), err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rsyslog) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// kill ends rsyslogd with sig and waits for it.
func (r *rsyslog) kill(sig syscall.Signal) {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(sig)
	r.cmd.Wait()
	r.cmd = nil
}

func (r *rsyslog) stop() { r.kill(syscall.SIGTERM) }

// lines are the messages rsyslog has written so far.
func (r *rsyslog) lines() [][]byte {
	data, err := os.ReadFile(r.out)
	if err != nil {
		return nil
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

func (r *rsyslog) count() int { return bytes.Count(must(os.ReadFile(r.out)), []byte("\n")) }

func must(b []byte, _ error) []byte { return b }

// collect parses every line rsyslog holds into rec, checking each.
func (r *rsyslog) collect(t *testing.T) *received {
	rec := &received{}
	for _, l := range r.lines() {
		m, err := parse5424(l)
		if err != nil {
			t.Errorf("rsyslog holds %q: %v", l, err)
			continue
		}
		seq, _ := strconv.ParseUint(m.params["seq"], 10, 64)
		idx, _ := strconv.Atoi(m.params["index"])
		if m.host != m.params["device"] || m.app != "offbox" || m.msgID != "log" || m.sdID != SDID {
			t.Errorf("header %+v", m)
		}
		body, err := unescape(m.msg)
		if err != nil || !bytes.HasPrefix(body, []byte(m.params["source"])) {
			t.Errorf("body %q (%v) does not start with its source %q", m.msg, err, m.params["source"])
		}
		rec.add(m.params["device"], seq, idx)
	}
	return rec
}

// TestRsyslogIntegration: every stored record reaches Debian's rsyslog
// over TLS once, in order per device, traceable to the store by its
// structured data; a sink whose CA does not sign rsyslog's certificate
// sends nothing (verification is on by default).
func TestRsyslogIntegration(t *testing.T) {
	rs := startRsyslog(t)
	st, _ := newStore(t)
	fl := newFleet("router-1", "sw-2", "ap-3")
	fl.commit(t, st, 5, 200, 100)
	otherCA, _ := tlsconf.NewCA("another CA", time.Hour)
	wrongCA := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(wrongCA, tlsconf.CertPEM(otherCA.Cert), 0o644)
	fw, _ := runForwarder(t, st,
		SinkConfig{Name: "siem", Type: TypeSyslog, Address: rs.addr(), CA: rs.ca, ServerName: "localhost"},
		SinkConfig{Name: "untrusted", Type: TypeSyslog, Address: rs.addr(), CA: wrongCA})
	waitFor(t, 30*time.Second, "every record in rsyslog's file", func() bool { return rs.count() >= fl.total })
	time.Sleep(300 * time.Millisecond) // anything more would be a duplicate
	if dups := rs.collect(t).check(t, fl.want); dups != 0 {
		t.Errorf("%d records arrived twice", dups)
	}
	if n := rs.count(); n != fl.total {
		t.Errorf("rsyslog holds %d lines, want %d", n, fl.total)
	}
	s := fw.Stats()
	if s[0].Records != int64(fl.total) || s[0].Failures != 0 {
		t.Errorf("siem stats: %+v", s[0])
	}
	if s[1].Records != 0 || s[1].Failures == 0 || !bytes.Contains([]byte(s[1].LastError), []byte("certificate signed by unknown authority")) {
		t.Errorf("untrusted sink: %d records, %d failures, last error %q", s[1].Records, s[1].Failures, s[1].LastError)
	}
}

// TestRsyslogRestartIntegration: rsyslog is killed mid-stream and started
// again; the file it finally holds has every record, and no more
// duplicates than the documented bound (2 × batch_records a failure).
func TestRsyslogRestartIntegration(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			rs := startRsyslog(t)
			st, _ := newStore(t)
			fl := newFleet("router-1", "sw-2")
			fl.commit(t, st, 20, 1000, 120)
			const batch = 500
			runForwarder(t, st, SinkConfig{Name: "siem", Type: TypeSyslog, Address: rs.addr(), CA: rs.ca, ServerName: "localhost",
				BatchRecords: batch})
			waitFor(t, 30*time.Second, "a third of the records", func() bool { return rs.count() >= fl.total/3 })
			rs.kill(sig)
			at := rs.count()
			time.Sleep(500 * time.Millisecond) // the sink fails and backs off meanwhile
			rs.start(testpeer.LookPath(t, "rsyslog", "rsyslogd", "/usr/sbin/rsyslogd"))
			waitFor(t, 60*time.Second, "every record after the restart", func() bool {
				return rs.count() >= fl.total && countMissing(rs.collect(t), fl.want) == 0
			})
			time.Sleep(300 * time.Millisecond)
			dups := rs.collect(t).check(t, fl.want)
			t.Logf("killed with %s after %d of %d lines; %d duplicates (bound %d)", sig, at, fl.total, dups, 2*batch)
			if dups > 2*batch {
				t.Errorf("%d duplicates, more than 2 × batch_records = %d", dups, 2*batch)
			}
		})
	}
}

// countMissing is how many wanted records rec has not seen.
func countMissing(rec *received, want map[string][]string) int {
	n := 0
	for dev, w := range want {
		seen := map[string]bool{}
		for _, k := range rec.got[dev] {
			seen[k] = true
		}
		for _, k := range w {
			if !seen[k] {
				n++
			}
		}
	}
	return n
}
