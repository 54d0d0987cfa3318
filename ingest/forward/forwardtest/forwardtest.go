// Package forwardtest runs Debian's rsyslog as a syslog receiver over TLS
// and parses what it holds, for the tests of forwarding (ingest/forward
// and e2e). It is linked into no program.
package forwardtest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Rsyslog is Debian's rsyslogd receiving RFC 5425 syslog over TLS (imtcp
// with the gtls driver, StreamDriver.Mode=1) into a file, one message a
// line exactly as received, run from a configuration in a temp dir.
type Rsyslog struct {
	t                   testing.TB
	bin                 string
	dir, conf, out, pid string
	port                int
	cmd                 *exec.Cmd
	CA                  string // the CA file that signs its certificate (server name localhost)

	counted int64 // bytes of out Count has read
	lines   int   // and the lines in them
	buf     []byte
}

func StartRsyslog(t testing.TB) *Rsyslog {
	t.Helper()
	if testing.Short() {
		t.Skip("integration: -short")
	}
	bin := testpeer.LookPath(t, "rsyslog", "rsyslogd", "/usr/sbin/rsyslogd")
	for _, m := range []struct{ file, pkg string }{{"imtcp.so", "rsyslog"}, {"lmnsd_gtls.so", "rsyslog-gnutls"}} {
		if matches, _ := filepath.Glob("/usr/lib/*/rsyslog/" + m.file); len(matches) == 0 {
			testpeer.Missing(t, "rsyslog's "+m.file, m.pkg, nil)
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
	r := &Rsyslog{t: t, dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), out: filepath.Join(dir, "out.log"),
		pid: filepath.Join(dir, "rsyslog.pid"), CA: filepath.Join(dir, "ca.pem"), bin: bin}
	if err := os.WriteFile(r.CA, tlsconf.CertPEM(ca.Cert), 0o644); err != nil {
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
	// The main queue is Direct: what rsyslog has read is in the file before
	// it reads more, so a SIGTERM loses at most its socket buffer (README,
	// forwarding: a memory queue dropped on shutdown is beyond what syslog
	// over TCP can recover).
	conf := fmt.Sprintf(`global(workDirectory="%[1]s/work" maxMessageSize="64k"
	defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="%[1]s/ca.pem"
	defaultNetstreamDriverCertFile="%[1]s/server.pem" defaultNetstreamDriverKeyFile="%[1]s/server-key.pem")
main_queue(queue.type="Direct" queue.timeoutShutdown="10000")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="%[2]d")
template(name="raw" type="string" string="%%rawmsg%%\n")
action(type="omfile" file="%[3]s" template="raw")
`, dir, r.port, r.out)
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(r.stop)
	return r
}

// Start starts rsyslogd again after Kill, on the same port and file.
// A line the killed rsyslogd left half written (its buffer cut by SIGKILL)
// is ended first, so it stays one torn line (Torn) and the next message is
// not glued to it.
func (r *Rsyslog) Start() {
	r.t.Helper()
	if data, err := os.ReadFile(r.out); err == nil && len(data) > 0 && data[len(data)-1] != '\n' {
		f, err := os.OpenFile(r.out, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			r.t.Fatal(err)
		}
		f.Write([]byte("\n"))
		f.Close()
	}
	r.cmd = exec.Command(r.bin, "-n", "-f", r.conf, "-i", r.pid)
	var stderr bytes.Buffer
	r.cmd.Stdout, r.cmd.Stderr = &stderr, &stderr
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	// Up once it completes a TLS handshake.
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", r.Addr(), &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.cmd.Process.Kill()
			r.cmd.Wait()
			r.t.Fatalf("rsyslogd did not accept TLS on %s: %v\n%s", r.Addr(), err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addr is where it listens.
func (r *Rsyslog) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Kill ends rsyslogd with sig and waits for it.
func (r *Rsyslog) Kill(sig syscall.Signal) {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Signal(sig)
	r.cmd.Wait()
	r.cmd = nil
}

func (r *Rsyslog) stop() { r.Kill(syscall.SIGTERM) }

// Lines are the messages rsyslog has written so far.
func (r *Rsyslog) Lines() [][]byte {
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

// Count is how many lines rsyslog has written.
// It reads only what was added since the last call, so polling it costs
// little next to what is measured.
func (r *Rsyslog) Count() int {
	f, err := os.Open(r.out)
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(r.counted, io.SeekStart); err != nil {
		return r.lines
	}
	if r.buf == nil {
		r.buf = make([]byte, 64<<10)
	}
	for {
		n, err := f.Read(r.buf)
		r.lines += bytes.Count(r.buf[:n], []byte("\n"))
		r.counted += int64(n)
		if err != nil || n == 0 {
			return r.lines
		}
	}
}

// Message is an RFC 5424 message taken apart by Parse, the
// receiver's view used to check what the sinks write.
type Message struct {
	PRI                                 int
	Time, Host, App, ProcID, MsgID, Msg string // Msg as written (escaped)
	SDID                                string
	Params                              map[string]string // unescaped
}

// Parse parses one RFC 5424 message with one SD element, unescaping
// its PARAM-VALUEs; Msg is left as written.
func Parse(b []byte) (m Message, err error) {
	s := string(b)
	if !strings.HasPrefix(s, "<") {
		return m, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 0 {
		return m, errors.New("PRI not closed")
	}
	if m.PRI, err = strconv.Atoi(s[1:end]); err != nil {
		return m, err
	}
	f := strings.SplitN(s[end+1:], " ", 7)
	if len(f) < 7 || f[0] != "1" {
		return m, fmt.Errorf("header: %q", s)
	}
	m.Time, m.Host, m.App, m.ProcID, m.MsgID = f[1], f[2], f[3], f[4], f[5]
	rest := f[6]
	if !strings.HasPrefix(rest, "[") {
		return m, fmt.Errorf("no SD: %q", rest)
	}
	i := 1
	sp := strings.IndexByte(rest, ' ')
	m.SDID = rest[1:sp]
	i = sp
	m.Params = map[string]string{}
	for i < len(rest) && rest[i] == ' ' {
		eq := strings.Index(rest[i:], `="`)
		if eq < 0 {
			return m, fmt.Errorf("param: %q", rest[i:])
		}
		name := rest[i+1 : i+eq]
		j := i + eq + 2
		var v strings.Builder
		for ; j < len(rest) && rest[j] != '"'; j++ {
			if rest[j] == '\\' && j+1 < len(rest) && strings.IndexByte(`"\]`, rest[j+1]) >= 0 {
				j++
			} else if rest[j] == ']' {
				return m, fmt.Errorf("unescaped ] in %s", name)
			}
			v.WriteByte(rest[j])
		}
		if j >= len(rest) {
			return m, errors.New("param value not closed")
		}
		m.Params[name] = v.String()
		i = j + 1
	}
	if i >= len(rest) || rest[i] != ']' {
		return m, fmt.Errorf("SD not closed at %d: %q", i, rest)
	}
	i++
	if i < len(rest) {
		if rest[i] != ' ' {
			return m, errors.New("no space before MSG")
		}
		m.Msg = rest[i+1:]
	}
	return m, nil
}

// Unescape reverses the escaping of a forwarded body (forward.appendEscaped):
// \\ \n \t \r and \xHH.
func Unescape(s string) ([]byte, error) {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			out = append(out, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, errors.New("trailing backslash")
		}
		i++
		switch s[i] {
		case '\\':
			out = append(out, '\\')
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		case 'r':
			out = append(out, '\r')
		case 'x':
			if i+2 >= len(s) {
				return nil, errors.New("short \\x")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(v))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", s[i])
		}
	}
	return out, nil
}
