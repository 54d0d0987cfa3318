// Command offbox is the offbox agent: it reads local sources, seals their
// records into signed, chained batches and streams them over mutual TLS to
// the collector service. It keeps nothing on the device's disk; logs go to
// stderr. This file parses and wires; the pipeline is package agent.
//
//	offbox version
//	offbox check-config [-syntax-only] -config FILE
//	offbox run [-config FILE] [-server HOST:PORT -ca F -cert F -key F -tail GLOB ...] [-dry-run]
//	offbox inspect [-config FILE] [-host-root DIR] [-ntp-server HOST[:PORT] ...] [-ntp-name NAME]
package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/internal/cmdhelp"
	"github.com/offbox/offbox/internal/version"
	"github.com/offbox/offbox/transport/client"
	"github.com/offbox/offbox/transport/tlsconf"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: offbox COMMAND [flags]

commands:
  version
        print the version
  check-config [-syntax-only] -config FILE
        validate a configuration file, TLS material included, and print what would run
        (-syntax-only: the values alone, for a configuration meant for another machine)
  run [-config FILE] [flags]
        run the agent: read the sources, seal, stream to the collector (-dry-run: print records instead)
  inspect [-config FILE] [-host-root DIR] [-ntp-server HOST[:PORT] ...] [-ntp-name NAME]
        print what the boot, clock and watch sources see on this device now
  enroll -server HOST:PORT -ca F -token-file F -dir D [-key-type ed25519|ecdsa] [-server-name N] [-if-needed]
        get this device its certificate with a one-time token

Run offbox help COMMAND (or offbox COMMAND -h) for the flags of a command.
`

// run is main with its dependencies passed in; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	if args[0] == "help" && len(args) > 1 { // help CMD is CMD -h
		return run(ctx, []string{args[1], "-h"}, stdout, stderr)
	}
	// Help asked for goes to stdout, usage errors to stderr.
	stderr = cmdhelp.Stderr{Writer: stderr, Help: stdout}
	switch args[0] {
	case "version":
		if code, ok := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), "version", args[1:], stderr); !ok {
			return code
		}
		fmt.Fprintf(stdout, "offbox %s %s %s/%s\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "check-config":
		return checkConfig(args[1:], stdout, stderr)
	case "run":
		return runAgent(ctx, args[1:], stdout, stderr)
	case "inspect":
		return inspect(ctx, args[1:], stdout, stderr)
	case "enroll":
		return enrollCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "offbox: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

// parseFlags parses a subcommand's flags, which take no positional
// arguments. When it returns ok false the command exits with code: 0 for
// -help, 2 for a usage error (already printed).
func parseFlags(fs *flag.FlagSet, cmd string, args []string, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	c, helpCmd := helpOf(fs)
	fs.Usage = func() { cmdhelp.Brief(fs.Output(), c, helpCmd) }
	if code, ok := cmdhelp.Parse(fs, args, c, helpCmd); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "offbox %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2, false
	}
	return 0, true
}

// checkConfig loads and validates a config file, TLS material included,
// and prints a summary. With -syntax-only it checks the values alone (no
// file the configuration names is opened or looked at, no program looked
// for, nothing resolved), for a configuration meant for another machine,
// and the summary leaves out what only the device can tell (its identity,
// how many files match).
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "", "configuration `file` to check")
	syntaxOnly := fs.Bool("syntax-only", false, "check the values only: open no file the configuration names, resolve and connect to nothing")
	if code, ok := parseFlags(fs, "check-config", args, stderr); !ok {
		return code
	}
	if *path == "" {
		fmt.Fprintln(stderr, "offbox check-config: -config is required")
		fs.Usage()
		return 2
	}
	c, err := loadConfigChecked(*path, !*syntaxOnly)
	if err == nil {
		err = c.requireConnection()
	}
	if err == nil && *syntaxOnly {
		fmt.Fprintf(stdout, "config OK: %s\n", *path)
		fmt.Fprint(stdout, c.summaryOf(false))
		return 0
	}
	var id agent.Identity
	if err == nil {
		id, err = loadIdentity(c, slog.New(slog.NewTextHandler(stderr, nil)))
	}
	if err != nil {
		fmt.Fprintf(stderr, "offbox: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "config OK: %s\n", *path)
	fmt.Fprintf(stdout, "  %-12s %s (key id %x)\n", "device", id.DeviceID, id.KeyID[:8])
	fmt.Fprint(stdout, c.summary())
	return 0
}

// loadIdentity checks the TLS files (they load, match, are valid now, the
// certificate names a valid device) and returns the signing identity.
func loadIdentity(c *config, log *slog.Logger) (agent.Identity, error) {
	src, err := tlsconf.Load(c.TLS, tlsconf.Options{Logger: log})
	if err != nil {
		return agent.Identity{}, err
	}
	return agent.TLSIdentity(src)()
}

// runAgent runs the agent (or the dry run) until SIGINT or SIGTERM.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := newRunFlags()
	if code, ok := parseFlags(f.fs, "run", args, stderr); !ok {
		return code
	}
	if f.once && !f.dryRun {
		fmt.Fprintln(stderr, "offbox run: -once needs -dry-run")
		f.fs.Usage()
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if f.pprof != "" {
		stopPprof, err := startPprof(f.pprof, log)
		if err != nil {
			fmt.Fprintf(stderr, "offbox: %v\n", err)
			return 1
		}
		defer stopPprof()
	}
	c, err := f.effective()
	if err == nil && !f.dryRun {
		err = c.requireConnection()
	}
	if err == nil && f.once && len(c.Paths) == 0 {
		err = errors.New("-once reads files to their end: give -tail FILE (or tail: in the config)")
	}
	if err != nil {
		fmt.Fprintf(stderr, "offbox: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	build := buildCollectors
	if f.once {
		build = buildFileTailer // the other sources never end
	}
	cs, err := build(c, log)
	if err != nil {
		fmt.Fprintf(stderr, "offbox: %v\n", err)
		return 1
	}
	if f.dryRun {
		err = agent.DryRun(ctx, agent.DryRunConfig{Collectors: cs.all, Out: stdout, Logger: log, Once: f.once})
	} else {
		err = runConnected(ctx, c, cs, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "offbox: %v\n", err)
		return 1
	}
	return 0
}

// runConnected wires TLS, the client and the agent, and runs it.
func runConnected(ctx context.Context, c *config, cs *sources, log *slog.Logger) error {
	src, err := tlsconf.Load(c.TLS, tlsconf.Options{Logger: log})
	if err != nil {
		return err
	}
	cl, err := client.New(client.Config{Server: c.Server, ServerName: c.serverName(), TLS: src})
	if err != nil {
		return err
	}
	cfg := agentConfig(c, cs, log)
	cfg.Dialer = agent.DialFunc(func(ctx context.Context) (agent.Stream, error) { return cl.Open(ctx) })
	cfg.Identity = agent.TLSIdentity(src)
	cfg.Renewal = renewal(c, src, cl)
	sd := &sdNotifier{log: log}
	cfg.Ready = sd.ready
	releaseSoon := make(chan struct{}, 1)
	cfg.Settled = func() { poke(releaseSoon) }
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	setMemoryLimit(a.MemoryLimit(), log)
	setMaxProcs(c.MaxProcs, log)
	pokeAfterGC(releaseSoon)
	go releaseCodeWhileRunning(ctx, releaseSoon, log)
	return sd.run(ctx, a)
}

// renewal renews the certificate in c's files through cl (nil when
// renew.enabled is false).
func renewal(c *config, src *tlsconf.Source, cl *client.Client) *agent.Renewal {
	if !enabled(c.Renew.Enabled) {
		return nil
	}
	return &agent.Renewal{
		Cert:  src.Leaf,
		Renew: cl.Renew,
		Install: func(cert *x509.Certificate, key crypto.Signer) error {
			if err := tlsconf.InstallKeyPair(c.TLS.Cert, c.TLS.Key, cert, key); err != nil {
				return err
			}
			_, err := src.Reload()
			return err
		},
		Check: c.Renew.Check,
	}
}

// agentConfig is the agent's configuration but for the connection (Dialer
// and Identity).
func agentConfig(c *config, cs *sources, log *slog.Logger) agent.Config {
	return agent.Config{
		Collectors:      cs.all,
		HostRoot:        c.HostRoot,
		MemoryBudget:    c.MemoryBudgetBytes,
		BatchMaxBytes:   c.Batch.MaxBytes,
		BatchMaxRecords: c.Batch.MaxRecords,
		BatchMaxDelay:   c.Batch.MaxDelay,
		BatchIdleDelay:  c.Batch.IdleDelay,
		Window:          c.Window,
		Heartbeat:       c.Heartbeat,
		ConfigHash:      c.hash(),
		HeartbeatAttrs:  cs.heartbeatAttrs,
		Logger:          log,
	}
}

// releaseCodeWhileRunning gives back the resident pages of the agent's own
// code (releaseCode) at start, 5 s later (once the collectors and the
// first session are up), every 30 s, and shortly after each burst of work
// is acknowledged and each garbage collection (a poke on soon), at most
// once per minRelease, so the agent's resident set holds the code it runs
// at rest, not all of the binary. A heartbeat (gopsutil, sealing, the
// stream), a clock round (DNS, NTP) and a collection (stack maps, type
// data) touch megabytes of the binary that an idle agent does not need
// again for seconds; given back right after, they do not add up between
// the 30 s releases. Touching a released page again costs a minor fault
// (the kernel maps 64 KiB around it): at most a few dozen per release.
func releaseCodeWhileRunning(ctx context.Context, soon <-chan struct{}, log *slog.Logger) {
	// At once: package initialisation touched all of the binary, most of
	// which a running agent never needs again; then after the collectors
	// have started.
	for _, wait := range []time.Duration{0, 5 * time.Second} {
		if !sleepCtx(ctx, wait) || !releaseCodeOnce(log) {
			return
		}
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-soon:
			// Let the work finish (the collection's sweep, the acked
			// batch's checkpoints handed on), and a steady trickle of
			// lines cost a release per minRelease at most.
			if !sleepCtx(ctx, max(releaseAfter, minRelease-time.Since(last))) {
				return
			}
			select { // pokes during the wait are covered by this release
			case <-soon:
			default:
			}
		}
		if !releaseCodeOnce(log) {
			return
		}
		last = time.Now()
		t.Reset(30 * time.Second)
	}
}

// releaseAfter is how long after a burst or a collection the code is given
// back; minRelease is the least time between two releases.
const (
	releaseAfter = 20 * time.Millisecond
	minRelease   = 2 * time.Second
)

// poke sends on c without blocking (c has capacity 1).
func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// pokeAfterGC pokes c after every garbage collection, for as long as the
// process runs: a finalizer on an unreachable sentinel runs once the
// collector has found it garbage, and sets up the next one.
func pokeAfterGC(c chan struct{}) {
	s := new([16]byte) // not tiny-allocated: finalizers on tiny objects may never run
	runtime.SetFinalizer(s, func(*[16]byte) {
		poke(c)
		pokeAfterGC(c)
	})
}

func releaseCodeOnce(log *slog.Logger) bool {
	n, err := releaseCode()
	if err != nil {
		log.Debug("releasing code pages failed", "err", err)
		return false
	}
	log.Debug("released code pages", "bytes", n)
	return true
}

// sleepCtx waits d, and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// setMaxProcs bounds the cores the agent runs on at once (GOMAXPROCS):
// max_procs, default 1. One core ships 200 MiB/s of log lines, and a single
// scheduler thread spends less CPU per line than several handing work to
// each other; the device's own work keeps the other cores. A GOMAXPROCS set
// in the environment wins.
func setMaxProcs(n int, log *slog.Logger) {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if n <= 0 {
		n = 1
	}
	runtime.GOMAXPROCS(n)
	log.Debug("max procs", "n", n)
}

// setMemoryLimit makes the garbage collector keep the heap near what the
// agent needs, unless GOMEMLIMIT says otherwise: on a small device a heap
// that doubles before each collection is memory taken from the device.
func setMemoryLimit(limit int64, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit", "bytes", limit)
}
