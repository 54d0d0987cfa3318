package main

import (
	"flag"
	"strings"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/internal/cmdhelp"
)

// commandHelp is each command's help (-h, help CMD), by the name flags
// is given: its usage line and what it does. The flags come from the
// command's flag set.
var commandHelp = map[string]cmdhelp.Command{
	"serve": h("offbox-ingest serve [-config F] [-listen HOST:PORT -ca F -cert F -key F -db F]",
		"Run the collector: accept agents over mutual TLS on -listen (default "+config.DefaultListen+"), verify and store their batches, "+
			"detect and deliver alerts, and serve the query API and dashboard when configured. Flags given override the file."),
	"check-config": h("offbox-ingest check-config [-syntax-only] -config F",
		"Check a configuration as serve does before listening, and exit: config OK, or each problem at its file:line. "+
			"With -syntax-only, the values alone: no file the configuration names is opened (for a configuration meant for another machine)."),
	"dev-certs": h("offbox-ingest dev-certs -out DIR -device NAME [-device NAME ...] [-operator NAME ...]",
		"Write a throwaway CA, a collector certificate and device certificates into DIR, and with -operator a separate operator CA "+
			"and operator certificates, for tests and demos."),
	"records": h("offbox-ingest records [-db F | -config F] [-device ID] [-source S] [-kind K] [-since T] [-until T] [-json | -count] [-ref DEVICE/SEQ/INDEX]",
		"Print stored records, one a line, oldest first. The access is recorded in the database before anything is read."),
	"events": h("offbox-ingest events [-db F | -config F] [-device ID] [-kind K] [-since T] [-until T] [-json]",
		"Print the security events (logins, sudo, account changes) parsed from stored log lines. The access is recorded first."),
	"alerts": h("offbox-ingest alerts [-db F | -config F] [-device ID] [-label k=v ...] [-kind K] [-severity S] [-state S] [-since T] [-until T] [-json [-evidence]]",
		"Print stored alerts, newest received first, with each one's id, state and assignee. The access is recorded first. "+
			"To triage them: alerts ack|resolve|reopen|assign|note (offbox-ingest help alerts ack)."),
	"alerts ack":     triageHelp("ack", "", "Acknowledge alerts: open becomes acknowledged, which stops their escalation."),
	"alerts resolve": triageHelp("resolve", "", "Resolve alerts; one that fires again reopens, by offbox-ingest."),
	"alerts reopen":  triageHelp("reopen", "", "Reopen acknowledged or resolved alerts."),
	"alerts assign":  triageHelp("assign", " -to NAME", "Assign alerts to NAME (-to \"\" unassigns)."),
	"alerts note":    triageHelp("note", "", "Add a note (-comment) to alerts' history."),
	"search": h("offbox-ingest search [-db F|-config F] [-device ID ...] [-label k=v ...] [-source S] [-kind K] [-since T] [-until T] [-limit N] [-count] [-context N] [-json] [-asc] [-timeout D] QUERY",
		"Find stored lines across devices and days, newest received first. QUERY: words (all must match, whole words, any case), "+
			"\"quoted phrases\", -word to exclude, re:PATTERN (RE2; re:\"a b\" for spaces). Each result shows device time, device, source, "+
			"line, received time and ref=device/seq/index. Every line is confirmed against the stored signed batch. The access and its result count are recorded."),
	"verify": h("offbox-ingest verify [-db F | -config F] [-device ID]",
		"Re-verify every stored signature, digest, chain link and index entry; exit 1 if anything does not verify."),
	"revoke": h("offbox-ingest revoke -device ID [-reason R] [-db F | -config F]",
		"Refuse the device's certificates and unused enrollment tokens from now on; a running collector closes its stream within seconds."),
	"token create": h("offbox-ingest token create -device ID [-label k=v ...] [-ttl D] [-after-revoke] [-db F | -config F]",
		"Print a one-time enrollment token for a device, and the offbox enroll command to run on it. Only the token's hash is stored."),
	"operator-token create": h("offbox-ingest operator-token create -name N [-ttl D] [-db F | -config F]",
		"Print a new query API token for operator N (Authorization: Bearer TOKEN); it is shown once, only its hash is stored."),
	"operator-token list": h("offbox-ingest operator-token list [-db F | -config F]",
		"List the operator tokens: operator, created, expires, state. Tokens themselves are not stored and never shown."),
	"operator-token revoke": h("offbox-ingest operator-token revoke -name N [-db F | -config F]",
		"Revoke every token of operator N; running collectors refuse them from the next request."),
	"forward status": h("offbox-ingest forward status [-db F | -config F]",
		"Print each forward sink's cursor, when it last moved, and its lag: the batches and records stored after it and how long the oldest has waited. The access is recorded first."),
	"version": h("offbox-ingest version", "Print the version."),
	"appliance add": h("offbox-ingest appliance add -name NAME -relay RELAY [-label k=v ...] [-db F | -config F]",
		"Authorise relay RELAY to speak for appliance NAME: its records, signed by the relay, are stored as device NAME. "+
			"An agent host or another relay's appliance is refused. Recorded in the access trail."),
	"appliance list": h("offbox-ingest appliance list [-db F | -config F]",
		"List the authorised appliances: appliance, relay, labels, added, by. Recorded in the access trail."),
	"appliance remove": h("offbox-ingest appliance remove -name NAME [-db F | -config F]",
		"Withdraw the authorisation of appliance NAME: its relay's streams for it are refused from their next connection. "+
			"What is stored stays. Recorded in the access trail."),
}

// triageHelp is the help of alerts VERB.
func triageHelp(verb, extra, about string) cmdhelp.Command {
	return h("offbox-ingest alerts "+verb+extra+" (-id ID | -all-matching [-yes] [-device ID] [-label k=v ...] [-kind K ...] [-severity S] [-state S] [-since T] [-until T]) [-comment TEXT] [-db F | -config F]",
		about+" Each change is stored with who (the OS user running the command), when and the comment, and the command is "+
			"recorded in the access trail first. With -all-matching it prints how many alerts it will change and changes them only with -yes.")
}

func h(usage, about string) cmdhelp.Command { return cmdhelp.Command{Usage: usage, About: about} }

// helpOf is the help of the command whose flag set fs is.
func helpOf(fs *flag.FlagSet) (c cmdhelp.Command, helpCmd string) {
	name := strings.TrimPrefix(fs.Name(), "offbox-ingest ")
	c, ok := commandHelp[name]
	if !ok {
		c.Usage = fs.Name() + " [flags]"
	}
	return c, "offbox-ingest help " + name
}

// subcommandHelp is the help of a command with subcommands (token,
// operator-token): its usage lines, then what each subcommand does.
func subcommandHelp(name, usage string, subs []string) string {
	var b strings.Builder
	b.WriteString(usage)
	b.WriteString("\nsubcommands:\n")
	for _, s := range subs {
		b.WriteString("  " + s + "\n        " + commandHelp[name+" "+s].About + "\n")
	}
	b.WriteString("\nRun 'offbox-ingest help " + name + " SUBCOMMAND' for its flags.\n")
	return b.String()
}
