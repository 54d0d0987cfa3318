package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/tlsconf"
)

// TestApplianceCommands: add, list and remove an appliance; a second
// relay for it, an agent host's name, the relay itself and bad flags are
// refused with what is wrong; every use is in the access trail.
func TestApplianceCommands(t *testing.T) {
	t.Parallel()
	db := emptyDB(t)
	// host1 is an agent host: its certificate (of its own name) is stored.
	dir := t.TempDir()
	if err := tlsconf.DevCerts(dir, []string{"host1"}); err != nil {
		t.Fatal(err)
	}
	src, err := tlsconf.Load(tlsconf.Files{CA: dir + "/ca.pem", Cert: dir + "/host1.pem", Key: dir + "/host1-key.pem"}, tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dev := batchtest.WithKey("host1", src.Signer())
	if err := st.PutKey(context.Background(), store.Key{Device: "host1", KeyID: dev.KeyID, CertDER: src.Leaf().Raw, FirstSeen: time.Now()}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	run := func(want int, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := runFunc(append(args, "-db", db)...)
		if code != want {
			t.Fatalf("%q: exit %d (stderr %q), want %d", args, code, errOut, want)
		}
		return out, errOut
	}
	out, _ := run(exitOK, "appliance", "add", "-name", "fw1", "-relay", "relay-a", "-label", "site=hq", "-label", "vendor=cisco")
	if !strings.Contains(out, "relay relay-a may speak for it") {
		t.Errorf("add: %q", out)
	}
	run(exitOK, "appliance", "add", "-name", "sw2", "-relay", "relay-a")
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-name", "fw1", "-relay", "relay-b"}, exitFailure, "already authorised for relay relay-a"},
		{[]string{"-name", "host1", "-relay", "relay-a"}, exitFailure, "host1 is an agent host"},
		{[]string{"-name", "relay-a", "-relay", "relay-a"}, exitUsage, "a relay is no appliance"},
		{[]string{"-name", "x1", "-relay", "fw1"}, exitFailure, "-relay fw1 is itself an appliance"},
		{[]string{"-name", "bad name", "-relay", "relay-a"}, exitUsage, `-name "bad name"`},
		{[]string{"-name", "x2"}, exitUsage, `-relay ""`},
		{[]string{"-name", "x3", "-relay", "r", "-label", "novalue"}, exitUsage, `-label "novalue": want name=value`},
	} {
		_, errOut := run(tt.code, append([]string{"appliance", "add"}, tt.args...)...)
		if !strings.Contains(errOut, tt.want) {
			t.Errorf("add %q: stderr %q, want %q", tt.args, errOut, tt.want)
		}
	}
	out, _ = run(exitOK, "appliance", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "APPLIANCE") ||
		!strings.Contains(lines[1], "fw1") || !strings.Contains(lines[1], "relay-a") || !strings.Contains(lines[1], "site=hq,vendor=cisco") ||
		!strings.Contains(lines[2], "sw2") {
		t.Errorf("list:\n%s", out)
	}
	run(exitOK, "appliance", "remove", "-name", "fw1")
	_, errOut := run(exitFailure, "appliance", "remove", "-name", "fw1")
	if !strings.Contains(errOut, "no such appliance") {
		t.Errorf("remove twice: %q", errOut)
	}
	out, _ = run(exitOK, "appliance", "list")
	if strings.Contains(out, "fw1") {
		t.Errorf("fw1 listed after removal:\n%s", out)
	}

	st, err = sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acc, err := st.AccessesAfter(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var whats []string
	for _, a := range acc {
		whats = append(whats, a.What)
	}
	all := strings.Join(whats, "\n")
	for _, want := range []string{"appliance add -name fw1 -relay relay-a -label site=hq", "appliance list", "appliance remove -name fw1"} {
		if !strings.Contains(all, want) {
			t.Errorf("access trail lacks %q:\n%s", want, all)
		}
	}
}
