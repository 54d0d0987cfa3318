package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/config"
	"github.com/offbox/offbox/ingest/enroll"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/transport/tlsconf"
)

func newDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "offbox.db")
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return db
}

func runInProcess(args ...string) (code int, stdout, stderr string) {
	var so, se bytes.Buffer
	code = run(args, &so, &se)
	return code, so.String(), se.String()
}

// useToken consumes tok in db and returns what it was created with.
func useToken(t *testing.T, db, tok string) (device string, labels map[string]string, expires time.Time) {
	t.Helper()
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	et, err := st.UseToken(context.Background(), enroll.HashToken(tok), time.Now())
	if err != nil {
		t.Fatalf("token %q: %v", tok, err)
	}
	return et.Device, et.Labels, et.Expires
}

func TestTokenCreate(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	start := time.Now()
	code, out, errs := runInProcess("token", "create", "-db", db, "-device", "sw-1", "-label", "site=par1", "-label", "role=switch", "-ttl", "90m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	tok := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(tok, "obe_") || strings.Contains(tok, "\n") || len(tok) != 4+43 {
		t.Fatalf("stdout %q: want one line obe_ and 43 base64url characters", out)
	}
	if !strings.Contains(errs, "offbox enroll -server") || strings.Contains(errs, tok) {
		t.Errorf("stderr %q: want the enroll command as a hint, without the token", errs)
	}
	device, labels, expires := useToken(t, db, tok)
	if device != "sw-1" || !reflect.DeepEqual(labels, map[string]string{"site": "par1", "role": "switch"}) {
		t.Errorf("stored device %q labels %v", device, labels)
	}
	if d := expires.Sub(start); d < 90*time.Minute || d > 91*time.Minute {
		t.Errorf("expires %s after start, want 90m", d)
	}
}

func TestTokenCreateTTLFromConfig(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	conf := filepath.Join(t.TempDir(), "offbox-ingest.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "db: %s\nenroll:\n  ca_key: /x/ca-key.pem\n  token_ttl: 2h\n", db), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, errs := runInProcess("token", "create", "-config", conf, "-device", "gw-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, _, expires := useToken(t, db, strings.TrimSpace(out)); expires.Sub(start) < 2*time.Hour || expires.Sub(start) > 2*time.Hour+time.Minute {
		t.Errorf("expires %s after start, want enroll.token_ttl 2h", expires.Sub(start))
	}
}

func TestTokenCreateRefuses(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no device":      {[]string{"-db", db}, 2, "-device"},
		"slash":          {[]string{"-db", db, "-device", "a/b"}, 2, "-device"},
		"long":           {[]string{"-db", db, "-device", strings.Repeat("a", 129)}, 2, "-device"},
		"label no =":     {[]string{"-db", db, "-device", "d", "-label", "site"}, 2, "want name=value"},
		"label no name":  {[]string{"-db", db, "-device", "d", "-label", "=x"}, 2, "empty name"},
		"label twice":    {[]string{"-db", db, "-device", "d", "-label", "a=1", "-label", "a=2"}, 2, "given twice"},
		"label too long": {[]string{"-db", db, "-device", "d", "-label", "a=" + strings.Repeat("x", 70)}, 2, "at most 64"},
		"zero ttl":       {[]string{"-db", db, "-device", "d", "-ttl", "0s"}, 2, "-ttl"},
		"missing db":     {[]string{"-db", filepath.Join(t.TempDir(), "none.db"), "-device", "d"}, 1, "does not exist"},
	} {
		code, out, errs := runInProcess(append([]string{"token", "create"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d and %q", name, code, out, errs, tc.code, tc.want)
		}
	}
	if code, _, _ := runInProcess("token", "frob"); code != 2 {
		t.Errorf("token frob: exit %d, want 2", code)
	}
}

// TestEnrollmentTLS: with enroll.ca_key the ingest listener asks for a
// client certificate without requiring it; without, it requires one.
func TestEnrollmentTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := tlsconf.DevCerts(dir, []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	src, err := tlsconf.Load(tlsconf.Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "ingest.pem"),
		Key: filepath.Join(dir, "ingest-key.pem")}, tlsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(dir, "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	cfg := config.Default()
	cfg.TLS.CA = filepath.Join(dir, "ca.pem")
	for _, tc := range []struct {
		caKey    string
		auth     tls.ClientAuthType
		register bool
	}{{"", tls.RequireAndVerifyClientCert, false}, {filepath.Join(dir, "ca-key.pem"), tls.VerifyClientCertIfGiven, true}} {
		cfg.Enroll.CAKey = tc.caKey
		tc2, register, err := enrollment(cfg, st, src, log)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tc2.GetConfigForClient(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if c.ClientAuth != tc.auth || (register != nil) != tc.register {
			t.Errorf("ca_key %q: client auth %v, service %v; want %v, %v", tc.caKey, c.ClientAuth, register != nil, tc.auth, tc.register)
		}
	}
	cfg.Enroll.CAKey = filepath.Join(dir, "d1-key.pem")
	if _, _, err := enrollment(cfg, st, src, log); err == nil || !strings.Contains(err.Error(), "not the key of any certificate in tls.ca") {
		t.Errorf("device key as CA key: err = %v", err)
	}
}

// TestTokenCreateAfterRevoke: revoke -device ends the device's
// outstanding enrollment tokens; token create for a revoked device is
// refused with the revocation's reason unless -after-revoke is given, and
// a token made that way can be used.
func TestTokenCreateAfterRevoke(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	code, before, errs := runInProcess("token", "create", "-db", db, "-device", "sw-1")
	if code != exitOK {
		t.Fatalf("token create: exit %d: %s", code, errs)
	}
	if code, _, errs := runInProcess("revoke", "-db", db, "-device", "sw-1", "-reason", "stolen"); code != exitOK {
		t.Fatalf("revoke: exit %d: %s", code, errs)
	}
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.UseToken(context.Background(), enroll.HashToken(strings.TrimSuffix(before, "\n")), time.Now())
	st.Close()
	if !errors.Is(err, store.ErrTokenRevoked) {
		t.Errorf("a token made before the revocation: UseToken = %v, want %v", err, store.ErrTokenRevoked)
	}

	code, out, errs := runInProcess("token", "create", "-db", db, "-device", "sw-1")
	if code != exitFailure || out != "" || !strings.Contains(errs, "device sw-1 was revoked at ") ||
		!strings.Contains(errs, ": stolen") || !strings.Contains(errs, "-after-revoke") {
		t.Errorf("token create for a revoked device: exit %d, stdout %q, stderr %q; want exit %d naming the revocation and -after-revoke",
			code, out, errs, exitFailure)
	}
	if code, out, errs := runInProcess("token", "create", "-db", db, "-device", "sw-2"); code != exitOK || out == "" {
		t.Errorf("token create for another device: exit %d: %s", code, errs)
	}
	code, out, errs = runInProcess("token", "create", "-db", db, "-device", "sw-1", "-after-revoke")
	if code != exitOK {
		t.Fatalf("token create -after-revoke: exit %d: %s", code, errs)
	}
	if device, _, _ := useToken(t, db, strings.TrimSuffix(out, "\n")); device != "sw-1" {
		t.Errorf("token made with -after-revoke enrolls %q, want sw-1", device)
	}
}

// TestEnrollHint: the command token create prints is the one the packaged
// unit runs (-token-file, -dir /var/lib/offbox), with this collector's
// address when the configuration says it.
func TestEnrollHint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		cfg    *config.Config
		server string
		ca     string
	}{
		{"no configuration", nil, "COLLECTOR:7443", "the collector's tls.ca"},
		{"wildcard listen", &config.Config{Listen: "0.0.0.0:7543", TLS: config.TLS{CA: "/etc/offbox-ingest/ca.pem"}}, "COLLECTOR:7543", "/etc/offbox-ingest/ca.pem"},
		{"IPv6 wildcard", &config.Config{Listen: "[::]:7443"}, "COLLECTOR:7443", "the collector's tls.ca"},
		{"empty host", &config.Config{Listen: ":9000"}, "COLLECTOR:9000", "the collector's tls.ca"},
		{"named host", &config.Config{Listen: "ingest.example.net:7443"}, "ingest.example.net:7443", "the collector's tls.ca"},
		{"IPv6 address", &config.Config{Listen: "[2001:db8::7]:7443"}, "[2001:db8::7]:7443", "the collector's tls.ca"},
	} {
		got := enrollHint(tc.cfg)
		for _, want := range []string{
			"offbox enroll -server " + tc.server + " -ca /etc/offbox/ca.pem -token-file /etc/offbox/enroll-token -dir /var/lib/offbox\n",
			"echo OFFBOX_SERVER=" + tc.server + " > /etc/offbox/enroll.env\n",
			tc.ca + " copied to /etc/offbox/ca.pem",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: hint\n%s\nlacks %q", tc.name, got, want)
			}
		}
		if strings.Contains(got, "-token TOKEN") || strings.Contains(got, "-token-file /etc/offbox/enroll-token -dir /etc/offbox") {
			t.Errorf("%s: hint\n%s\nnames the old paths", tc.name, got)
		}
	}
}

// TestTokenCreateHintFromConfig: through the command, the configuration's
// listen address and CA reach the hint, and the token stays off stderr.
func TestTokenCreateHintFromConfig(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	conf := filepath.Join(t.TempDir(), "offbox-ingest.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "db: %s\nlisten: 10.1.2.3:7543\ntls:\n  ca: /srv/pki/ca.pem\nenroll:\n  ca_key: /x/ca-key.pem\n", db), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runInProcess("token", "create", "-config", conf, "-device", "gw-2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := "offbox enroll -server 10.1.2.3:7543 -ca /etc/offbox/ca.pem -token-file /etc/offbox/enroll-token -dir /var/lib/offbox"
	if !strings.Contains(errs, want) || !strings.Contains(errs, "/srv/pki/ca.pem copied") || strings.Contains(errs, strings.TrimSpace(out)) {
		t.Errorf("stderr %q: want %q, the configured CA, and not the token", errs, want)
	}
}
