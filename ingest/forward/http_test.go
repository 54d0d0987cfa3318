package forward

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// decodeBody is a request's body, gunzipped when it says it is gzip.
func decodeBody(t *testing.T, r *http.Request) []byte {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("gzip: %v", err)
			return nil
		}
		rd = z
	}
	b, err := io.ReadAll(rd)
	if err != nil && r.Context().Err() == nil {
		t.Errorf("body: %v", err)
	}
	return b
}

type docJSON struct {
	Type    string `json:"type"`
	Device  string `json:"device"`
	Seq     uint64 `json:"seq"`
	Index   int    `json:"index"`
	Body    string `json:"body"`
	Source  string `json:"source"`
	AlertID int64  `json:"alert_id"`
	Kind    string `json:"kind"`
}

// httpDestination checks each request of format f and records what it
// carried; refuse, when it returns true, answers 503 after reading the
// body (so what it carried was not taken); it sees every request.
func httpDestination(t *testing.T, f string, gz bool, refuse func(*http.Request) bool) (*httptest.Server, *received, *atomic.Int64) {
	rec := &received{}
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if got := r.Header.Get("Authorization"); got != "Bearer t0ken" {
			t.Errorf("Authorization = %q", got)
		}
		if (r.Header.Get("Content-Encoding") == "gzip") != gz {
			t.Errorf("Content-Encoding = %q, gzip %v", r.Header.Get("Content-Encoding"), gz)
		}
		wantType := "application/x-ndjson"
		if f == FormatSplunkHEC {
			wantType = "application/json"
		}
		if ct := r.Header.Get("Content-Type"); ct != wantType {
			t.Errorf("Content-Type = %q, want %q", ct, wantType)
		}
		body := decodeBody(t, r)
		if r.Context().Err() != nil { // the sender went away (stopped) mid-request
			return
		}
		if refuse != nil && refuse(r) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var docs []docJSON
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			switch f {
			case FormatESBulk:
				var a struct {
					Index struct {
						Index string `json:"_index"`
						ID    string `json:"_id"`
					} `json:"index"`
				}
				if err := json.Unmarshal(line, &a); err != nil || a.Index.Index != "logs-offbox" || a.Index.ID == "" {
					t.Errorf("action line %s: %v", line, err)
					return
				}
				if !sc.Scan() {
					t.Error("action line without a document")
					return
				}
				var d docJSON
				if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
					t.Errorf("document %s: %v", sc.Bytes(), err)
					return
				}
				wantID := fmt.Sprintf("%s/%d/%d", d.Device, d.Seq, d.Index)
				if d.Type == "alert" {
					wantID = fmt.Sprintf("alert/%d", d.AlertID)
				}
				if a.Index.ID != wantID {
					t.Errorf("_id %q for document %s/%d/%d", a.Index.ID, d.Device, d.Seq, d.Index)
				}
				docs = append(docs, d)
			case FormatSplunkHEC:
				var e struct {
					Time       float64 `json:"time"`
					Host       string  `json:"host"`
					Source     string  `json:"source"`
					Sourcetype string  `json:"sourcetype"`
					Index      string  `json:"index"`
					Event      docJSON `json:"event"`
				}
				if err := json.Unmarshal(line, &e); err != nil {
					t.Errorf("HEC event %s: %v", line, err)
					return
				}
				if e.Event.Type != "alert" && (e.Host != e.Event.Device || e.Source != e.Event.Source || e.Sourcetype != "offbox" ||
					e.Index != "logs-offbox" || e.Time < 1.7e9) {
					t.Errorf("HEC envelope %s", line)
				}
				docs = append(docs, e.Event)
			default:
				var d docJSON
				if err := json.Unmarshal(line, &d); err != nil {
					t.Errorf("NDJSON line %s: %v", line, err)
					return
				}
				docs = append(docs, d)
			}
		}
		for _, d := range docs {
			if d.Type == "alert" {
				rec.mu.Lock()
				rec.alert = append(rec.alert, d.Kind)
				rec.mu.Unlock()
				continue
			}
			if !strings.HasPrefix(d.Body, d.Source) {
				t.Errorf("record %s/%d/%d body %q", d.Device, d.Seq, d.Index, d.Body)
			}
			rec.add(d.Device, d.Seq, d.Index)
		}
		if f == FormatESBulk {
			fmt.Fprint(w, `{"took":1,"errors":false,"items":[]}`)
		} else if f == FormatSplunkHEC {
			fmt.Fprint(w, `{"text":"Success","code":0}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, rec, &requests
}

// TestHTTPFormats: every stored record reaches the destination once, in
// order per device, in each format, gzipped or not; alerts too when asked.
func TestHTTPFormats(t *testing.T) {
	for _, f := range []string{FormatNDJSON, FormatESBulk, FormatSplunkHEC} {
		for _, gz := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gzip=%v", f, gz), func(t *testing.T) {
				t.Parallel()
				st, _ := newStore(t)
				fl := newFleet("router-1", "sw-2")
				fl.commit(t, st, 3, 70, 60)
				srv, rec, _ := httpDestination(t, f, gz, nil)
				if err := st.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: store.Alert{GroupID: "g1",
					Kind: "brute_force", Severity: "critical", Device: "router-1", Summary: "5 failures"}}}}); err != nil {
					t.Fatal(err)
				}
				fw, _ := runForwarder(t, st, SinkConfig{Name: "siem", Type: TypeHTTP, URL: srv.URL, Format: f, Gzip: gz,
					Index: "logs-offbox", Headers: map[string]string{"Authorization": "Bearer t0ken"}, BatchRecords: 50, Alerts: true})
				waitFor(t, 10*time.Second, "every record", func() bool { return rec.count() >= fl.total })
				waitFor(t, 5*time.Second, "the alert", func() bool { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.alert) == 1 })
				if dups := rec.check(t, fl.want); dups != 0 {
					t.Errorf("%d records arrived twice", dups)
				}
				waitFor(t, 5*time.Second, "no backlog", func() bool {
					s := fw.Stats()[0]
					return s.Backlog.Batches == 0 && s.Records == int64(fl.total) && s.Alerts == 1
				})
			})
		}
	}
}

// TestHTTPRefusingDestination: a destination that refuses three requests
// of four (more than the client's quick retries), then a collector restart:
// every record arrives, none that was acknowledged (2xx) is sent again,
// and the restart resumes from the stored cursor.
func TestHTTPRefusingDestination(t *testing.T) {
	st, _ := newStore(t)
	fl := newFleet("router-1", "sw-2", "ap-3")
	fl.commit(t, st, 4, 37, 80)
	var n atomic.Int64
	srv, rec, requests := httpDestination(t, FormatNDJSON, false, func(*http.Request) bool { return n.Add(1)%4 != 0 })
	sink := SinkConfig{Name: "siem", Type: TypeHTTP, URL: srv.URL, BatchRecords: 60,
		Headers: map[string]string{"Authorization": "Bearer t0ken"}}
	fw, stop := runForwarder(t, st, sink)
	waitFor(t, 20*time.Second, "half the records", func() bool { return rec.count() >= fl.total/2 })
	stop()
	s := fw.Stats()[0]
	if s.Failures == 0 || !strings.Contains(s.LastError, "HTTP 503") {
		t.Errorf("stats after refusals: failures %d, last error %q", s.Failures, s.LastError)
	}
	before := rec.count()
	if int64(before) != s.Records {
		t.Errorf("destination took %d records, the sink counted %d acknowledged", before, s.Records)
	}
	cur, err := st.ForwardCursor(ctx, "siem")
	if err != nil || cur.BatchRow != s.Cursor.BatchRow || cur.Index != s.Cursor.Index || !cur.Updated.Equal(s.Cursor.Updated) {
		t.Fatalf("stored cursor %+v, %v; the sink's %+v", cur, err, s.Cursor)
	}

	// More records while no collector forwards, then a restart.
	fl.commit(t, st, 2, 37, 80)
	reqs := requests.Load()
	_, stop2 := runForwarder(t, st, sink)
	waitFor(t, 20*time.Second, "every record after the restart", func() bool { return rec.count() >= fl.total })
	stop2()
	if dups := rec.check(t, fl.want); dups != 0 {
		t.Errorf("%d acknowledged records were sent again", dups)
	}
	if requests.Load() == reqs {
		t.Error("no request after the restart")
	}
}

// TestHTTPStopMidRequest: a forwarder stopped while the destination holds
// a request lets it finish and saves its cursor, so what the destination
// took is counted as sent and not sent again after a restart.
func TestHTTPStopMidRequest(t *testing.T) {
	st, _ := newStore(t)
	fl := newFleet("router-1")
	fl.commit(t, st, 1, 40, 80)
	var took atomic.Int64
	held, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		took.Add(int64(bytes.Count(body, []byte("\n"))))
		select {
		case held <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	fw, stop := runForwarder(t, st, SinkConfig{Name: "siem", Type: TypeHTTP, URL: srv.URL, BatchRecords: 10})
	<-held
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(100 * time.Millisecond) // the stop has begun
	close(release)
	<-stopped
	s := fw.Stats()[0]
	if s.Records != took.Load() || s.Records == 0 {
		t.Fatalf("the destination took %d records, the sink counted %d sent", took.Load(), s.Records)
	}
	cur, err := st.ForwardCursor(ctx, "siem")
	if err != nil || cur.Index != s.Cursor.Index || cur.BatchRow != s.Cursor.BatchRow {
		t.Fatalf("stored cursor %+v (%v), the sink's %+v", cur, err, s.Cursor)
	}
}
