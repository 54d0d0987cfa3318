package notify

// The SMTP client of email sinks, on the standard library's net/smtp: it
// speaks what a submission server needs (EHLO, STARTTLS, AUTH PLAIN, MAIL,
// RCPT, DATA) and its Client.Extension lets us refuse a server that does
// not offer STARTTLS. go-mail would add a dependency for message building
// that mime/multipart and html/template already do, and emersion/go-smtp's
// client is the same protocol with more surface. What net/smtp lacks, a
// deadline and a bound on what the server sends, is the connection's here.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/offbox/offbox/transport/tlsconf"
)

// maxServerBytes bounds what one SMTP session reads from the server: its
// greeting, EHLO lines and replies are a few kilobytes.
const maxServerBytes = 1 << 20

// mailer sends messages to one email sink's server.
type mailer struct {
	name     string // the sink's
	host     string // the server's name: what its certificate must match
	addr     string // HOST:PORT
	mode     string // TLS*
	tls      *tls.Config
	username string
	pwFile   string
	from     *mail.Address
	to       []*mail.Address
	helo     string // our name in EHLO
	timeout  time.Duration
	window   time.Duration // digest window
}

func newMailer(c SinkConfig, collector string) (*mailer, error) {
	e := &c.Email
	host, addr, err := e.smtpAddr()
	if err != nil {
		return nil, fmt.Errorf("alerting.sinks %s: smtp: %w", c.Name, err)
	}
	m := &mailer{name: c.Name, host: host, addr: addr, mode: e.tlsMode(), username: e.Username,
		pwFile: e.PasswordFile, helo: heloName(collector), timeout: c.Timeout, window: e.digestWindow()}
	if m.timeout <= 0 {
		m.timeout = DefaultEmailTimeout
	}
	if m.from, err = parseAddress(e.From); err != nil {
		return nil, fmt.Errorf("alerting.sinks %s: from: %w", c.Name, err)
	}
	for _, t := range e.To {
		a, err := parseAddress(t)
		if err != nil {
			return nil, fmt.Errorf("alerting.sinks %s: to: %w", c.Name, err)
		}
		m.to = append(m.to, a)
	}
	m.tls = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.CA != "" {
		if m.tls.RootCAs, err = tlsconf.LoadCAPool(c.CA); err != nil {
			return nil, fmt.Errorf("alerting.sinks %s: ca: %w", c.Name, err)
		}
	}
	return m, nil
}

// heloName is the collector's name if it is a valid host name for EHLO,
// or "localhost".
func heloName(s string) string {
	if s == "" || len(s) > 253 || strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) {
		return "localhost"
	}
	return s
}

// header is the message header for a new message now.
func (m *mailer) header(now time.Time) mailHeader {
	var id [12]byte
	_, _ = rand.Read(id[:])
	return mailHeader{From: m.from, To: m.to, Date: now, MessageID: hex.EncodeToString(id[:]) + "@" + m.helo}
}

// errNoStartTLS: the server does not offer STARTTLS, which tls: starttls
// requires.
var errNoStartTLS = errors.New("the server does not offer STARTTLS, which tls: starttls requires (nothing was sent)")

// send delivers msg in one SMTP session. The whole session, from dialing to
// QUIT, is bounded by the sink's timeout and by ctx.
func (m *mailer) send(ctx context.Context, msg []byte) (err error) {
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	_ = raw.SetDeadline(deadline)
	defer func() {
		if err != nil && !time.Now().Before(deadline) {
			err = fmt.Errorf("timeout: the session took its %s: %w", m.timeout, err)
		}
	}()
	stop := context.AfterFunc(ctx, func() { raw.Close() }) // a cancel interrupts a read in progress
	defer stop()
	var conn net.Conn = &boundedConn{Conn: raw, left: maxServerBytes}
	if m.mode == TLSImplicit {
		tc := tls.Client(conn, m.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return fmt.Errorf("TLS: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		raw.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello(m.helo); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if m.mode == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errNoStartTLS
		}
		if err := c.StartTLS(m.tls); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if m.username != "" {
		pw, err := readPassword(m.pwFile)
		if err != nil {
			return fmt.Errorf("password_file: %w", err)
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server offers no AUTH, and username is set (nothing was sent)")
		}
		if err := c.Auth(smtp.PlainAuth("", m.username, pw, m.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN as %s: %w", m.username, err)
		}
	}
	if err := c.Mail(m.from.Address); err != nil {
		return fmt.Errorf("MAIL FROM %s: %w", m.from.Address, err)
	}
	for _, t := range m.to {
		if err := c.Rcpt(t.Address); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", t.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil { // the server's answer to the message
		return fmt.Errorf("message refused: %w", err)
	}
	_ = c.Quit() // the message is accepted; a failed goodbye changes nothing
	return nil
}

// boundedConn fails reads past left bytes: a server that talks without end
// ends its session.
type boundedConn struct {
	net.Conn
	left int
}

func (b *boundedConn) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("the server sent more than %d bytes", maxServerBytes)
	}
	if len(p) > b.left {
		p = p[:b.left]
	}
	n, err := b.Conn.Read(p)
	b.left -= n
	return n, err
}
