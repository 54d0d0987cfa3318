package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"text/tabwriter"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/secret"
)

const operatorTokenUsage = `usage: offbox-ingest operator-token create -name N [-ttl D] [-db F | -config F]
       offbox-ingest operator-token list [-db F | -config F]
       offbox-ingest operator-token revoke -name N [-db F | -config F]
`

// defaultOperatorTTL is how long an operator token lasts unless -ttl says
// otherwise: a token forgotten rather than revoked still ends.
const defaultOperatorTTL = 90 * 24 * time.Hour

// operatorNameRE: operator names appear in the access trail and in alerts
// as "token:NAME".
var operatorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)

// operatorTokenCmd manages query API tokens.
func operatorTokenCmd(args []string, stdout, stderr io.Writer) int {
	return subcommand("operator-token", operatorTokenUsage, args, stdout, stderr, map[string]func([]string, io.Writer, io.Writer) int{
		"create": operatorTokenCreate,
		"list":   operatorTokenList,
		"revoke": operatorTokenRevoke,
	})
}

// operatorTokenCreate stores a new operator token (its SHA-256 only) and
// prints the token, alone on one line, on stdout: the one time it is shown.
func operatorTokenCreate(args []string, stdout, stderr io.Writer) int {
	fs := flags("operator-token create", stderr)
	name := fs.String("name", "", "the operator's `name`, as the access trail records it (token:NAME)")
	ttl := fs.Duration("ttl", defaultOperatorTTL, "how long the token is valid; 0: forever")
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if !operatorNameRE.MatchString(*name) {
		return usageError(fs, fmt.Errorf("-name %q: want 1 to 128 letters, digits and . _ : @ -, starting with a letter or digit", *name))
	}
	if *ttl < 0 {
		return usageError(fs, fmt.Errorf("-ttl %s: must not be negative", *ttl))
	}
	db, err := dbPath()
	if err != nil {
		return fail(stderr, "operator-token create", err)
	}
	st, err := openExisting(db, "start offbox-ingest serve once to create it")
	if err != nil {
		return fail(stderr, "operator-token create", err)
	}
	defer st.Close()
	tok, err := secret.NewToken(operatorTokenPrefix)
	if err != nil {
		return fail(stderr, "operator-token create", err)
	}
	now := time.Now()
	t := store.OperatorToken{Hash: secret.Hash(tok), Name: *name, Created: now}
	valid := "does not expire"
	if *ttl > 0 {
		t.Expires = now.Add(*ttl)
		valid = "valid until " + t.Expires.Format(time.RFC3339)
	}
	if err := st.CreateOperatorToken(context.Background(), t); err != nil {
		return fail(stderr, "operator-token create", err)
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "offbox-ingest: query API token for operator %s, %s; it is not shown again. Use it as:\n"+
		"  Authorization: Bearer TOKEN\n", *name, valid)
	return exitOK
}

// operatorTokenPrefix starts every operator token, so one is recognised
// in a paste or a leaked log.
const operatorTokenPrefix = "obo_"

// operatorTokenList prints every operator token (never the token, which
// is not stored): operator, created, expires, and whether it is revoked.
func operatorTokenList(args []string, stdout, stderr io.Writer) int {
	fs := flags("operator-token list", stderr)
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	st, code := openOperatorStore(dbPath, stderr, "operator-token list")
	if st == nil {
		return code
	}
	defer st.Close()
	toks, err := st.OperatorTokens(context.Background())
	if err != nil {
		return fail(stderr, "operator-token list", err)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATOR\tCREATED\tEXPIRES\tSTATE")
	for _, t := range toks {
		expires, state := "never", "valid"
		if !t.Expires.IsZero() {
			expires = t.Expires.UTC().Format(time.RFC3339)
			if !now.Before(t.Expires) {
				state = "expired"
			}
		}
		if !t.Revoked.IsZero() {
			state = "revoked " + t.Revoked.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Created.UTC().Format(time.RFC3339), expires, state)
	}
	if err := tw.Flush(); err != nil {
		return fail(stderr, "operator-token list", err)
	}
	return exitOK
}

// operatorTokenRevoke revokes every token of one operator. A running
// collector looks each token up at each request, so the next request with
// a revoked token is refused.
func operatorTokenRevoke(args []string, stdout, stderr io.Writer) int {
	fs := flags("operator-token revoke", stderr)
	name := fs.String("name", "", "the operator `name` whose tokens are revoked")
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if !operatorNameRE.MatchString(*name) {
		return usageError(fs, fmt.Errorf("-name %q: want 1 to 128 letters, digits and . _ : @ -, starting with a letter or digit", *name))
	}
	st, code := openOperatorStore(dbPath, stderr, "operator-token revoke")
	if st == nil {
		return code
	}
	defer st.Close()
	n, err := st.RevokeOperatorTokens(context.Background(), *name, time.Now())
	if err != nil {
		return fail(stderr, "operator-token revoke", err)
	}
	if n == 0 {
		return fail(stderr, "operator-token revoke", fmt.Errorf("operator %s has no token that is not already revoked", *name))
	}
	fmt.Fprintf(stdout, "revoked %d token(s) of operator %s; running collectors refuse them from the next request\n", n, *name)
	return exitOK
}

// openOperatorStore opens the existing database that dbPath names, or
// reports why not (st nil, code the exit code).
func openOperatorStore(dbPath func() (string, error), stderr io.Writer, cmd string) (st store.Store, code int) {
	db, err := dbPath()
	if err != nil {
		return nil, fail(stderr, cmd, err)
	}
	st, err = openExisting(db, "start offbox-ingest serve once to create it")
	if err != nil {
		return nil, fail(stderr, cmd, err)
	}
	return st, exitOK
}
