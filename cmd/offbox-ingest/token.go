package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/enroll"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/tlsconf"
)

const tokenUsage = `usage: offbox-ingest token create -device ID [-label k=v ...] [-ttl D] [-after-revoke] [-db F | -config F]
`

// tokenCmd manages enrollment tokens.
func tokenCmd(args []string, stdout, stderr io.Writer) int {
	return subcommand("token", tokenUsage, args, stdout, stderr, map[string]func([]string, io.Writer, io.Writer) int{
		"create": tokenCreate,
	})
}

// subcommand runs the subcommand args[0] of the command name, or prints
// usage: on stdout for -h, on stderr with exit 2 for nothing or an unknown
// subcommand.
func subcommand(name, usage string, args []string, stdout, stderr io.Writer, subs map[string]func([]string, io.Writer, io.Writer) int) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	if f, ok := subs[args[0]]; ok {
		return f(args[1:], stdout, stderr)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		names := slices.Sorted(maps.Keys(subs))
		fmt.Fprint(stdout, subcommandHelp(name, usage, names))
		return exitOK
	}
	fmt.Fprintf(stderr, "offbox-ingest %s: unknown subcommand %q\n%s", name, args[0], usage)
	return exitUsage
}

// tokenCreate stores a one-time enrollment token for one device (its hash
// only) and prints the token, alone on one line, on stdout.
func tokenCreate(args []string, stdout, stderr io.Writer) int {
	fs := flags("token create", stderr)
	device := fs.String("device", "", "device `id` the certificate will name (its CN)")
	var labels repeated
	fs.Var(&labels, "label", "label `name=value` put into the certificate (Subject OU); repeat for more")
	ttl := fs.Duration("ttl", config.DefaultTokenTTL, "how long the token can be used (default: enroll.token_ttl of the configuration, else 24h)")
	afterRevoke := fs.Bool("after-revoke", false, "create the token even though the device was revoked: it enrolls the device again, with a new key")
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if !tlsconf.ValidDeviceID(*device) {
		return usageError(fs, fmt.Errorf("-device %q: want 1 to 128 letters, digits and . _ : @ -, starting with a letter or digit", *device))
	}
	lm := map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return usageError(fs, fmt.Errorf("-label %q: want name=value", l))
		}
		if err := enroll.CheckLabel(k, v); err != nil {
			return usageError(fs, fmt.Errorf("-label %w", err))
		}
		if _, dup := lm[k]; dup {
			return usageError(fs, fmt.Errorf("-label %s given twice", k))
		}
		lm[k] = v
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// The configuration, when one is used, gives the default lifetime and
	// the port for the hint.
	var cfg *config.Config
	if cfgPath := fs.Lookup("config").Value.String(); cfgPath != "" || !set["db"] {
		if cfgPath == "" {
			cfgPath = defaultConfig
		}
		c, err := config.Load(cfgPath)
		if err != nil {
			return fail(stderr, "token create", err)
		}
		cfg = &c
		if !c.Enroll.Enabled() {
			fmt.Fprintf(stderr, "offbox-ingest token create: warning: enroll.ca_key is not set in %s: the collector refuses enrollment until it is\n", cfgPath)
		}
		if !set["ttl"] {
			*ttl = c.Enroll.TTL()
		}
	}
	if *ttl <= 0 {
		return usageError(fs, fmt.Errorf("-ttl %s: must be positive", *ttl))
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "token create", err)
	}
	st, err := openExisting(db, "start offbox-ingest serve once to create it")
	if err != nil {
		return fail(stderr, "token create", err)
	}
	defer st.Close()
	// A revoked device comes back only when the operator says so: the
	// revocation ended its tokens, and a token made now would undo it.
	revs, err := st.Revocations(context.Background())
	if err != nil {
		return fail(stderr, "token create", err)
	}
	if r, ok := lastRevocation(revs, *device); ok && !*afterRevoke {
		return fail(stderr, "token create", fmt.Errorf("device %s was revoked at %s by %s%s; "+
			"to enroll it again (with a new key: its revoked keys stay refused) pass -after-revoke",
			*device, r.Time.UTC().Format(time.RFC3339), r.By, reasonSuffix(r.Reason)))
	}
	tok, err := enroll.NewToken()
	if err != nil {
		return fail(stderr, "token create", err)
	}
	now := time.Now()
	t := store.EnrollToken{Hash: enroll.HashToken(tok), Device: *device, Labels: lm, Created: now, Expires: now.Add(*ttl)}
	if err := st.CreateToken(context.Background(), t); err != nil {
		return fail(stderr, "token create", err)
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "offbox-ingest: one-time token for device %s, valid until %s.\n%s",
		*device, t.Expires.Format(time.RFC3339), enrollHint(cfg))
	return exitOK
}

// enrollHint is what to run on the device, with the paths the packaged
// unit (systemd/offbox-enroll.service), its postinstall message and the
// configuration use: the token in a file (a command line is visible to every user of the device), the
// key and certificate in /var/lib/offbox. The token itself is left out:
// this goes to stderr, which may be logged. The collector's address is
// the configuration's listen address when devices can reach it by that
// (not a wildcard); cfg nil: no configuration was read.
func enrollHint(cfg *config.Config) string {
	listen, ca := config.DefaultListen, "the collector's tls.ca"
	if cfg != nil {
		listen = cfg.Listen
		if cfg.TLS.CA != "" {
			ca = cfg.TLS.CA
		}
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		host, port = "", "7443"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) || cfg == nil {
		host = "COLLECTOR" // listening on every address, or not known: the name devices reach it by
	}
	server := net.JoinHostPort(host, port)
	return fmt.Sprintf("On the device (packaged agent), with %s copied to /etc/offbox/ca.pem:\n"+
		"  echo OFFBOX_SERVER=%s > /etc/offbox/enroll.env\n"+
		"  install -m 0640 -g offbox /dev/stdin /etc/offbox/enroll-token   # paste the token, then Ctrl-D\n"+
		"  systemctl start offbox-enroll                                  # key made there; certificate in /var/lib/offbox\n"+
		"or by hand, as the agent's user:\n"+
		"  offbox enroll -server %s -ca /etc/offbox/ca.pem -token-file /etc/offbox/enroll-token -dir /var/lib/offbox\n"+
		"(on OpenWrt, where /var is RAM: -dir /etc/offbox, then /etc/init.d/offbox start)\n",
		ca, server, server)
}

// lastRevocation is the latest revocation of device among revs.
func lastRevocation(revs []store.Revocation, device string) (store.Revocation, bool) {
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i].Device == device {
			return revs[i], true
		}
	}
	return store.Revocation{}, false
}

// reasonSuffix is ": reason", or "" for no reason.
func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

// enrollment prepares the Enrollment service when enroll.ca_key is set: the
// ingest TLS configuration then asks for a client certificate without
// requiring one (a device enrolling has none yet). Ingest.Stream still
// refuses a stream without a verified client certificate, and so does
// Enrollment.Renew. Off, it returns the usual configuration and no service.
func enrollment(cfg config.Config, st store.TrustStore, src *tlsconf.Source, log *slog.Logger) (*tls.Config, *enroll.Service, error) {
	tc := src.ServerConfig()
	if !cfg.Enroll.Enabled() {
		return tc, nil, nil
	}
	ca, err := enroll.LoadCA(cfg.TLS.CA, cfg.Enroll.CAKey)
	if err != nil {
		return nil, nil, err
	}
	svc, err := enroll.New(enroll.Config{Store: st, CA: ca, Validity: cfg.Enroll.Validity(), Logger: log.With("part", "enroll")})
	if err != nil {
		return nil, nil, err
	}
	perConn := tc.GetConfigForClient
	tc.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c, err := perConn(hello)
		if c != nil {
			c = c.Clone()
			c.ClientAuth = tls.VerifyClientCertIfGiven
		}
		return c, err
	}
	log.Info("enrollment on", "ca", ca.Cert.Subject.String(), "cert_validity", cfg.Enroll.Validity())
	return tc, svc, nil
}
