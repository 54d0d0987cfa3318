// Package mailpit runs a real SMTP server for tests, Mailpit, on loopback
// ports, with a test CA's certificate for STARTTLS or implicit TLS, and
// reads what it received back through its HTTP API. A missing mailpit
// skips the test with the command that installs it, or fails it under
// OFFBOX_INTEGRATION=1. It is for tests only: no program imports it.
package mailpit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"go/build"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer"
)

// Install is the command that installs the Mailpit the tests expect.
const Install = "go install github.com/axllent/mailpit@v1.33.1"

// Path is the mailpit program, on PATH or in GOPATH/bin; without it the
// test is skipped, or fails when OFFBOX_INTEGRATION=1.
func Path(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "mailpit")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := "needs mailpit (" + Install + ")"
	if testpeer.Required() {
		t.Fatalf("OFFBOX_INTEGRATION=1 requires it: %s", msg)
	}
	t.Skip(msg)
	return ""
}

// TLS modes of a server.
const (
	NoTLS            = ""         // plain SMTP, no STARTTLS offered
	StartTLS         = "starttls" // STARTTLS offered and required before MAIL
	ImplicitTLS      = "implicit" // TLS from the first byte
	StartTLSOptional = "optional" // STARTTLS offered, not required
)

// Options configure a server.
type Options struct {
	TLS      string            // one of the modes above
	Users    map[string]string // user → password accepted by AUTH; nil: any AUTH or none
	SMTPAddr string            // "": a free loopback port
}

// Server is a running Mailpit.
type Server struct {
	SMTP string // HOST:PORT
	API  string // http://HOST:PORT
	CA   string // PEM file of the CA that signed its certificate; "" without TLS
	Host string // the name its certificate is for

	args []string
	dir  string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// Start runs Mailpit with o until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Path(t)
	dir := t.TempDir()
	s := &Server{SMTP: o.SMTPAddr, Host: "127.0.0.1", dir: dir}
	if s.SMTP == "" {
		s.SMTP = freePort(t)
	}
	api := freePort(t)
	s.API = "http://" + api
	s.args = []string{bin, "--smtp", s.SMTP, "--listen", api, "--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-disable-rdns", "--disable-version-check"}
	if o.TLS != NoTLS {
		s.CA = writeCerts(t, dir)
		s.args = append(s.args, "--smtp-tls-cert", filepath.Join(dir, "server.pem"), "--smtp-tls-key", filepath.Join(dir, "server-key.pem"))
		switch o.TLS {
		case StartTLS:
			s.args = append(s.args, "--smtp-require-starttls")
		case ImplicitTLS:
			s.args = append(s.args, "--smtp-require-tls")
		}
	}
	if o.Users != nil {
		var lines []string
		for u, p := range o.Users {
			lines = append(lines, u+":"+p)
		}
		auth := filepath.Join(dir, "auth")
		if err := os.WriteFile(auth, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s.args = append(s.args, "--smtp-auth-file", auth)
		if o.TLS == NoTLS {
			s.args = append(s.args, "--smtp-auth-allow-insecure")
		}
	} else {
		s.args = append(s.args, "--smtp-auth-accept-any")
		if o.TLS == NoTLS {
			s.args = append(s.args, "--smtp-auth-allow-insecure")
		}
	}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

// start runs the program and waits for both its ports.
func (s *Server) start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd := exec.Command(s.args[0], s.args[1:]...)
	w := &lockedWriter{b: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mailpit: %v", err)
	}
	s.cmd = cmd
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("mailpit exited: %s", w.String())
		default:
		}
		if up(s.SMTP) && up(strings.TrimPrefix(s.API, "http://")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not listen within 30s: %s", w.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the server (its messages stay in its database).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		s.cmd = nil
	}
}

// Restart starts the server again on the same ports, with its messages.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

func up(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Address is a mailbox as the API gives it.
type Address struct {
	Name    string `json:"Name"`
	Address string `json:"Address"`
}

// Message is one received message as the API gives it: the header's
// parties and subject decoded, and both bodies.
type Message struct {
	ID      string    `json:"ID"`
	From    Address   `json:"From"`
	To      []Address `json:"To"`
	Subject string    `json:"Subject"`
	Text    string    `json:"Text"` // line ends made "\n"
	HTML    string    `json:"HTML"` // line ends made "\n"
	Raw     []byte    `json:"-"`    // the message as received
}

// Messages returns every message received, oldest first, each read whole.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	var list struct {
		Messages []struct {
			ID string `json:"ID"`
		} `json:"messages"`
	}
	s.get(t, "/api/v1/messages?limit=1000", &list)
	out := make([]Message, 0, len(list.Messages))
	for i := len(list.Messages) - 1; i >= 0; i-- { // the API lists newest first
		var m Message
		id := list.Messages[i].ID
		s.get(t, "/api/v1/message/"+id, &m)
		m.Raw = s.raw(t, "/api/v1/message/"+id+"/raw")
		m.Text = strings.ReplaceAll(m.Text, "\r\n", "\n")
		m.HTML = strings.ReplaceAll(m.HTML, "\r\n", "\n")
		out = append(out, m)
	}
	return out
}

// Count is how many messages the server holds.
func (s *Server) Count(t testing.TB) int {
	t.Helper()
	var list struct {
		Total int `json:"total"`
	}
	s.get(t, "/api/v1/messages?limit=1", &list)
	return list.Total
}

func (s *Server) get(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(s.raw(t, path), v); err != nil {
		t.Fatalf("mailpit %s: %v", path, err)
	}
}

func (s *Server) raw(t testing.TB, path string) []byte {
	t.Helper()
	resp, err := http.Get(s.API + path)
	if err != nil {
		t.Fatalf("mailpit %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit %s: %d %v: %s", path, resp.StatusCode, err, b)
	}
	return b
}

// writeCerts writes a CA (ca.pem) and a server certificate for 127.0.0.1
// and localhost signed by it (server.pem, server-key.pem) into dir, and
// returns the CA's path.
func writeCerts(t testing.TB, dir string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailpit test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", "CERTIFICATE", caDER)
	write("server.pem", "CERTIFICATE", der)
	write("server-key.pem", "PRIVATE KEY", keyDER)
	return filepath.Join(dir, "ca.pem")
}

type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
