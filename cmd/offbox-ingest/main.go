// Command offbox-ingest is the collector: it receives signed batches from
// offbox agents over mutual TLS, verifies and stores them, and answers
// queries over what it stored. This file parses flags and wires the ingest
// packages together; the logic lives in ingest/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/export"
	"github.com/offbox/offbox/ingest/queryarg"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/verify"
	"github.com/offbox/offbox/internal/cmdhelp"
	"github.com/offbox/offbox/internal/version"
	"github.com/offbox/offbox/transport/tlsconf"
)

const usage = `usage: offbox-ingest COMMAND [flags]

commands:
  serve [-config F] [-listen HOST:PORT -ca F -cert F -key F -db F]
        run the collector (default listen ` + config.DefaultListen + `); flags override the file
  check-config [-syntax-only] -config F
        check a configuration and exit: 0, or 1 with each problem at its file:line; -syntax-only opens no file
  dev-certs -out DIR -device NAME [-device NAME ...] [-operator NAME ...]
        a throwaway CA, a server certificate and device certificates (and operator ones), for tests and demos
  records [-db F | -config F] [-device ID] [-source S] [-kind K] [-since T] [-until T] [-json | -count] [-ref DEVICE/SEQ/INDEX]
        stored records, one a line; -since/-until take RFC 3339 or a duration such as 10m
  events [-db F | -config F] [-device ID] [-kind K] [-since T] [-until T] [-json]
        security events (logins, sudo, account changes) parsed from stored log lines
  alerts [-db F | -config F] [-device ID] [-label k=v ...] [-kind K] [-severity S] [-state S] [-since T] [-until T] [-json [-evidence]]
        stored alerts, newest received first: received time, severity, kind, device, count, summary, labels, device_time=T id=N state=S assignee=A
  alerts ack|resolve|reopen|assign|note (-id ID | -all-matching [-yes] FILTERS) [-comment TEXT] [-to NAME]
        triage alerts as the OS user running it; -all-matching counts what the filters select, -yes changes it
  search [-db F|-config F] [-device ID ...] [-label k=v ...] [-source S] [-kind K] [-since T] [-until T] [-limit N] [-count] [-context N] [-json] [-asc] [-timeout D] QUERY
        stored lines across devices matching words, "phrases", -word, re:PATTERN; newest received first, each with ref=device/seq/index
  verify [-db F | -config F] [-device ID]
        re-verify every stored signature, digest, chain link and index entry
  revoke -device ID [-reason R] [-db F | -config F]
        refuse the device's certificates and unused enrollment tokens from now on; a running collector closes its stream within seconds
  token create -device ID [-label k=v ...] [-ttl D] [-after-revoke] [-db F | -config F]
        print a one-time enrollment token for a device (offbox enroll); only its hash is stored
  operator-token create -name N [-ttl D] [-db F | -config F]
        print a new query API token for operator N (Authorization: Bearer); only its hash is stored
  operator-token list|revoke -name N [-db F | -config F]
        list the operator tokens; revoke every token of operator N (refused from the next request)
  forward status [-db F | -config F]
        each forward sink's cursor and lag (batches, records, time)
  appliance add -name NAME -relay RELAY [-label k=v ...] | list | remove -name NAME [-db F | -config F]
        authorise a relay to speak for an appliance (its records stored under the appliance's name); list; withdraw
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
		"search": searchCmd,
	}
	cmds["revoke"] = revokeCmd
	cmds["token"] = tokenCmd
	cmds["operator-token"] = operatorTokenCmd
	cmds["forward"] = forwardCmd
	cmds["appliance"] = applianceCmd
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
	ref := fs.String("ref", "", "only the record `DEVICE/SEQ/INDEX` (as search prints it)")
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
	if *ref != "" {
		return recordByRef(ctx, st, *ref, *asJSON, stdout, stderr)
	}
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
