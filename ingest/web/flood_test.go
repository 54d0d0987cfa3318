package web_test

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/alerts"
	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/notify"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/ingest/web"
)

// TestAccessFlood: the collector's operator listener wired as serve wires
// it (API and dashboard behind one Auth, a real SQLite file, detection,
// delivery to a webhook and a Slack sink) takes 3,000 refused API calls,
// 3,000 refreshes of an open dashboard page, and a few dozen requests with
// ~900 KB query strings, refused and authorised. It must not flood: a
// handful of log_access alerts, the refused ones counting every refused
// call and the dashboard's every read, the database grown by less than
// 5 MB, fewer than 10 posts to the sinks.
func TestAccessFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a real store: skipped under -short")
	}
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := filepath.Join(t.TempDir(), "offbox.db")
	st, err := sqlite.Open(db, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			st.Close()
		}
	})
	const token = "obo_flood-test-token"
	sum := sha256.Sum256([]byte(token))
	if err := st.CreateOperatorToken(ctx, store.OperatorToken{Hash: sum[:], Name: "alice", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, db)

	var posts atomic.Int64
	sinkSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	defer sinkSrv.Close()
	sinks := []notify.SinkConfig{{Name: "hook", Type: notify.TypeWebhook, URL: sinkSrv.URL + "/hook"},
		{Name: "chat", Type: notify.TypeSlack, URL: sinkSrv.URL + "/slack"}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	disp, err := notify.New(notify.Config{Sinks: sinks, Outbox: st, Logger: quiet, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := alerts.New(alerts.Config{Store: st, Delivered: disp.Kick, Poll: 20 * time.Millisecond,
		Route: func(a store.Alert) []string {
			var out []string
			for _, s := range sinks {
				if s.Wants(a) {
					out = append(out, s.Name)
				}
			}
			return out
		}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); disp.Run(ctx) }()
	go func() { defer wg.Done(); runner.Run(ctx) }()
	defer wg.Wait()
	defer cancel()

	// As serve's apiHandler, with a short refusal window so that the
	// summary of the calls past the burst is written within the test.
	auth := &api.Auth{Store: st, Logger: quiet, RefusedWindow: time.Second}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Config{Store: st, Auth: auth, Logger: quiet}))
	mux.Handle("/", web.New(web.Config{Store: st, Auth: auth, Logger: quiet}))
	srv := httptest.NewServer(api.Permitted(mux, web.Fail))
	defer srv.Close()
	client := srv.Client()
	get := func(path, token string, partial bool) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.AddCookie(&http.Cookie{Name: api.CookieName, Value: token})
		}
		if partial {
			req.Header.Set(web.PartialHeader, "1")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %.60s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	const small, big = 3000, 20
	huge := "q=" + strings.Repeat("A", 900<<10)
	for i := range small {
		if code := get("/api/v1/devices?try="+strconv.Itoa(i), "obo_wrong", false); code != http.StatusUnauthorized {
			t.Fatalf("refused call: %d, want 401", code)
		}
	}
	for range big {
		if code := get("/api/v1/devices?"+huge, "", false); code != http.StatusUnauthorized {
			t.Fatalf("refused huge call: %d, want 401", code)
		}
	}
	if code := get("/", token, false); code != http.StatusOK {
		t.Fatalf("opening the fleet page: %d", code)
	}
	for range small {
		if code := get("/", token, true); code != http.StatusOK {
			t.Fatalf("refresh: %d", code)
		}
	}
	for range big {
		get("/?"+huge, token, false)
	}

	// Every call counted: the refused in their alert (past the burst, in
	// the window's summary), each dashboard read in alice's.
	wantRefused, wantAlice := small+big, 1+small+big
	var got []store.Alert
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err = st.Alerts(ctx, store.AlertQuery{Kind: "log_access"})
		if err != nil {
			t.Fatal(err)
		}
		refused, alice := 0, 0
		for _, a := range got {
			switch a.Fields["who"] {
			case api.WhoUnauthenticated:
				refused += a.Count
			case "token:alice":
				alice += a.Count
			}
		}
		pending, err := st.PendingDeliveries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if refused == wantRefused && alice == wantAlice && pending["hook"] == 0 && pending["chat"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log_access counts: refused %d, alice %d, want %d and %d; pending deliveries %v",
				refused, alice, wantRefused, wantAlice, pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// One alert per operator (or refused source) and method: two GET groups.
	if len(got) != 2 {
		t.Errorf("%d log_access alerts, want 2 (the refused calls from 127.0.0.1, and alice's reads)", len(got))
	}
	for _, a := range got {
		if len(a.Summary) > 4096 || len(a.Fields["what"]) > 2048 {
			t.Errorf("alert %s holds %d bytes of summary, %d of what: the query was not cut", a.Key, len(a.Summary), len(a.Fields["what"]))
		}
	}
	if total, unrecorded := auth.Refused(); total != uint64(wantRefused) || unrecorded == 0 {
		t.Errorf("Refused() = %d, %d not recorded one by one; want %d, most not recorded one by one", total, unrecorded, wantRefused)
	}
	if n := posts.Load(); n >= 10 {
		t.Errorf("%d posts to the sinks, want fewer than 10", n)
	}
	cancel()
	wg.Wait()
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if grown := fileSize(t, db) - before; grown >= 5<<20 {
		t.Errorf("the database grew by %d bytes, want under 5 MB", grown)
	} else {
		t.Logf("database grew by %d bytes; %d sink posts; %d alerts", grown, posts.Load(), len(got))
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		fi, err := os.Stat(path + suffix)
		if err == nil {
			n += fi.Size()
		}
	}
	return n
}
