package enroll

import (
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

func TestRevoked(t *testing.T) {
	t.Parallel()
	ca, err := tlsconf.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Date(2026, 11, 22, 10, 0, 0, 700_000_000, time.UTC) // NotBefore 10:00:00
	key := newKey(t, tlsconf.Ed25519)
	cert, err := ca.IssueDevice("sw-1", nil, key.Public(), issued, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyID, _ := seal.KeyID(key.Public())
	otherID, _ := seal.KeyID(newKey(t, tlsconf.Ed25519).Public())
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		revs []store.Revocation
		want bool
	}{
		{"none", nil, false},
		{"after issue", []store.Revocation{{Device: "sw-1", Time: at("2026-11-22T10:00:01Z")}}, true},
		{"same second as issue", []store.Revocation{{Device: "sw-1", Time: at("2026-11-22T10:00:00.9Z")}}, false},
		{"before issue (re-enrolled since)", []store.Revocation{{Device: "sw-1", Time: at("2026-11-22T09:00:00Z")}}, false},
		{"its key, before issue", []store.Revocation{{Device: "sw-1", Time: at("2026-11-22T09:00:00Z"), KeyIDs: [][]byte{otherID, keyID}}}, true},
		{"another key, before issue", []store.Revocation{{Device: "sw-1", Time: at("2026-11-22T09:00:00Z"), KeyIDs: [][]byte{otherID}}}, false},
		{"another device", []store.Revocation{{Device: "sw-2", Time: at("2026-11-22T11:00:00Z"), KeyIDs: [][]byte{keyID}}}, false},
		{"second of several", []store.Revocation{{Device: "sw-2", Time: at("2026-11-22T11:00:00Z")}, {Device: "sw-1", Time: at("2026-11-22T10:30:00Z")}}, true},
	}
	for _, tc := range tests {
		if got := Revoked(tc.revs, "sw-1", cert); got != tc.want {
			t.Errorf("%s: Revoked = %v, want %v", tc.name, got, tc.want)
		}
	}
}
