package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/secret"
)

const operatorTokenUsage = `usage: offbox-ingest operator-token create -name N [-ttl D] [-db F | -config F]
`

// defaultOperatorTTL is how long an operator token lasts unless -ttl says
// otherwise. Tokens cannot be revoked yet, so they expire by default.
const defaultOperatorTTL = 90 * 24 * time.Hour

// operatorNameRE: operator names appear in the access trail and in alerts
// as "token:NAME".
var operatorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)

// operatorTokenCmd manages query API tokens.
func operatorTokenCmd(args []string, stdout, stderr io.Writer) int {
	return subcommand("operator-token", operatorTokenUsage, args, stdout, stderr, map[string]func([]string, io.Writer, io.Writer) int{
		"create": operatorTokenCreate,
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
