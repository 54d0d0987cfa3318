// serve and check-config: the collector's configuration checked, then
// everything started that can fail before it listens.

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/offbox/offbox/ingest/alerts"
	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/forward"
	"github.com/offbox/offbox/ingest/leader"
	"github.com/offbox/offbox/ingest/notify"
	"github.com/offbox/offbox/ingest/search"
	"github.com/offbox/offbox/ingest/server"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/web"
	"github.com/offbox/offbox/internal/netlimit"
	"github.com/offbox/offbox/internal/pprofserve"
	"github.com/offbox/offbox/transport/proto/offbox/v1/offboxv1grpc"
	"github.com/offbox/offbox/transport/tlsconf"
	"google.golang.org/grpc"
)

func serve(args []string, _, stderr io.Writer) int {
	fs := flags("serve", stderr)
	configFile := fs.String("config", "", "YAML configuration `file`")
	fs.String("listen", config.DefaultListen, "`HOST:PORT` to accept agents on (port 0: any free port)")
	fs.String("ca", "", "device CA certificate `file` (PEM)")
	fs.String("cert", "", "collector certificate `file` (PEM)")
	fs.String("key", "", "collector private key `file` (PEM)")
	fs.String("db", "", "SQLite database `file`, or a postgres:// URL (the store key)")
	pprofAddr := fs.String("pprof", "", "serve Go profiles on this loopback `HOST:PORT` (e.g. 127.0.0.1:6060; off by default)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *pprofAddr != "" {
		_, stop, err := pprofserve.Start(*pprofAddr, slog.New(slog.NewTextHandler(stderr, nil)))
		if err != nil {
			return fail(stderr, "serve", err)
		}
		defer stop()
	}
	cfg := config.Default()
	var src config.Source
	if *configFile != "" {
		var err error
		if cfg, src, err = config.LoadSource(*configFile); err != nil {
			return fail(stderr, "serve", err)
		}
	}
	// Keys whose value is a flag's, not the file's: their problems get no file:line.
	var overridden []string
	fs.Visit(func(f *flag.Flag) { // flags given on the command line override the file
		v := f.Value.String()
		switch f.Name {
		case "listen":
			cfg.Listen = v
			overridden = append(overridden, "listen")
		case "ca":
			cfg.TLS.CA = v
			overridden = append(overridden, "tls.ca")
		case "cert":
			cfg.TLS.Cert = v
			overridden = append(overridden, "tls.cert")
		case "key":
			cfg.TLS.Key = v
			overridden = append(overridden, "tls.key")
		case "db": // a file, or a postgres:// URL; either replaces the file's db and store
			cfg.DB, cfg.Store = v, ""
			if config.IsStoreURL(v) {
				cfg.DB, cfg.Store = "", v
			}
			overridden = append(overridden, "db", "store")
		}
	})
	if err := cfg.Check(); err != nil {
		return fail(stderr, "serve", src.Locate(err, overridden...))
	}
	if err := runServer(cfg, stderr); err != nil {
		return fail(stderr, "serve", err)
	}
	return exitOK
}

// checkConfig checks a configuration file as serve would before listening,
// or with -syntax-only its values alone (no file opened or looked at, no
// name resolved), for a file meant for another machine.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flags("check-config", stderr)
	configFile := fs.String("config", "", "YAML configuration `file` to check")
	syntaxOnly := fs.Bool("syntax-only", false, "check the values only: open no file the configuration names, resolve and connect to nothing")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *configFile == "" {
		return usageError(fs, errors.New("-config is required"))
	}
	cfg, src, err := config.LoadSource(*configFile)
	if err != nil {
		return fail(stderr, "check-config", err)
	}
	check := cfg.Check
	if *syntaxOnly {
		check = cfg.CheckSyntax
	}
	if err := check(); err != nil {
		return fail(stderr, "check-config", src.Locate(err))
	}
	fmt.Fprintf(stdout, "config OK: %s\n", *configFile)
	for _, s := range cfg.Alerting.Sinks {
		fmt.Fprintf(stdout, "  %-12s %s\n", "sink", s.Describe())
	}
	forwardSummary(stdout, cfg.Forward)
	return exitOK
}

// runServer starts everything that can fail before listening, announces
// the addresses, and serves until SIGINT or SIGTERM: the ingest listener,
// detection, alert delivery and, when configured, the query API.
func runServer(cfg config.Config, stderr io.Writer) error {
	level, _ := cfg.Level()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	tlsSrc, err := tlsconf.Load(tlsconf.Files{CA: cfg.TLS.CA, Cert: cfg.TLS.Cert, Key: cfg.TLS.Key}, tlsconf.Options{Logger: log})
	if err != nil {
		return err
	}
	detectCfg, err := cfg.DetectConfig()
	if err != nil {
		return err
	}
	st, coord, err := openStore(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close() // after everything below has stopped: waits for the last commits
	host, _ := os.Hostname()
	disp, err := notify.New(notify.Config{Sinks: cfg.Alerting.Sinks, Outbox: st, Collector: host,
		Logger: log.With("part", "notify"), Escalate: cfg.Alerting.Escalate, Escalator: st})
	if err != nil {
		return err
	}
	labels := &alerts.LabelCache{Store: st, Configured: cfg.DeviceLabels}
	mx := newMetrics(cfg)
	runner, err := alerts.New(alerts.Config{Store: st, Detect: detectCfg, Labels: labels.Labels,
		Route: route(cfg.Alerting.Sinks), Delivered: disp.Kick, Logger: log.With("part", "detect"),
		Opened: func(a store.Alert) { mx.AlertOpened(a.Kind, a.Severity) }, Heartbeat: mx.Heartbeat})
	if err != nil {
		return err
	}
	ingestTLS, enrollSvc, err := enrollment(cfg, st, tlsSrc, log)
	if err != nil {
		return err
	}
	var registerEnroll func(grpc.ServiceRegistrar)
	if enrollSvc != nil {
		registerEnroll = func(r grpc.ServiceRegistrar) { offboxv1grpc.RegisterEnrollmentServer(r, mx.Enrollment(enrollSvc)) }
		defer enrollSvc.Close() // logs the refusals counted since the last summary
	}
	fwd, err := forward.New(forward.Config{Sinks: cfg.Forward, Store: st, Logger: log.With("part", "forward")})
	if err != nil {
		return err
	}
	fleet, err := leader.New(leader.Config{Coordinator: coord, Detector: runner, Delivery: disp, Store: st,
		Keep: cfg.Retention, Logger: log, Forward: fwd})
	if err != nil {
		return err
	}
	var idx *search.Indexer
	if cfg.Search.Index {
		idx = newIndexer(st, log) // search filters, behind ingestion
	}
	stored := fleet.Offer
	if idx != nil {
		stored = func(b *store.Batch) { fleet.Offer(b); idx.Offer(b) }
	}
	srv, err := server.New(server.Config{Store: st, TLS: ingestTLS, Register: registerEnroll, MaxBatchBytes: cfg.MaxBatchBytes,
		Logger: log, ShutdownGrace: cfg.ShutdownGrace, Stored: stored, Locks: coord,
		Revocations: st.Revocations, Limits: serverLimits(cfg), Observer: mx,
		Appliances: st, AgentHosts: server.IsAgentHost(st.Keys), MaxConnections: cfg.IngestMaxConnections()})
	if err != nil {
		return err
	}
	registerMetrics(mx, cfg, st, srv, disp, runner, fleet, fwd)
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	warnOpenFiles(cfg, log)
	apiLis, guard, apiLim, err := apiListener(cfg.API, cfg.APIMaxConnections(), log.With("part", "api"))
	if err != nil {
		lis.Close()
		return err
	}
	if guard != nil {
		mx.APIRefused(guard.Refused)
		mx.Connections("api", apiConnStats(apiLim))
	}
	metricsLis, metricsGuard, err := metricsListener(cfg, mx, log.With("part", "metrics"))
	if err != nil {
		lis.Close()
		if apiLis != nil {
			apiLis.Close()
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	// Detection, delivery and retention stop after the ingest listener has
	// drained. What they had not reached yet is in the store past their
	// cursors, and is taken up at the next start (or by the next leader).
	bg, stopBG := context.WithCancel(context.Background())
	fleetDone := make(chan struct{})
	go func() {
		defer close(fleetDone)
		if err := fleet.Run(bg); err != nil {
			log.Error("detection stopped", "err", err)
			stop() // a collector that stores without detecting is not what was asked for
		}
	}()
	indexDone := runIndexer(bg, idx)
	defer func() { stopBG(); <-fleetDone; <-indexDone }()
	if apiLis != nil {
		api := &http.Server{Handler: mx.API(apiHandler(st, labels, log)), ConnContext: guard.ConnContext,
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.With("part", "api").Handler(), slog.LevelDebug)} // TLS handshake noise
		go func() {
			if err := api.Serve(apiLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("query API stopped", "err", err)
			}
		}()
		defer api.Close()
	}
	if metricsLis != nil {
		defer serveMetrics(metricsLis, metricsGuard, mx, cfg, st, log.With("part", "metrics")).Close()
	}
	// Tests and scripts wait for this exact line to learn the address.
	fmt.Fprintf(stderr, "offbox-ingest: listening on %s\n", lis.Addr())
	if apiLis != nil { // after the line above, which "listening on" must find first
		fmt.Fprintf(stderr, "offbox-ingest: api listening on %s\n", apiLis.Addr())
	}
	if metricsLis != nil {
		fmt.Fprintf(stderr, "offbox-ingest: metrics listening on %s\n", metricsLis.Addr())
	}
	if err := srv.Serve(ctx, lis); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// route sends an alert to every sink that wants it.
func route(sinks []notify.SinkConfig) func(store.Alert) []string {
	return func(a store.Alert) []string {
		var out []string
		for _, s := range sinks {
			if s.Wants(a) {
				out = append(out, s.Name)
			}
		}
		return out
	}
}

// apiHandler is the operator listener's handler: the query API under
// /api/v1/ and the dashboard at /, with one authentication and one
// access trail, behind the address check (api.Permitted), which answers
// first.
func apiHandler(st store.Store, labels *alerts.LabelCache, log *slog.Logger) http.Handler {
	auth := &api.Auth{Store: st, Logger: log.With("part", "api")}
	mux := http.NewServeMux()
	mux.Handle("/api/", api.New(api.Config{Store: st, Auth: auth, Labels: labels.Labels, Logger: log.With("part", "api")}))
	mux.Handle("/", web.New(web.Config{Store: st, Auth: auth, Labels: labels.Labels, Logger: log.With("part", "dashboard"), Forward: st}))
	return api.BodyDeadline(api.Permitted(mux, web.Fail), api.DefaultBodyTimeout)
}

// apiListener is the query API's listener (nil when api.listen is ""):
// the address ranges are checked first, on the TCP connection, which the
// Guard resets before TLS when outside them (the server uses the Guard's
// ConnContext, and apiHandler's api.Permitted is a second line), then
// TLS when configured; at most maxConns connections open at once, more
// reset before TLS (the netlimit.Listener counts them). The configuration
// has passed config.Check.
func apiListener(c config.API, maxConns int, log *slog.Logger) (net.Listener, *api.Guard, *netlimit.Listener, error) {
	if c.Listen == "" {
		return nil, nil, nil, nil
	}
	allow, err := c.AllowNets()
	if err != nil {
		return nil, nil, nil, err
	}
	var tlsCfg *tls.Config
	if c.TLS.Cert != "" {
		// tlsconf reloads a CA with the certificate; without an operator
		// CA the certificate stands in for it and is never used as one.
		ca := c.TLS.ClientCA
		if ca == "" {
			ca = c.TLS.Cert
		}
		src, err := tlsconf.Load(tlsconf.Files{CA: ca, Cert: c.TLS.Cert, Key: c.TLS.Key}, tlsconf.Options{Logger: log})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("api.tls: %w", err)
		}
		tlsCfg = api.TLSConfig(src, c.TLS.ClientCA != "")
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api.listen: %w", err)
	}
	g := api.AllowListener(l, allow, log)
	lim := netlimit.New(g, maxConns)
	var out net.Listener = lim
	if tlsCfg != nil {
		out = tls.NewListener(out, tlsCfg)
	}
	return out, g, lim, nil
}
