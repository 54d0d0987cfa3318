package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/server"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/tlsconf"
)

// revokeCmd records a revocation of a device: every key the store has
// seen it use, every certificate issued for it before now, and its unused
// enrollment tokens (token create refuses it afterwards unless
// -after-revoke). A running
// collector refuses those certificates and closes the device's open stream
// within its poll period (a second).
func revokeCmd(args []string, stdout, stderr io.Writer) int {
	fs := flags("revoke", stderr)
	device := fs.String("device", "", "device `id` to revoke (the certificate's CN)")
	reason := fs.String("reason", "", "why, kept with the revocation and shown to the refused agent")
	dbPath := dbFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *device == "" {
		fmt.Fprintln(stderr, "offbox-ingest revoke: -device is required")
		fs.Usage()
		return exitUsage
	}
	if !tlsconf.ValidDeviceID(*device) {
		return usageError(fs, fmt.Errorf("-device %q is not a device id (1-128 letters, digits and . _ : @ -)", *device))
	}
	path, err := dbPath()
	if err != nil {
		return fail(stderr, "revoke", err)
	}
	st, err := openExisting(path, "revoke against the collector's database")
	if err != nil {
		return fail(stderr, "revoke", err)
	}
	defer st.Close()
	ctx := context.Background()
	keys, err := st.Keys(ctx, *device)
	if err != nil {
		return fail(stderr, "revoke", err)
	}
	r := store.Revocation{Device: *device, Time: time.Now(), Reason: *reason, By: operator()}
	for _, k := range keys {
		r.KeyIDs = append(r.KeyIDs, k.KeyID)
	}
	if err := st.Revoke(ctx, r); err != nil {
		return fail(stderr, "revoke", err)
	}
	fmt.Fprintf(stdout, "revoked device %s at %s by %s", r.Device, r.Time.UTC().Format(time.RFC3339), r.By)
	if r.Reason != "" {
		fmt.Fprintf(stdout, ": %s", r.Reason)
	}
	fmt.Fprintln(stdout)
	if len(keys) == 0 {
		fmt.Fprintf(stdout, "device %s is unknown to this collector (no key seen): revoked ahead of its first connection\n", r.Device)
	}
	for _, k := range keys {
		fmt.Fprintf(stdout, "  key %s (first seen %s)\n", hex.EncodeToString(k.KeyID), k.FirstSeen.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(stdout, "refused from now on: %d known key(s), every certificate for %s issued before %s and its unused enrollment tokens; "+
		"a running collector closes its open stream within seconds\n", len(keys), r.Device, r.Time.UTC().Format(time.RFC3339))
	return exitOK
}

// serverLimits is the per-device rate limit of the configuration, as the
// server asks for it at each stream.
func serverLimits(cfg config.Config) func(device string) server.Limit {
	return func(device string) server.Limit {
		l := cfg.LimitsFor(device)
		return server.Limit{RecordsPerSecond: l.RecordsPerSecond, BytesPerSecond: l.BytesPerSecond, Burst: l.Burst()}
	}
}
