package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// keysDB is a database in which router-1 has used two keys.
func keysDB(t *testing.T) (path string, keyIDs [][]byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "r.db")
	st, err := sqlite.Open(path, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keyIDs = [][]byte{bytes.Repeat([]byte{0xaa}, 32), bytes.Repeat([]byte{0xbb}, 32)}
	for i, k := range keyIDs {
		if err := st.PutKey(context.Background(), store.Key{Device: "router-1", KeyID: k, CertDER: []byte("cert"),
			FirstSeen: time.Date(2026, 11, 1+i, 0, 0, 0, 0, time.UTC)}); err != nil {
			t.Fatal(err)
		}
	}
	return path, keyIDs
}

func revocationsIn(t *testing.T, path string) []store.Revocation {
	t.Helper()
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	revs, err := st.Revocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return revs
}

func TestRevokeCommand(t *testing.T) {
	db, keys := keysDB(t)
	before := time.Now().Truncate(time.Second)
	out, errOut, code := runFunc("revoke", "-db", db, "-device", "router-1", "-reason", "stolen")
	if code != exitOK {
		t.Fatalf("revoke: exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{"revoked device router-1 at ", " by " + operator() + ": stolen",
		"key " + hex.EncodeToString(keys[0]), "key " + hex.EncodeToString(keys[1]), "2 known key(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unknown") {
		t.Errorf("a known device reported unknown:\n%s", out)
	}
	revs := revocationsIn(t, db)
	if len(revs) != 1 {
		t.Fatalf("revocations = %+v, want 1", revs)
	}
	r := revs[0]
	if r.Device != "router-1" || r.Reason != "stolen" || r.By != operator() || r.Time.Before(before) || time.Since(r.Time) > time.Minute ||
		len(r.KeyIDs) != 2 || !bytes.Equal(r.KeyIDs[0], keys[0]) || !bytes.Equal(r.KeyIDs[1], keys[1]) {
		t.Errorf("revocation = %+v, want router-1 now by %s for stolen with both keys", r, operator())
	}

	// A device never seen is revoked ahead of time, and the output says so.
	conf := filepath.Join(t.TempDir(), "offbox-ingest.yaml")
	if err := os.WriteFile(conf, []byte("db: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runFunc("revoke", "-config", conf, "-device", "ghost-7")
	if code != exitOK {
		t.Fatalf("revoke ghost-7: exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "device ghost-7 is unknown to this collector") || !strings.Contains(out, "0 known key(s)") {
		t.Errorf("revoking an unknown device: output\n%s\nwant it to say the device is unknown", out)
	}
	if revs := revocationsIn(t, db); len(revs) != 2 || revs[1].Device != "ghost-7" || len(revs[1].KeyIDs) != 0 {
		t.Errorf("revocations = %+v, want ghost-7 second, without keys", revs)
	}
}

func TestRevokeErrors(t *testing.T) {
	db, _ := keysDB(t)
	missing := filepath.Join(t.TempDir(), "none.db")
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"revoke", "-db", db}, exitUsage, "-device is required"},
		{[]string{"revoke", "-db", db, "-device", "bad id"}, exitUsage, "is not a device id"},
		{[]string{"revoke", "-db", db, "-device", "r", "extra"}, exitUsage, "unexpected argument"},
		{[]string{"revoke", "-db", missing, "-device", "r"}, exitFailure, "does not exist"},
	}
	for _, tc := range tests {
		_, errOut, code := runFunc(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("revoke created %s", missing)
	}
	if revs := revocationsIn(t, db); len(revs) != 0 {
		t.Errorf("failed revokes stored %+v", revs)
	}
}
