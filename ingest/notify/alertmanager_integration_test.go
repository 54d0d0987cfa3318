package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/testpeer"
)

const alertmanagerBin = "/usr/bin/prometheus-alertmanager" // Debian's prometheus-alertmanager

// TestAlertmanagerIntegration delivers two alerts through the Dispatcher to
// a real Alertmanager and reads them back from its API.
func TestAlertmanagerIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; skipped under -short")
	}
	testpeer.LookPath(t, "prometheus-alertmanager", alertmanagerBin)
	base := startAlertmanager(t)

	out := newFakeOutbox()
	d := newDispatcher(t, out, SinkConfig{Name: "am", Type: TypeAlertmanager, URL: base, Timeout: 5 * time.Second})
	now := time.Now().UTC().Truncate(time.Second)
	a1 := alertN(1)
	a1.First, a1.Last = now.Add(-2*time.Minute), now.Add(-time.Minute)
	a1.Labels = map[string]string{"site": "ams-1", "rack.row": "r7"}
	a1.Fields = map[string]string{"user": "root", "source ip": "10.0.0.9"}
	a2 := alertN(2)
	a2.Kind, a2.Severity, a2.GroupID, a2.Key = "fork", store.SeverityCritical, "fork/router2", ""
	a2.First, a2.Last = now.Add(-time.Minute), now.Add(-time.Minute)
	save(t, out, time.Now(), []store.Alert{a1, a2}, "am")
	run(t, d)
	waitDelivered(t, out)

	var got []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		Status      struct {
			State string `json:"state"`
		} `json:"status"`
	}
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Alertmanager has %d alerts, want 2: %+v", len(got), got)
	}
	byGroup := map[string]int{}
	for i, g := range got {
		byGroup[g.Labels["offbox_group"]] = i
	}
	for _, tc := range []struct {
		a      store.Alert
		labels map[string]string
		ann    map[string]string
	}{
		{a1,
			map[string]string{"alertname": "auth_failure", "severity": "warning", "device": "router1", "key": "root",
				"offbox_group": a1.GroupID, "site": "ams-1", "rack_row": "r7"},
			map[string]string{"summary": a1.Summary, "collector": "ingest1", "user": "root", "source_ip": "10.0.0.9"}},
		{a2,
			map[string]string{"alertname": "fork", "severity": "critical", "device": "router2",
				"offbox_group": "fork/router2", "site": "ams"},
			map[string]string{"summary": a2.Summary, "collector": "ingest1", "user": "root", "from": "10.0.0.9"}},
	} {
		i, ok := byGroup[tc.a.GroupID]
		if !ok {
			t.Errorf("%s not in Alertmanager", tc.a.GroupID)
			continue
		}
		g := got[i]
		if !equalMaps(g.Labels, tc.labels) {
			t.Errorf("%s labels %v\nwant %v", tc.a.GroupID, g.Labels, tc.labels)
		}
		if !equalMaps(g.Annotations, tc.ann) {
			t.Errorf("%s annotations %v\nwant %v", tc.a.GroupID, g.Annotations, tc.ann)
		}
		if !g.StartsAt.Equal(tc.a.First) {
			t.Errorf("%s startsAt %s, want %s", tc.a.GroupID, g.StartsAt, tc.a.First)
		}
		if g.Status.State != "active" {
			t.Errorf("%s state %q, want active", tc.a.GroupID, g.Status.State)
		}
	}
}

// startAlertmanager runs Alertmanager on a free loopback port with a null
// receiver and returns its base URL once it is ready.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(conf, []byte("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, alertmanagerBin,
		"--config.file="+conf,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=")
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel() // kills the process
		<-exited
		if t.Failed() {
			t.Logf("alertmanager output:\n%s", log.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-exited:
			t.Fatalf("alertmanager exited:\n%s", log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready at %s: %v\n%s", base, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
}

// syncBuffer is a bytes.Buffer safe for the process's two output pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
