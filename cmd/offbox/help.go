package main

import (
	"flag"

	"github.com/offbox/offbox/internal/cmdhelp"
)

// commandHelp is each command's help (offbox CMD -h, offbox help CMD), by
// command name: its usage line and what it does. The flags come from the
// command's flag set.
var commandHelp = map[string]cmdhelp.Command{
	"version": {Usage: "offbox version", About: "Print the agent's version, Go version and platform."},
	"check-config": {Usage: "offbox check-config [-syntax-only] -config FILE",
		About: "Load and validate a configuration file, TLS material included, and print what the agent would run; exit 1 if it would not start."},
	"run": {Usage: "offbox run [-config FILE] [flags]",
		About: "Run the agent: read the configured sources, seal their records into signed batches and stream them to the collector until SIGINT or SIGTERM. " +
			"Flags given override the file. With -dry-run it connects to nothing and prints each record as a line of JSON; add -once to exit after the -tail files are read to their end."},
	"inspect": {Usage: "offbox inspect [-config FILE] [-host-root DIR] [-ntp-server HOST[:PORT] ...] [-ntp-name NAME]",
		About: "Print, as one JSON document, what the boot, clock and watch sources see on this device now, whether or not the configuration enables them."},
	"enroll": {Usage: "offbox enroll -server HOST:PORT -ca F (-token T | -token-file F) -dir D [-key-type ed25519|ecdsa] [-server-name N] [-if-needed]",
		About: "Get this device its certificate: generate a key here (it never leaves the device), send a CSR with a one-time token " +
			"(offbox-ingest token create) to the collector, and write DIR/device.pem and DIR/device-key.pem."},
}

// helpOf is the help of the command whose flag set fs is.
func helpOf(fs *flag.FlagSet) (c cmdhelp.Command, helpCmd string) {
	c, ok := commandHelp[fs.Name()]
	if !ok {
		c.Usage = "offbox " + fs.Name() + " [flags]"
	}
	return c, "offbox help " + fs.Name()
}
