// Package notify delivers stored alerts to their sinks (webhook, Slack,
// Alertmanager) over HTTP through go-retryablehttp, and by email over SMTP
// in digests (email.go, digest.go). The store's outbox is
// the queue: detection saves an alert and a pending delivery per sink in one
// transaction, and the Dispatcher sends what is due and records each
// attempt's outcome. Delivery is at least once per (alert, sink), and again
// at each re-notify (an upsert of the alert queues it anew): an attempt whose
// outcome could not be recorded, or that timed out after the receiver acted
// on it, is sent again, so receivers dedupe with the alert's group_id (the
// webhook's Idempotency-Key header; Alertmanager's offbox_group label). The
// dispatcher never drops an alert: a failure, even a 4xx, leaves the
// delivery pending with a backoff, for an operator to fix the receiver. It
// never blocks its caller (Kick only signals) and one slow sink never holds
// up another: each sink has its own goroutine and HTTP client. It never
// writes alerts, only delivery outcomes.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Outbox is the part of the store the dispatcher uses; store.AlertStore
// satisfies it.
type Outbox interface {
	// DueDeliveries returns at most limit pending deliveries to sink due
	// at or before now, oldest first, each with its alert.
	DueDeliveries(ctx context.Context, sink string, now time.Time, limit int) ([]store.Delivery, error)
	// FinishDelivery records one attempt's outcome.
	FinishDelivery(ctx context.Context, d store.Delivery) error
}

var _ Outbox = store.AlertStore(nil)

// Defaults and limits.
const (
	DefaultPoll       = time.Second
	DefaultMaxBackoff = 5 * time.Minute

	dueBatch      = 32                     // deliveries fetched per round
	firstBackoff  = time.Second            // after the first failed attempt; doubles after each
	retryMax      = 2                      // retries inside one attempt, for blips
	retryWaitMin  = 200 * time.Millisecond // between those retries
	retryWaitMax  = time.Second            //
	maxErrBody    = 256                    // bytes of a failed response's body kept in LastError
	maxDrain      = 64 << 10               // bytes of a response read to reuse the connection
	finishTimeout = 10 * time.Second       // to record an outcome, even while shutting down
)

// Config configures a Dispatcher. Zero fields take their defaults.
type Config struct {
	Sinks      []SinkConfig     // checked by New with CheckSinks
	Outbox     Outbox           // required
	Collector  string           // this collector's name in payloads; "" leaves it out
	Now        func() time.Time // the clock for due times and outcomes; nil: time.Now
	Logger     *slog.Logger     // nil: slog.Default()
	Poll       time.Duration    // how often a sink looks for due deliveries without a Kick; 0: 1s
	MaxBackoff time.Duration    // longest wait between attempts of one delivery; 0: 5m
	Escalate   []EscalateRule   // checked by New with CheckEscalate
	Escalator  Escalator        // required with Escalate (store.TriageStore satisfies it)
}

// Dispatcher sends due deliveries to their sinks until its Run ends.
type Dispatcher struct {
	outbox     Outbox
	origin     Origin
	now        func() time.Time
	log        *slog.Logger
	poll       time.Duration
	maxBackoff time.Duration
	sinks      []*sink
	running    atomic.Bool
	escalate   []store.EscalationRule
	escalator  Escalator
}

// sink is one configured sink and its state.
type sink struct {
	cfg    SinkConfig
	url    string
	encode func(store.Alert, Origin) ([]byte, error)
	client *retryablehttp.Client
	wake   chan struct{} // buffered 1: Kick's signal

	sent, failed atomic.Uint64
	// reported: alerts whose rejection (4xx) was logged at error level;
	// touched only by the sink's goroutine.
	reported map[int64]bool

	mail     *mailer        // type email: sent in digests (digest.go); nil for HTTP sinks
	retrying map[int64]bool // email: alerts of a failed message, sent without waiting for the window
	messages atomic.Uint64  // email: messages accepted by the server
}

// SinkStats counts one sink's attempts since New.
type SinkStats struct {
	Sent   uint64 // deliveries that ended in a 2xx
	Failed uint64 // attempts that did not (each left the delivery pending)
	// Email sinks: messages the server accepted; a digest is one message
	// and its Sent is the deliveries in it.
	Messages uint64
}

// New checks cfg and builds a dispatcher; nothing is sent before Run.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Outbox == nil {
		return nil, errors.New("notify: no outbox")
	}
	if err := CheckSinks(cfg.Sinks); err != nil {
		return nil, err
	}
	if err := CheckEscalate(cfg.Escalate, cfg.Sinks); err != nil {
		return nil, err
	}
	if len(cfg.Escalate) > 0 && cfg.Escalator == nil {
		return nil, errors.New("notify: escalation rules without an escalator")
	}
	d := &Dispatcher{
		outbox: cfg.Outbox, origin: Origin{Collector: cfg.Collector},
		now: cfg.Now, log: cfg.Logger, poll: cfg.Poll, maxBackoff: cfg.MaxBackoff,
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.escalator = cfg.Escalator
	for _, r := range cfg.Escalate {
		d.escalate = append(d.escalate, r.Rule())
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.poll <= 0 {
		d.poll = DefaultPoll
	}
	if d.maxBackoff <= 0 {
		d.maxBackoff = DefaultMaxBackoff
	}
	for _, sc := range cfg.Sinks {
		s, err := newSink(sc, d.log)
		if err != nil {
			return nil, err
		}
		if sc.Type == TypeEmail {
			if s.mail, err = newMailer(sc, cfg.Collector); err != nil {
				return nil, err
			}
			s.retrying = make(map[int64]bool)
		}
		d.sinks = append(d.sinks, s)
	}
	return d, nil
}

func newSink(c SinkConfig, log *slog.Logger) (*sink, error) {
	s := &sink{cfg: c, url: c.URL, wake: make(chan struct{}, 1), reported: make(map[int64]bool)}
	switch c.Type {
	case TypeWebhook:
		s.encode = WebhookBody
	case TypeSlack:
		s.encode = SlackBody
	case TypeAlertmanager:
		s.encode = AlertmanagerBody
		s.url = alertmanagerURL(c.URL)
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: c.timeout(), KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   c.timeout(),
		ExpectContinueTimeout: time.Second,
	}
	if c.CA != "" {
		pool, err := tlsconf.LoadCAPool(c.CA)
		if err != nil {
			return nil, fmt.Errorf("alerting.sinks %s: ca: %w", c.Name, err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	s.client = &retryablehttp.Client{
		HTTPClient:   &http.Client{Transport: tr, Timeout: c.timeout()},
		Logger:       debugLogger{log.With("sink", c.Name)},
		RetryWaitMin: retryWaitMin,
		RetryWaitMax: retryWaitMax,
		RetryMax:     retryMax,
		CheckRetry:   retryPolicy,
		Backoff:      cappedBackoff,
		// Hand back the last response so its status and body go into
		// LastError.
		ErrorHandler: func(resp *http.Response, err error, _ int) (*http.Response, error) {
			if resp != nil {
				return resp, nil
			}
			return nil, err
		},
	}
	return s, nil
}

// alertmanagerURL is the alerts endpoint under an Alertmanager base URL.
func alertmanagerURL(base string) string {
	base = strings.TrimRight(base, "/")
	if strings.HasSuffix(base, "/api/v2/alerts") {
		return base
	}
	return base + "/api/v2/alerts"
}

// retryPolicy is retryablehttp's default (connection errors, 429, 5xx but
// 501) plus 408 Request Timeout.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() == nil && err == nil && resp.StatusCode == http.StatusRequestTimeout {
		return true, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}

// cappedBackoff is retryablehttp's, but a Retry-After never holds the
// sink's goroutine longer than max: the outbox's backoff takes over.
func cappedBackoff(lo, hi time.Duration, n int, resp *http.Response) time.Duration {
	return min(retryablehttp.DefaultBackoff(lo, hi, n, resp), hi)
}

// Kick wakes every sink to look for due deliveries now. It never blocks;
// the detection runner calls it after saving alerts.
func (d *Dispatcher) Kick() {
	for _, s := range d.sinks {
		select {
		case s.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Stats returns each sink's counts, by sink name.
func (d *Dispatcher) Stats() map[string]SinkStats {
	out := make(map[string]SinkStats, len(d.sinks))
	for _, s := range d.sinks {
		out[s.cfg.Name] = SinkStats{Sent: s.sent.Load(), Failed: s.failed.Load(), Messages: s.messages.Load()}
	}
	return out
}

// Run delivers until ctx ends, one goroutine per sink, and returns nil
// then. An attempt cut short by ctx is not recorded: its delivery stays
// pending as stored and is sent again after a restart.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("notify: dispatcher already running")
	}
	var wg sync.WaitGroup
	for _, s := range d.sinks {
		wg.Go(func() { d.runSink(ctx, s) })
	}
	if len(d.escalate) > 0 {
		wg.Go(func() { d.runEscalate(ctx) })
	}
	wg.Wait()
	return nil
}

func (d *Dispatcher) runSink(ctx context.Context, s *sink) {
	t := time.NewTimer(d.poll)
	defer t.Stop()
	for {
		more := d.round(ctx, s)
		if ctx.Err() != nil {
			return
		}
		if more {
			continue
		}
		t.Reset(d.poll)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// round sends one batch of due deliveries to s. It reports whether to go on
// at once: the batch was full and all went well. A failure that points at
// the sink (unreachable, 5xx, 408, 429) ends the round, so a broken sink is
// tried once per poll rather than once per queued alert.
func (d *Dispatcher) round(ctx context.Context, s *sink) bool {
	if s.mail != nil {
		return d.mailRound(ctx, s)
	}
	due, err := d.outbox.DueDeliveries(ctx, s.cfg.Name, d.now(), dueBatch)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("notify: reading due deliveries", "sink", s.cfg.Name, "err", err)
		}
		return false
	}
	for _, dl := range due {
		ok, sinkTrouble := d.deliver(ctx, s, dl)
		if ctx.Err() != nil {
			return false
		}
		if !ok && sinkTrouble {
			return false
		}
	}
	return len(due) == dueBatch
}

// deliver makes one attempt and records it. ok: delivered; sinkTrouble: the
// failure is the sink's rather than this alert's.
func (d *Dispatcher) deliver(ctx context.Context, s *sink, dl store.Delivery) (ok, sinkTrouble bool) {
	origin := d.origin
	origin.Escalation = dl.Escalation
	status, err := s.send(ctx, dl.Alert, origin)
	if err != nil && ctx.Err() != nil {
		return false, true // shutting down: the attempt does not count
	}
	dl.Attempts++
	log := d.log.With("sink", s.cfg.Name, "alert", dl.AlertID, "group", dl.Alert.GroupID, "attempts", dl.Attempts)
	if err == nil {
		s.sent.Add(1)
		delete(s.reported, dl.AlertID)
		dl.State, dl.Delivered, dl.LastError = store.DeliveryDelivered, d.now(), ""
	} else {
		s.failed.Add(1)
		wait := backoff(dl.Attempts, d.maxBackoff, rand.Float64())
		dl.State, dl.NextAttempt, dl.LastError = store.DeliveryPending, d.now().Add(wait), err.Error()
		rejected := status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
		switch {
		case rejected && !s.reported[dl.AlertID]:
			s.reported[dl.AlertID] = true
			log.Error("notify: sink rejects alert; kept, retrying until the receiver accepts it", "err", err, "retry_in", wait)
		case rejected:
			log.Debug("notify: sink rejects alert", "err", err, "retry_in", wait)
		default:
			log.Warn("notify: delivery failed", "err", err, "retry_in", wait)
		}
		sinkTrouble = !rejected
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if ferr := d.outbox.FinishDelivery(fctx, dl); ferr != nil {
		// The delivery stays as stored (pending): it is sent again.
		log.Error("notify: recording delivery outcome", "state", dl.State, "err", ferr)
	}
	return err == nil, sinkTrouble
}

// backoff is the wait after the n-th failed attempt (n >= 1): 1s doubling
// each time, capped at max, less up to a fifth at random (r in [0, 1)) so
// sinks that failed together do not retry together.
func backoff(n int, max time.Duration, r float64) time.Duration {
	b := firstBackoff
	for i := 1; i < n && b < max; i++ {
		b *= 2
	}
	b = min(b, max)
	return b - time.Duration(r*float64(b)/5)
}

// send POSTs a to s. It returns the last HTTP status (0 if none) and an
// error unless the status was 2xx.
func (s *sink) send(ctx context.Context, a store.Alert, o Origin) (int, error) {
	body, err := s.encode(a, o)
	if err != nil {
		return 0, fmt.Errorf("encoding: %w", err)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodPost, s.url, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "offbox-ingest")
	if s.cfg.Type == TypeWebhook {
		for k, v := range s.cfg.Headers {
			req.Header.Set(k, v)
		}
		key := a.GroupID
		if o.Escalation {
			key += "/escalation" // not a repeat of the alert's own delivery
		}
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return resp.StatusCode, nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	return resp.StatusCode, fmt.Errorf("HTTP %d: %s", resp.StatusCode, errSnippet(snippet))
}

// errSnippet is a response body fit for LastError: at most maxErrBody bytes
// of valid UTF-8 on one line.
func errSnippet(b []byte) string {
	s := truncate(string(b), maxErrBody)
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.Fields(s), " ")
}

// debugLogger hands retryablehttp's messages to slog at debug level: the
// dispatcher logs each attempt's outcome itself.
type debugLogger struct{ l *slog.Logger }

func (g debugLogger) Error(msg string, kv ...any) { g.l.Debug("retryablehttp: "+msg, kv...) }
func (g debugLogger) Info(msg string, kv ...any)  { g.l.Debug("retryablehttp: "+msg, kv...) }
func (g debugLogger) Debug(msg string, kv ...any) { g.l.Debug("retryablehttp: "+msg, kv...) }
func (g debugLogger) Warn(msg string, kv ...any)  { g.l.Debug("retryablehttp: "+msg, kv...) }
