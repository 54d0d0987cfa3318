package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/store"
)

// httpSink POSTs each send as one request: NDJSON (one object per record
// or alert), Elasticsearch/OpenSearch _bulk (an index action line with an
// _id of device/seq/index, so a resent record overwrites itself) or
// Splunk HEC events. A send is taken when the response is 2xx (and, for
// _bulk, reports no item errors).
type httpSink struct {
	cfg    SinkConfig
	client *retryablehttp.Client
	body   bytes.Buffer
	zbuf   bytes.Buffer
	zw     *gzip.Writer
}

const (
	maxErrBody = 256      // bytes of a failed response kept in the error
	maxResp    = 16 << 20 // bytes of a _bulk response read for its errors flag
)

func newHTTP(c SinkConfig) (*httpSink, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: c.timeout(), KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   c.timeout(),
		ExpectContinueTimeout: time.Second,
	}
	if u, err := url.Parse(c.URL); err == nil && u.Scheme == "https" {
		cfg, err := clientTLS(c, u.Hostname())
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	}
	s := &httpSink{cfg: c}
	s.client = &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr, Timeout: c.timeout()},
		Logger:       nil,
		RetryWaitMin: 200 * time.Millisecond,
		RetryWaitMax: time.Second,
		RetryMax:     2, // blips; the runner's backoff takes over after
		CheckRetry:   retryablehttp.DefaultRetryPolicy,
		Backoff: func(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
			return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
		},
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) {
			if resp != nil {
				return resp, nil
			}
			return nil, err
		},
	}
	if c.Gzip {
		s.zw = gzip.NewWriter(&s.zbuf)
	}
	return s, nil
}

// alertJSON is an alert as the http formats carry it.
type alertJSON struct {
	Type     string            `json:"type"` // "alert"
	ID       int64             `json:"alert_id"`
	GroupID  string            `json:"group_id"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	Device   string            `json:"device"`
	Key      string            `json:"key"`
	Summary  string            `json:"summary"`
	Fields   map[string]string `json:"fields"`
	Labels   map[string]string `json:"labels"`
	Count    int               `json:"count"`
	First    string            `json:"first"`
	Last     string            `json:"last"`
	Received string            `json:"received_time"`
}

func toAlertJSON(a *store.Alert) *alertJSON {
	return &alertJSON{Type: "alert", ID: a.ID, GroupID: a.GroupID, Kind: a.Kind, Severity: a.Severity, Device: a.Device,
		Key: a.Key, Summary: a.Summary, Fields: a.Fields, Labels: a.Labels, Count: a.Count,
		First: fmtTime(a.First), Last: fmtTime(a.Last), Received: fmtTime(a.LastReceived)}
}

// document is an item's JSON object: a record as `records -json` prints it,
// or an alert.
func document(it *Item) any {
	if it.Alert != nil {
		return toAlertJSON(it.Alert)
	}
	return export.ToJSON(&store.Record{Device: it.Device, Seq: it.Seq, Index: it.Index, Received: it.Received, Record: it.Record})
}

// docID is the item's identity in the destination.
func docID(it *Item) string {
	if it.Alert != nil {
		return fmt.Sprintf("alert/%d", it.Alert.ID)
	}
	return fmt.Sprintf("%s/%d/%d", it.Device, it.Seq, it.Index)
}

type bulkAction struct {
	Index struct {
		Index string `json:"_index,omitempty"`
		ID    string `json:"_id"`
	} `json:"index"`
}

type hecEvent struct {
	Time       float64 `json:"time"`
	Host       string  `json:"host,omitempty"`
	Source     string  `json:"source,omitempty"`
	Sourcetype string  `json:"sourcetype"`
	Index      string  `json:"index,omitempty"`
	Event      any     `json:"event"`
}

// encode writes items into s.body in the sink's format.
func (s *httpSink) encode(items []Item) error {
	s.body.Reset()
	enc := json.NewEncoder(&s.body) // one object a line; HTML characters escaped
	for i := range items {
		it := &items[i]
		switch s.cfg.format() {
		case FormatESBulk:
			var a bulkAction
			a.Index.Index, a.Index.ID = s.cfg.Index, docID(it)
			if err := enc.Encode(a); err != nil {
				return err
			}
			if err := enc.Encode(document(it)); err != nil {
				return err
			}
		case FormatSplunkHEC:
			ev := hecEvent{Host: it.Device, Sourcetype: "offbox", Index: s.cfg.Index, Event: document(it)}
			if it.Alert != nil {
				ev.Time, ev.Sourcetype = float64(it.Alert.LastReceived.UnixMicro())/1e6, "offbox:alert"
			} else {
				ev.Time, ev.Source = float64(it.Record.GetTimeNs()/1000)/1e6, it.Record.GetSource()
			}
			if err := enc.Encode(ev); err != nil {
				return err
			}
		default:
			if err := enc.Encode(document(it)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Send implements Sink.
func (s *httpSink) Send(ctx context.Context, items []Item) error {
	if err := s.encode(items); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	body := s.body.Bytes()
	if s.zw != nil {
		s.zbuf.Reset()
		s.zw.Reset(&s.zbuf)
		if _, err := s.zw.Write(body); err != nil {
			return err
		}
		if err := s.zw.Close(); err != nil {
			return err
		}
		body = s.zbuf.Bytes()
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, body)
	if err != nil {
		return err
	}
	for k, v := range s.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "offbox-ingest")
	if s.cfg.format() == FormatSplunkHEC {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Header.Set("Content-Type", "application/x-ndjson")
	}
	if s.zw != nil {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, oneLine(snippet))
	}
	if s.cfg.format() == FormatESBulk {
		// _bulk answers 200 even when items failed; it says so in errors.
		var r struct {
			Errors bool `json:"errors"`
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResp))
		if err != nil {
			return err
		}
		if json.Unmarshal(data, &r) != nil || r.Errors {
			return fmt.Errorf("_bulk reported item errors: %s", oneLine(data[:min(len(data), maxErrBody)]))
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return nil
}

func oneLine(b []byte) string {
	return strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
}

// Close implements Sink.
func (s *httpSink) Close() error {
	s.client.HTTPClient.CloseIdleConnections()
	return nil
}
