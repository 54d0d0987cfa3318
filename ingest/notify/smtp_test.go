package notify

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// hostileServer accepts SMTP connections on loopback and runs serve on
// each; it returns the sink's smtp value.
func hostileServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return l.Addr().String()
}

// TestMailerBoundsHostileServer: a server that never answers, or answers
// without end, costs one session's timeout or 1 MiB, never more.
func TestMailerBoundsHostileServer(t *testing.T) {
	t.Parallel()
	silent := hostileServer(t, func(c net.Conn) { time.Sleep(5 * time.Second) })
	endless := hostileServer(t, func(c net.Conn) {
		line := []byte("220-" + strings.Repeat("x", 1000) + "\r\n")
		for {
			if _, err := c.Write(line); err != nil {
				return
			}
		}
	})
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"silent", silent, "timeout"},
		{"endless", endless, "more than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, err := newMailer(SinkConfig{Name: "mail", Type: TypeEmail, Timeout: 500 * time.Millisecond,
				Email: Email{SMTP: tc.addr, From: "a@example.net", To: []string{"b@example.net"}}}, "ingest1")
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = m.send(context.Background(), []byte("Subject: x\r\n\r\nx\r\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("send = %v, want an error containing %q", err, tc.want)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("send took %s, past its 500ms timeout", d)
			}
		})
	}
}

func TestHeloName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ingest-1.example.net": "ingest-1.example.net", "": "localhost",
		"bad name\r\nMAIL FROM:<x>": "localhost", "ünï": "localhost"} {
		if got := heloName(in); got != want {
			t.Errorf("heloName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDigestFailsTogether: a digest that cannot be sent leaves every one of
// its deliveries pending with the same attempt count, error and next
// attempt, so they are retried together, and counts them failed.
func TestDigestFailsTogether(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	out := newFakeOutbox()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := newDispatcherAt(t, func() time.Time { return now }, out, SinkConfig{Name: "mail", Type: TypeEmail,
		Email: Email{SMTP: closed, From: "a@example.net", To: []string{"b@example.net"}, DigestWindow: time.Second}})
	save(t, out, now.Add(-2*time.Second), []store.Alert{alertN(1), alertN(2), alertN(3)}, "mail")
	save(t, out, now.Add(-1500*time.Millisecond), []store.Alert{alertN(4)}, "mail")
	run(t, d)
	d.Kick()
	waitFor(t, "the digest's outcome", func() bool {
		out.mu.Lock()
		defer out.mu.Unlock()
		return len(out.finishes) >= 4
	})
	out.mu.Lock()
	fs := append([]store.Delivery(nil), out.finishes[:4]...)
	out.mu.Unlock()
	for _, f := range fs {
		if f.State != store.DeliveryPending || f.Attempts != 1 || f.LastError == "" || !f.NextAttempt.After(now) ||
			f.NextAttempt != fs[0].NextAttempt || f.LastError != fs[0].LastError {
			t.Errorf("delivery of alert %d: %+v; want all 4 pending alike after 1 attempt", f.AlertID, f)
		}
	}
	if !strings.Contains(fs[0].LastError, "connection refused") {
		t.Errorf("LastError %q", fs[0].LastError)
	}
	if s := d.Stats()["mail"]; s.Failed != 4 || s.Sent != 0 || s.Messages != 0 {
		t.Errorf("Stats %+v, want 4 failed", s)
	}
}
