package notify

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/internal/testpeer/mailpit"
)

// startMailpit is a Mailpit for an ...Integration test, which -short skips.
func startMailpit(t *testing.T, o mailpit.Options) *mailpit.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: runs a real SMTP server")
	}
	return mailpit.Start(t, o)
}

// emailSink is an email sink to mp, with a short digest window.
func emailSink(t *testing.T, mp *mailpit.Server, tlsMode string) SinkConfig {
	t.Helper()
	return SinkConfig{Name: "mail", Type: TypeEmail, CA: mp.CA, Timeout: 5 * time.Second, Email: Email{
		SMTP: mp.SMTP, TLS: tlsMode, From: "offbox <offbox@example.net>",
		To: []string{"soc@example.net", "Jörg Ops <oncall@example.org>"}, DigestWindow: 300 * time.Millisecond}}
}

// withPassword sets c's username and a password file holding pw.
func withPassword(t *testing.T, c SinkConfig, user, pw string) SinkConfig {
	t.Helper()
	p := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(p, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Username, c.PasswordFile = user, p
	return c
}

// waitLastError waits until the delivery of groupID to mail has failed
// once, and returns its error.
func waitLastError(t *testing.T, out *fakeOutbox, groupID string) string {
	t.Helper()
	var last string
	waitFor(t, "a failed attempt", func() bool {
		last = out.delivery(t, groupID, "mail").LastError
		return last != ""
	})
	return last
}

// TestEmailStartTLSIntegration: through a real Mailpit that requires
// STARTTLS and AUTH, an alert arrives as one message with our subject,
// sender, recipients, a text and an HTML part, and its hostile values
// escaped; a wrong password is refused and the alert kept.
func TestEmailStartTLSIntegration(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, mailpit.Options{TLS: mailpit.StartTLS, Users: map[string]string{"offbox": "s3cret-pass"}})
	out := newFakeOutbox()
	d := newDispatcher(t, out, withPassword(t, emailSink(t, mp, ""), "offbox", "s3cret-pass"))
	a := hostileAlert()
	save(t, out, time.Now(), []store.Alert{a}, "mail")
	run(t, d)
	d.Kick()
	waitDelivered(t, out)

	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("mailpit received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if want := `[offbox] critical auth_failure on sw-1\u000d\u000aBcc: thief@evil.example`; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if m.From.Address != "offbox@example.net" || m.From.Name != "offbox" {
		t.Errorf("from %+v", m.From)
	}
	if len(m.To) != 2 || m.To[0].Address != "soc@example.net" || m.To[1].Address != "oncall@example.org" || m.To[1].Name != "Jörg Ops" {
		t.Errorf("to %+v", m.To)
	}
	for _, w := range []string{`failed <script>alert(1)</script> for "root"`, "bytes_nonasc: Grüße, 日本語", "Alert:    1 (group"} {
		if !strings.Contains(m.Text, w) {
			t.Errorf("text part lacks %q:\n%s", w, m.Text)
		}
	}
	checkHTMLShape(t, m.HTML)
	if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("HTML part lacks the escaped script:\n%s", m.HTML)
	}
	p := parseMail(t, m.Raw) // as received: both parts, no added header
	if _, ok := p.Header["Bcc"]; ok {
		t.Error("the received message has a Bcc header")
	}
	if len(p.Order) != 2 {
		t.Errorf("received parts %v, want text/plain and text/html", p.Order)
	}
	if s := d.Stats()["mail"]; s.Sent != 1 || s.Messages != 1 || s.Failed != 0 {
		t.Errorf("Stats %+v, want 1 sent in 1 message", s)
	}

	// A wrong password: refused by the server, kept pending, nothing sent.
	out2 := newFakeOutbox()
	d2 := newDispatcher(t, out2, withPassword(t, emailSink(t, mp, TLSStartTLS), "offbox", "wrong"))
	save(t, out2, time.Now(), []store.Alert{alertN(2)}, "mail")
	run(t, d2)
	d2.Kick()
	if e := waitLastError(t, out2, alertN(2).GroupID); !strings.Contains(e, "AUTH PLAIN as offbox") {
		t.Errorf("LastError %q, want the AUTH refusal", e)
	}
	if dl := out2.delivery(t, alertN(2).GroupID, "mail"); dl.State != store.DeliveryPending {
		t.Errorf("after a refused AUTH the delivery is %s, want pending", dl.State)
	}
	if n := mp.Count(t); n != 1 {
		t.Errorf("mailpit holds %d messages after the refused AUTH, want still 1", n)
	}
}

// TestEmailDigestIntegration: a burst of alerts due within the digest
// window is one message naming them all; an alert after it is the next.
func TestEmailDigestIntegration(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, mailpit.Options{TLS: mailpit.StartTLS})
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "offbox.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sc := emailSink(t, mp, TLSStartTLS)
	sc.DigestWindow = 2 * time.Second
	d := newDispatcher(t, st, sc)
	run(t, d)
	var burst []store.Alert
	for i := range 7 {
		burst = append(burst, alertN(i))
	}
	// The burst comes in three saves, as detection would make them.
	save(t, st, time.Now(), burst[:2], "mail")
	d.Kick()
	time.Sleep(300 * time.Millisecond)
	save(t, st, time.Now(), burst[2:5], "mail")
	d.Kick()
	time.Sleep(300 * time.Millisecond)
	save(t, st, time.Now(), burst[5:], "mail")
	d.Kick()
	waitDelivered(t, st)

	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("mailpit received %d messages for a burst of 7, want 1 digest", len(msgs))
	}
	if !strings.HasPrefix(msgs[0].Subject, "[offbox] 7 alerts: warning auth_failure on router0; ") {
		t.Errorf("digest subject %q", msgs[0].Subject)
	}
	for _, a := range burst {
		if !strings.Contains(msgs[0].Text, a.Summary) || !strings.Contains(msgs[0].HTML, a.Summary) {
			t.Errorf("the digest lacks %q in a part", a.Summary)
		}
	}
	if s := d.Stats()["mail"]; s.Sent != 7 || s.Messages != 1 {
		t.Errorf("Stats %+v, want 7 sent in 1 message", s)
	}

	late := alertN(9)
	save(t, st, time.Now(), []store.Alert{late}, "mail")
	d.Kick()
	waitDelivered(t, st)
	msgs = mp.Messages(t)
	if len(msgs) != 2 || msgs[1].Subject != "[offbox] warning auth_failure on router9" {
		t.Fatalf("after one more alert: %d messages, the last %q; want 2, the last about router9", len(msgs), msgs[len(msgs)-1].Subject)
	}
}

// TestEmailRefusesPlainServerIntegration: a server that does not offer
// STARTTLS gets nothing from a sink that requires it (the default); with
// tls: none written, the same server gets the alert.
func TestEmailRefusesPlainServerIntegration(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, mailpit.Options{TLS: mailpit.NoTLS})
	out := newFakeOutbox()
	d := newDispatcher(t, out, emailSink(t, mp, ""))
	save(t, out, time.Now(), []store.Alert{alertN(1)}, "mail")
	run(t, d)
	d.Kick()
	if e := waitLastError(t, out, alertN(1).GroupID); !strings.Contains(e, "does not offer STARTTLS") {
		t.Errorf("LastError %q, want the missing STARTTLS named", e)
	}
	time.Sleep(300 * time.Millisecond)
	if n := mp.Count(t); n != 0 {
		t.Errorf("a server without STARTTLS received %d messages", n)
	}

	out2 := newFakeOutbox()
	d2 := newDispatcher(t, out2, emailSink(t, mp, TLSNone))
	save(t, out2, time.Now(), []store.Alert{alertN(2)}, "mail")
	run(t, d2)
	d2.Kick()
	waitDelivered(t, out2)
	if msgs := mp.Messages(t); len(msgs) != 1 || !strings.Contains(msgs[0].Text, alertN(2).Summary) {
		t.Errorf("with tls: none, mailpit has %d messages, want the alert", len(msgs))
	}
}

// TestEmailImplicitTLSIntegration: tls: implicit speaks TLS from the first
// byte, and the server's certificate is verified: without the ca file
// that signed it nothing is sent.
func TestEmailImplicitTLSIntegration(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, mailpit.Options{TLS: mailpit.ImplicitTLS})
	out := newFakeOutbox()
	d := newDispatcher(t, out, emailSink(t, mp, TLSImplicit))
	save(t, out, time.Now(), []store.Alert{alertN(1)}, "mail")
	run(t, d)
	d.Kick()
	waitDelivered(t, out)
	if msgs := mp.Messages(t); len(msgs) != 1 || msgs[0].Subject != "[offbox] warning auth_failure on router1" {
		t.Fatalf("mailpit has %+v, want the alert", msgs)
	}

	unverified := emailSink(t, mp, TLSImplicit)
	unverified.CA = "" // the system's CAs do not know the test CA
	out2 := newFakeOutbox()
	d2 := newDispatcher(t, out2, unverified)
	save(t, out2, time.Now(), []store.Alert{alertN(2)}, "mail")
	run(t, d2)
	d2.Kick()
	if e := waitLastError(t, out2, alertN(2).GroupID); !strings.Contains(e, "certificate") {
		t.Errorf("LastError %q, want a certificate error", e)
	}
	if n := mp.Count(t); n != 1 {
		t.Errorf("mailpit holds %d messages; the unverified sink sent one", n)
	}
}

// TestEmailRetriesUntilServerIsBackIntegration: while the server is down
// every attempt fails and the alerts stay queued in the store; once it is
// back they all arrive, each once, in one message.
func TestEmailRetriesUntilServerIsBackIntegration(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, mailpit.Options{TLS: mailpit.StartTLS})
	mp.Stop()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "offbox.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d, err := New(Config{Sinks: []SinkConfig{emailSink(t, mp, TLSStartTLS)}, Outbox: st, Logger: testLogger(),
		Poll: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	alerts := []store.Alert{alertN(1), alertN(2), alertN(3)}
	save(t, st, time.Now(), alerts, "mail")
	run(t, d)
	d.Kick()
	waitFor(t, "two failed attempts", func() bool { return d.Stats()["mail"].Failed >= 6 })
	if p, _ := st.PendingDeliveries(context.Background()); p["mail"] != 3 {
		t.Errorf("pending while the server is down: %v, want all 3", p)
	}

	mp.Restart(t)
	waitDelivered(t, st)
	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages after the server came back, want 1 digest of the 3", len(msgs))
	}
	for _, a := range alerts {
		if n := strings.Count(msgs[0].Text, a.Summary+"\n"); n != 1 {
			t.Errorf("%q is %d times in the message, want once", a.Summary, n)
		}
	}
	if !strings.HasPrefix(msgs[0].Subject, "[offbox] 3 alerts: ") {
		t.Errorf("subject %q, want a digest of 3", msgs[0].Subject)
	}
}
