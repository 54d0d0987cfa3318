package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRenewalKeepsTheChain: a device enrolled with a short-lived
// certificate renews it twice while it ships a steady stream of lines; each
// renewal is a new key, announced in the chain under the old key, written
// over the agent's two files, and used from the next connection. Every
// line is stored once and `offbox-ingest verify` passes across the key
// changes, counting them.
func TestRenewalKeepsTheChain(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "unused") // the CA and the collector's certificate; the device enrolls
	db := filepath.Join(dir, "store.db")
	cfg := collectorConfig(t, dir, fmt.Sprintf("enroll:\n  ca_key: %s\n  cert_validity: 24s\n", filepath.Join(string(p), "ca-key.pem")))
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)

	tok, se, code := run(t, bin.ingest, "token", "create", "-device", "renewer", "-db", db)
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, se)
	}
	creds := filepath.Join(dir, "creds")
	if _, se, code := run(t, bin.agent, "enroll", "-server", in.addr, "-ca", p.ca(), "-token", strings.TrimSpace(tok), "-dir", creds); code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, se)
	}
	certFile, keyFile := filepath.Join(creds, "device.pem"), filepath.Join(creds, "device-key.pem")
	firstKey, _ := os.ReadFile(keyFile)

	logf := filepath.Join(dir, "app.log")
	appendLines(t, logf, "rn", 0, 0)
	agentCfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(agentCfg, []byte(fmt.Sprintf(`server: %s
tls: {ca: %s, cert: %s, key: %s}
tail: [%s]
renew: {check: 1s}
clock: {enabled: false}
watch: {enabled: false}
`, in.addr, p.ca(), certFile, keyFile, logf)), 0o644)
	ag := start(t, bin.agent, "run", "-config", agentCfg)
	defer ag.stop()

	// A line every 20 ms for as long as two renewals take (each due 16 s
	// into a 24 s certificate).
	rotated := regexp.MustCompile(`device certificate renewed`)
	n := 0
	deadline := time.Now().Add(90 * time.Second)
	for len(rotated.FindAllString(ag.out.String(), -1)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 2 renewals in 90s; agent log:\n%s", ag.out.String())
		}
		if ag.exited() {
			t.Fatalf("agent exited: %s", ag.out.String())
		}
		appendLines(t, logf, "rn", n, n+5)
		n += 5
		time.Sleep(20 * time.Millisecond)
	}
	appendLines(t, logf, "rn", n, n+100)
	n += 100
	source := "file:" + logf
	waitFor(t, 30*time.Second, "every line stored", func() bool { return count(t, db, "-source", source) >= n })
	checkExactlyOnce(t, records(t, db, "-source", source), source, "rn", n)

	if newKey, _ := os.ReadFile(keyFile); string(newKey) == string(firstKey) {
		t.Error("the key file was not replaced")
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	out, se, code := run(t, bin.ingest, "verify", "-db", db, "-device", "renewer")
	if code != 0 {
		t.Fatalf("verify across the key changes: exit %d\n%s%s", code, out, se)
	}
	if m := regexp.MustCompile(`key_rotations=(\d+)`).FindStringSubmatch(out); m == nil || len(m[1]) == 1 && m[1] < "2" {
		t.Errorf("verify counted no key rotations (want ≥ 2): %s", out)
	}
	if strings.Contains(in.out.String(), "identity_mismatch") {
		t.Errorf("the collector saw an identity mismatch during renewal:\n%s", in.out.String())
	}
}
