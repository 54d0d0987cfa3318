// Command offbox-ingest is the collector: it receives signed batches from
// offbox agents over mutual TLS, verifies and stores them, and answers
// queries over what it stored. This file parses flags and wires the ingest
// packages together; the logic lives in ingest/.
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
	"strings"
	"syscall"
	"time"

	"github.com/offbox/offbox/ingest/alerts"
	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/leader"
	"github.com/offbox/offbox/ingest/notify"
	"github.com/offbox/offbox/ingest/queryarg"
	"github.com/offbox/offbox/ingest/server"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/verify"
	"github.com/offbox/offbox/ingest/web"
	"github.com/offbox/offbox/internal/cmdhelp"
	"github.com/offbox/offbox/internal/version"
	"github.com/offbox/offbox/transport/tlsconf"
	"google.golang.org/grpc"
)

const usage = `usage: offbox-ingest COMMAND [flags]

commands:
  serve [-config F] [-listen HOST:PORT -ca F -cert F -key F -db F]
        run the collector (default listen ` + config.DefaultListen + `); flags override the file
  check-config [-syntax-only] -config F
        check a configuration and exit: 0, or 1 with each problem at its file:line; -syntax-only opens no file
  dev-certs -out DIR -device NAME [-device NAME ...]
        a throwaway CA, a server certificate and device certificates, for tests and demos
  records -db F [-device ID] [-source S] [-kind K] [-since T] [-until T] [-json | -count]
        stored records, one a line; -since/-until take RFC 3339 or a duration such as 10m
  events -db F [-device ID] [-kind K] [-since T] [-until T] [-json]
        security events (logins, sudo, account changes) parsed from stored log lines
  alerts -db F [-device ID] [-label k=v ...] [-kind K] [-severity S] [-since T] [-until T] [-json [-evidence]]
        stored alerts, newest received first: received time, severity, kind, device, count, summary, labels, device_time=T
  verify -db F [-device ID]
        re-verify every stored signature, digest, chain link and index entry
  revoke -device ID [-reason R] [-db F | -config F]
        refuse the device's certificates and unused enrollment tokens from now on; a running collector closes its stream within seconds
  token create -device ID [-label k=v ...] [-ttl D] [-after-revoke] [-db F | -config F]
        print a one-time enrollment token for a device (offbox enroll); only its hash is stored
  operator-token create -name N [-ttl D] [-db F | -config F]
        print a new query API token for operator N (Authorization: Bearer); only its hash is stored
  operator-token list|revoke -name N [-db F | -config F]
        list the operator tokens; revoke every token of operator N (refused from the next request)
  version
        print the version

records, events, alerts and verify need an existing database they can write
to: each records who ran it (the OS user) and with which flags before it
reads, and does not run if that cannot be recorded.

Run offbox-ingest help COMMAND (or offbox-ingest COMMAND -h) for the flags of a command.
`

// exit codes
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed: bad config, tampering found, I/O
	exitUsage   = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func([]string, io.Writer, io.Writer) int{
		"serve": serve, "check-config": checkConfig, "dev-certs": devCerts, "records": records, "events": eventsCmd, "alerts": alertsCmd, "verify": verifyCmd, "version": versionCmd,
	}
	cmds["revoke"] = revokeCmd
	cmds["token"] = tokenCmd
	cmds["operator-token"] = operatorTokenCmd
	if args[0] == "help" && len(args) > 1 { // help CMD [SUB] is CMD [SUB] -h
		return run(append(args[1:len(args):len(args)], "-h"), stdout, stderr)
	}
	// Help asked for goes to stdout, usage errors to stderr.
	stderr = cmdhelp.Stderr{Writer: stderr, Help: stdout}
	cmd, ok := cmds[args[0]]
	if !ok {
		if a := args[0]; a == "-h" || a == "-help" || a == "--help" || a == "help" {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		fmt.Fprintf(stderr, "offbox-ingest: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(args[1:], stdout, stderr)
}

// flags makes a command's flag set; parse reports a usage error as its exit code.
func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("offbox-ingest "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { c, h := helpOf(fs); cmdhelp.Brief(fs.Output(), c, h) }
	return fs
}

func parse(fs *flag.FlagSet, args []string) (int, bool) {
	c, helpCmd := helpOf(fs)
	if code, ok := cmdhelp.Parse(fs, args, c, helpCmd); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

// fail reports err, one line per joined error, and returns exitFailure.
func fail(stderr io.Writer, cmd string, err error) int {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(stderr, "offbox-ingest %s: %s\n", cmd, line)
	}
	return exitFailure
}

func serve(args []string, _, stderr io.Writer) int {
	fs := flags("serve", stderr)
	configFile := fs.String("config", "", "YAML configuration `file`")
	fs.String("listen", config.DefaultListen, "`HOST:PORT` to accept agents on (port 0: any free port)")
	fs.String("ca", "", "device CA certificate `file` (PEM)")
	fs.String("cert", "", "collector certificate `file` (PEM)")
	fs.String("key", "", "collector private key `file` (PEM)")
	fs.String("db", "", "SQLite database `file`, or a postgres:// URL (the store key)")
	if code, ok := parse(fs, args); !ok {
		return code
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
		Logger: log.With("part", "notify")})
	if err != nil {
		return err
	}
	labels := &alerts.LabelCache{Store: st, Configured: cfg.DeviceLabels}
	runner, err := alerts.New(alerts.Config{Store: st, Detect: detectCfg, Labels: labels.Labels,
		Route: route(cfg.Alerting.Sinks), Delivered: disp.Kick, Logger: log.With("part", "detect")})
	if err != nil {
		return err
	}
	ingestTLS, enrollSvc, err := enrollment(cfg, st, tlsSrc, log)
	if err != nil {
		return err
	}
	var registerEnroll func(grpc.ServiceRegistrar)
	if enrollSvc != nil {
		registerEnroll = enrollSvc.Register
		defer enrollSvc.Close() // logs the refusals counted since the last summary
	}
	fleet, err := leader.New(leader.Config{Coordinator: coord, Detector: runner, Delivery: disp, Store: st,
		Keep: cfg.Retention, Logger: log})
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Store: st, TLS: ingestTLS, Register: registerEnroll, MaxBatchBytes: cfg.MaxBatchBytes,
		Logger: log, ShutdownGrace: cfg.ShutdownGrace, Stored: fleet.Offer, Locks: coord,
		Revocations: st.Revocations, Limits: serverLimits(cfg)})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	apiLis, guard, err := apiListener(cfg.API, log.With("part", "api"))
	if err != nil {
		lis.Close()
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
	defer func() { stopBG(); <-fleetDone }()
	if apiLis != nil {
		api := &http.Server{Handler: apiHandler(st, labels, log), ConnContext: guard.ConnContext,
			ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(log.With("part", "api").Handler(), slog.LevelDebug)} // TLS handshake noise
		go func() {
			if err := api.Serve(apiLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("query API stopped", "err", err)
			}
		}()
		defer api.Close()
	}
	// Tests and scripts wait for this exact line to learn the address.
	fmt.Fprintf(stderr, "offbox-ingest: listening on %s\n", lis.Addr())
	if apiLis != nil { // after the line above, which "listening on" must find first
		fmt.Fprintf(stderr, "offbox-ingest: api listening on %s\n", apiLis.Addr())
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
	mux.Handle("/api/", api.New(api.Config{Store: st, Auth: auth, Logger: log.With("part", "api")}))
	mux.Handle("/", web.New(web.Config{Store: st, Auth: auth, Labels: labels.Labels, Logger: log.With("part", "dashboard")}))
	return api.Permitted(mux, web.Fail)
}

// apiListener is the query API's listener (nil when api.listen is ""):
// the address ranges are checked first, on the TCP connection, which the
// Guard resets before TLS when outside them (the server uses the Guard's
// ConnContext, and apiHandler's api.Permitted is a second line), then
// TLS when configured. The configuration has passed config.Check.
func apiListener(c config.API, log *slog.Logger) (net.Listener, *api.Guard, error) {
	if c.Listen == "" {
		return nil, nil, nil
	}
	allow, err := c.AllowNets()
	if err != nil {
		return nil, nil, err
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
			return nil, nil, fmt.Errorf("api.tls: %w", err)
		}
		tlsCfg = api.TLSConfig(src, c.TLS.ClientCA != "")
	}
	l, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("api.listen: %w", err)
	}
	g := api.AllowListener(l, allow, log)
	var out net.Listener = g
	if tlsCfg != nil {
		out = tls.NewListener(out, tlsCfg)
	}
	return out, g, nil
}

// repeated is a flag that may be given more than once.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func devCerts(args []string, stdout, stderr io.Writer) int {
	fs := flags("dev-certs", stderr)
	out := fs.String("out", "", "`directory` to write the PEM files into (created if missing)")
	var devices repeated
	fs.Var(&devices, "device", "device `name` (the certificate's CN); repeat for more devices")
	var operators repeated
	fs.Var(&operators, "operator", "operator `name`: a certificate of a separate operator CA (operator-ca.pem, for api.tls.client_ca), marked OU=offbox-operator; repeat for more")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	var missing []string // only what was not given
	if *out == "" {
		missing = append(missing, "-out")
	}
	if len(devices)+len(operators) == 0 {
		missing = append(missing, "at least one -device or -operator")
	}
	if len(missing) > 0 {
		verb := " is"
		if len(missing) > 1 {
			verb = " are"
		}
		fmt.Fprintf(stderr, "offbox-ingest dev-certs: %s%s required\n", strings.Join(missing, " and "), verb)
		fs.Usage()
		return exitUsage
	}
	if len(devices) > 0 {
		if err := tlsconf.DevCerts(*out, devices); err != nil {
			return fail(stderr, "dev-certs", err)
		}
		fmt.Fprintf(stdout, "wrote ca.pem, ingest.pem, ingest-key.pem and %d device certificates to %s\n", len(devices), *out)
	}
	if len(operators) > 0 {
		if err := tlsconf.DevOperatorCerts(*out, operators); err != nil {
			return fail(stderr, "dev-certs", err)
		}
		fmt.Fprintf(stdout, "wrote operator-ca.pem and %d operator certificates to %s\n", len(operators), *out)
	}
	return exitOK
}

func records(args []string, stdout, stderr io.Writer) int {
	fs := flags("records", stderr)
	dbPath := dbFlags(fs)
	device := fs.String("device", "", "only this device `id`")
	source := fs.String("source", "", "only this `source`, e.g. file:/var/log/auth.log")
	kind := fs.String("kind", "", "only this `kind`: log, boot, heartbeat, clock, gap, agent_status ...")
	since := fs.String("since", "", "only records with a device time at or after `T` (RFC 3339, or a duration such as 10m)")
	until := fs.String("until", "", "only records with a device time before `T` (RFC 3339, or a duration)")
	asJSON := fs.Bool("json", false, "one JSON object a line")
	count := fs.Bool("count", false, "print only the number of records")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *asJSON && *count {
		return usageError(fs, errors.New("-json and -count exclude each other"))
	}
	q := store.RecordQuery{Device: *device, Source: *source}
	var err error
	now := time.Now()
	if *kind != "" {
		if q.Kind, err = queryarg.ParseKind(*kind); err != nil {
			return usageError(fs, err)
		}
	}
	if *since != "" {
		if q.Since, err = queryarg.ParseSince(*since, now); err != nil {
			return usageError(fs, fmt.Errorf("-since %w", err))
		}
	}
	if *until != "" {
		if q.Until, err = queryarg.ParseSince(*until, now); err != nil {
			return usageError(fs, fmt.Errorf("-until %w", err))
		}
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "records", err)
	}
	ctx := context.Background()
	st, err := openAudited(ctx, db, "records", args)
	if err != nil {
		return fail(stderr, "records", err)
	}
	defer st.Close()
	if *count {
		n, err := st.CountRecords(ctx, q)
		if err != nil {
			return fail(stderr, "records", err)
		}
		fmt.Fprintln(stdout, n)
		return exitOK
	}
	format := export.FormatText
	if *asJSON {
		format = export.FormatJSON
	}
	if _, err := export.Write(ctx, st, q, format, stdout); err != nil {
		return fail(stderr, "records", err)
	}
	return exitOK
}

func usageError(fs *flag.FlagSet, err error) int {
	fmt.Fprintf(fs.Output(), "%s: %v\n", fs.Name(), err)
	return exitUsage
}

func verifyCmd(args []string, stdout, stderr io.Writer) int {
	fs := flags("verify", stderr)
	dbPath := dbFlags(fs)
	device := fs.String("device", "", "only this device `id`")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "verify", err)
	}
	ctx := context.Background()
	st, err := openAudited(ctx, db, "verify", args)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	defer st.Close()
	rep, err := verify.Run(ctx, st, *device)
	if err != nil {
		return fail(stderr, "verify", err)
	}
	if err := rep.Write(stdout); err != nil {
		return fail(stderr, "verify", err)
	}
	if len(rep.Devices) == 0 {
		fmt.Fprintln(stdout, "no devices in the store")
	}
	if !rep.OK() {
		return exitFailure
	}
	return exitOK
}

func versionCmd(args []string, stdout, stderr io.Writer) int {
	if code, ok := parse(flags("version", stderr), args); !ok {
		return code
	}
	fmt.Fprintf(stdout, "offbox-ingest %s\n", version.Version)
	return exitOK
}
