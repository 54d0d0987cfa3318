package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/testpeer/mailpit"
)

// TestBruteForceByEmailEndToEnd: the real agent ships a brute-force burst
// whose log lines carry markup; the collector raises its alerts and they
// arrive through a real SMTP server (Mailpit, STARTTLS and AUTH required)
// as one digest: subject, sender and recipients as configured, the alerts
// in both parts, the log content escaped in the HTML part.
func TestBruteForceByEmailEndToEnd(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	mp := mailpit.Start(t, mailpit.Options{TLS: mailpit.StartTLS, Users: map[string]string{"offbox": "mail-s3cret"}})
	pw := filepath.Join(dir, "smtp-password")
	if err := os.WriteFile(pw, []byte("mail-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPKI(t, "sw-edge-1")
	cfg := collectorConfig(t, dir, fmt.Sprintf(`alerting:
  sinks:
    - name: soc-mail
      type: email
      smtp: %q
      ca: %q
      username: offbox
      password_file: %q
      from: "offbox <offbox@example.net>"
      to: [soc@example.net, oncall@example.net]
      min_severity: warning
      digest_window: 5s
`, mp.SMTP, mp.CA, pw))
	in := startIngest(t, p, filepath.Join(dir, "store.db"), "127.0.0.1:0", "-config", cfg)

	log := filepath.Join(dir, "auth.log")
	stamp := time.Now().Format(time.Stamp)
	user := "<b>adm</b>"
	var lines []string
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("%s sw-edge-1 sshd[%d]: Failed password for invalid user %s from 198.51.100.23 port %d ssh2", stamp, 4100+i, user, 50000+i))
	}
	lines = append(lines, stamp+" sw-edge-1 sshd[4200]: Accepted password for "+user+" from 198.51.100.23 port 50100 ssh2")
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, p, "sw-edge-1", in.addr, "-tail", log, "-start-at", "beginning")

	waitFor(t, 60*time.Second, "the alerts by mail", func() bool {
		if ag.exited() || in.exited() {
			t.Fatalf("a process exited: agent %s\ncollector %s", ag.out.String(), in.out.String())
		}
		return mp.Count(t) > 0
	})
	time.Sleep(4 * time.Second) // room for a wrongful second message to show
	msgs := mp.Messages(t)
	if len(msgs) != 1 {
		var subjects []string
		for _, m := range msgs {
			subjects = append(subjects, m.Subject)
		}
		t.Fatalf("%d messages (%q), want the burst's warnings in one digest", len(msgs), subjects)
	}
	m := msgs[0]
	// The digest holds every warning or critical alert stored for the
	// device (auth_success is a warning outside working hours), each once.
	var want []string
	for _, a := range storedAlerts(t, in.db, "-device", "sw-edge-1") {
		if a.Severity == "warning" || a.Severity == "critical" {
			want = append(want, fmt.Sprintf("[%s] %s on sw-edge-1\n", a.Severity, a.Kind))
		}
	}
	if !strings.HasPrefix(m.Subject, fmt.Sprintf("[offbox] %d alerts: ", len(want))) || !strings.Contains(m.Subject, "warning brute_force on sw-edge-1") ||
		!strings.Contains(m.Subject, "critical success_after_failures on sw-edge-1") {
		t.Errorf("subject %q, want a digest of %d alerts with brute_force and success_after_failures on sw-edge-1", m.Subject, len(want))
	}
	for _, w := range want {
		if n := strings.Count(m.Text, w); n != 1 {
			t.Errorf("%q is %d times in the text part, want once:\n%s", w, n, m.Text)
		}
	}
	if m.From.Address != "offbox@example.net" || len(m.To) != 2 || m.To[0].Address != "soc@example.net" || m.To[1].Address != "oncall@example.net" {
		t.Errorf("from %+v to %+v", m.From, m.To)
	}
	for _, part := range []string{m.Text, m.HTML} {
		if !strings.Contains(part, "198.51.100.23") || !strings.Contains(part, "brute_force") || !strings.Contains(part, "success_after_failures") {
			t.Errorf("a part lacks the alerts:\n%s", part)
		}
	}
	if strings.Contains(m.Text, "auth_failure on") {
		t.Errorf("an info alert reached a min_severity: warning sink:\n%s", m.Text)
	}
	if !strings.Contains(m.Text, "user: "+user) {
		t.Errorf("text part lacks the user as logged (%q):\n%s", user, m.Text)
	}
	if strings.Contains(m.HTML, user) || !strings.Contains(m.HTML, "&lt;b&gt;adm&lt;/b&gt;") {
		t.Errorf("the HTML part does not escape the logged user name:\n%s", m.HTML)
	}
}
