package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAPITriageOperatorCert: over real TLS, an operator certificate
// acknowledges an alert raised by a real agent with a POST, and GET of the
// alert shows the transition by cert:carol with the note; a POST without
// credentials is refused and changes nothing.
func TestAPITriageOperatorCert(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	p := newPKI(t, "api-tri")
	ops := pki(filepath.Join(dir, "ops"))
	if _, se, code := run(t, bin.ingest, "dev-certs", "-out", string(ops), "-operator", "carol"); code != 0 {
		t.Fatalf("dev-certs -operator: exit %d: %s", code, se)
	}
	cfg := filepath.Join(dir, "ingest.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, "api:\n  listen: 127.0.0.1:0\n  tls:\n    cert: %s\n    key: %s\n    client_ca: %s\n",
		p.cert("ingest"), p.key("ingest"), ops.cert("operator-ca")), 0o600)
	db := filepath.Join(dir, "api.db")
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", cfg)
	var apiAddr string
	waitFor(t, 10*time.Second, "the api listening line", func() bool {
		if m := apiListeningRE.FindStringSubmatch(in.out.String()); m != nil {
			apiAddr = m[1]
		}
		return apiAddr != ""
	})
	logf := filepath.Join(dir, "auth.log")
	stamp := time.Now().Format(time.Stamp)
	var lines []string
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("%s api-tri sshd[%d]: Failed password for admin from 198.51.100.23 port %d ssh2", stamp, 4100+i, 50000+i))
	}
	os.WriteFile(logf, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	startAgent(t, p, "api-tri", in.addr, "-tail", logf, "-start-at", "beginning")
	var id int64
	waitFor(t, 30*time.Second, "the brute_force alert", func() bool {
		out, _, _ := run(t, bin.ingest, "alerts", "-db", db, "-json", "-kind", "brute_force")
		var a struct{ ID int64 }
		if json.Unmarshal([]byte(out), &a) == nil && a.ID > 0 {
			id = a.ID
		}
		return id > 0
	})
	carol, err := tls.LoadX509KeyPair(ops.cert("carol"), ops.key("carol"))
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("https://%s/api/v1/alerts/%d", apiAddr, id)
	post := func(c *http.Client, body string) (int, string) {
		t.Helper()
		resp, err := c.Post(base+"/ack", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(apiClient(t, p, nil, "127.0.0.1"), `{"comment":"anonymous"}`); code != http.StatusUnauthorized {
		t.Errorf("POST without credentials: %d %s, want 401", code, body)
	}
	as := apiClient(t, p, &carol, "127.0.0.1")
	if code, body := post(as, `{"comment":"scanner from the lab"}`); code != 200 || !strings.Contains(body, fmt.Sprintf(`"changed":[%d]`, id)) {
		t.Fatalf("POST as carol: %d %s", code, body)
	}
	code, body, err := apiGet(as, base, "")
	if err != nil || code != 200 {
		t.Fatalf("GET alert: %d %s %v", code, body, err)
	}
	var v struct {
		State   string `json:"state"`
		History []struct {
			Action, Who, Via, Comment string
		} `json:"history"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	if v.State != "acknowledged" || len(v.History) != 1 || v.History[0].Who != "cert:carol" || v.History[0].Via != "api" ||
		v.History[0].Comment != "scanner from the lab" {
		t.Errorf("alert after the POST: %s", body)
	}
}
