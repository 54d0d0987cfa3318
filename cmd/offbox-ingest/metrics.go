// The Prometheus metrics listener (metrics.listen): the registry wired to
// the parts that count, and the listener that serves it.

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/offbox/offbox/ingest/alerts"
	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/forward"
	"github.com/offbox/offbox/ingest/leader"
	"github.com/offbox/offbox/ingest/metrics"
	"github.com/offbox/offbox/ingest/notify"
	"github.com/offbox/offbox/ingest/server"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/netlimit"
	"github.com/offbox/offbox/transport/tlsconf"
)

// newMetrics is the collector's registry. It counts whether or not
// metrics.listen serves it: the ingest path's share is a few atomic adds.
func newMetrics(cfg config.Config) *metrics.Metrics {
	return metrics.New(metrics.Config{MaxDevices: cfg.Metrics.MaxDevices})
}

// registerMetrics adds the figures read at scrape time from the parts that
// keep them.
func registerMetrics(mx *metrics.Metrics, cfg config.Config, st store.Store, srv *server.Server, disp *notify.Dispatcher,
	runner *alerts.Runner, fleet *leader.Leader, fwd *forward.Forwarder) {
	mx.Server(srv.Connected)
	mx.Connections("ingest", func() metrics.ConnStats {
		c := srv.Connections()
		return metrics.ConnStats{Open: c.Open, Refused: map[string]uint64{"limit": c.Limit, "per_address": c.PerAddress,
			"handshake_timeout": c.HandshakeTimeout, "handshake": c.Handshake, "per_device": c.PerDevice}}
	})
	var sinks []string
	for _, s := range cfg.Alerting.Sinks {
		sinks = append(sinks, s.Name)
	}
	mx.Delivery(sinks, func() map[string]metrics.SinkStats {
		out := map[string]metrics.SinkStats{}
		for name, s := range disp.Stats() {
			out[name] = metrics.SinkStats{Sent: s.Sent, Failed: s.Failed}
		}
		return out
	}, st.PendingDeliveries)
	if sz, ok := st.(interface {
		SizeBytes(context.Context) (int64, error)
	}); ok {
		mx.StoreSize(sz.SizeBytes)
	}
	if fwd != nil {
		mx.Forward(func() []metrics.ForwardStats {
			var out []metrics.ForwardStats
			for _, s := range fwd.Stats() {
				out = append(out, metrics.ForwardStats{Sink: s.Sink, Records: s.Records, Alerts: s.Alerts,
					Sends: s.Sends, Failures: s.Failures, BacklogRecords: s.Backlog.Records,
					Oldest: s.Backlog.Oldest, Measured: s.Measured})
			}
			return out
		})
	}
	mx.Detection(runner.BatchRow, fleet.Leading)
	mx.Leader(fleet.Leading)
}

// apiConnStats is the query API listener's figures.
func apiConnStats(l *netlimit.Listener) func() metrics.ConnStats {
	return func() metrics.ConnStats {
		return metrics.ConnStats{Open: l.Open(), Refused: map[string]uint64{"limit": l.Refused()}}
	}
}

// metricsListener is metrics.listen's listener (nil when off): on
// loopback, loopback clients only; elsewhere the API's address ranges
// first (reset before TLS), then the API's TLS. Either way at most
// metrics.max_connections open. The configuration has passed Check.
func metricsListener(cfg config.Config, mx *metrics.Metrics, log *slog.Logger) (net.Listener, *api.Guard, error) {
	if cfg.Metrics.Listen == "" {
		return nil, nil, nil
	}
	var allow []netip.Prefix
	var tlsCfg *tls.Config
	if !cfg.MetricsLoopback() {
		var err error
		if allow, err = cfg.API.AllowNets(); err != nil {
			return nil, nil, err
		}
		t := cfg.API.TLS
		ca := t.ClientCA
		if ca == "" {
			ca = t.Cert // stands in for the CA, never used as one (see apiListener)
		}
		src, err := tlsconf.Load(tlsconf.Files{CA: ca, Cert: t.Cert, Key: t.Key}, tlsconf.Options{Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("metrics: api.tls: %w", err)
		}
		tlsCfg = api.TLSConfig(src, t.ClientCA != "")
	}
	l, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics.listen: %w", err)
	}
	g := api.AllowListener(l, allow, log)
	lim := netlimit.New(g, cfg.MetricsMaxConnections())
	mx.Listener(lim, g.Refused)
	var out net.Listener = lim
	if tlsCfg != nil {
		out = tls.NewListener(out, tlsCfg)
	}
	return out, g, nil
}

// serveMetrics serves the registry on lis until it is closed: /metrics,
// behind operator authentication unless on loopback. An operator's scrape
// is recorded in the access trail before it is answered (per-device
// figures come from stored heartbeats), as a dashboard refresh is: one
// row each, and one log_access alert per operator while scrapes keep
// coming. A refused one is recorded like any refused call. A loopback
// scrape has no operator to record.
func serveMetrics(lis net.Listener, g *api.Guard, mx *metrics.Metrics, cfg config.Config, st store.Store, log *slog.Logger) *http.Server {
	var h http.Handler = mx.Handler()
	if !cfg.MetricsLoopback() {
		auth := &api.Auth{Store: st, Logger: log}
		scrape := h
		audited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := auth.Audit(r.Context(), r, "metrics"); err != nil {
				textFail(w, r, http.StatusServiceUnavailable, "the access could not be recorded; try again later")
				return
			}
			scrape.ServeHTTP(w, r)
		})
		h = api.Permitted(auth.Require("metrics", textFail, audited), textFail)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	s := &http.Server{Handler: mux, ConnContext: g.ConnContext,
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)} // TLS handshake noise
	go func() {
		if err := s.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	return s
}

// textFail answers a refused scrape in plain text.
func textFail(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	http.Error(w, msg, status)
}
