package forward

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPSVerifiesDestination: an https sink trusts its ca: file and
// nothing else; a _bulk response reporting item errors is a failure, and
// the send is repeated with the same _ids.
func TestHTTPSVerifiesDestination(t *testing.T) {
	var requests, ok atomic.Int64
	var mu sync.Mutex
	ids := map[string]int{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := requests.Add(1)
		mu.Lock()
		defer mu.Unlock()
		for _, l := range strings.Split(string(body), "\n") {
			if i := strings.Index(l, `"_id":"`); i >= 0 {
				ids[l[i+7:strings.IndexByte(l[i+7:], '"')+i+7]]++
			}
		}
		if n == 1 {
			fmt.Fprint(w, `{"took":1,"errors":true,"items":[{"index":{"status":429}}]}`)
			return
		}
		ok.Add(1)
		fmt.Fprint(w, `{"took":1,"errors":false,"items":[]}`)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := newStore(t)
	fl := newFleet("router-1")
	fl.commit(t, st, 1, 10, 40)
	fw, _ := runForwarder(t, st,
		SinkConfig{Name: "trusted", Type: TypeHTTP, URL: srv.URL, Format: FormatESBulk, CA: caFile},
		SinkConfig{Name: "system-roots", Type: TypeHTTP, URL: srv.URL, Format: FormatESBulk})
	waitFor(t, 10*time.Second, "the trusted sink to deliver and the other to fail", func() bool {
		s := fw.Stats()
		return s[0].Records == int64(fl.total) && s[1].Failures > 0
	})
	s := fw.Stats()
	if s[0].Failures != 1 {
		t.Errorf("trusted: %d failures, want 1 (the _bulk item errors)", s[0].Failures)
	}
	if s[1].Records != 0 || s[1].Failures == 0 || !strings.Contains(s[1].LastError, "certificate signed by unknown authority") {
		t.Errorf("a sink without ca: delivered %d, %d failures, last error %q", s[1].Records, s[1].Failures, s[1].LastError)
	}
	if requests.Load() != 2 || ok.Load() != 1 {
		t.Errorf("%d requests, %d taken; want 2 and 1", requests.Load(), ok.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range ids {
		if n != 2 {
			t.Errorf("_id %s sent %d times, want twice (refused, then again)", id, n)
		}
	}
	if len(ids) != fl.total {
		t.Errorf("%d _ids, want %d", len(ids), fl.total)
	}
}
