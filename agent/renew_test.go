package agent

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// renewRig is a harness whose identity can change, with a CA that
// certifies renewal requests, as the collector's Enrollment.Renew does.
type renewRig struct {
	*harness
	mu       sync.Mutex
	id       Identity
	cert     *x509.Certificate
	ca       *tlsconf.CA
	renewErr error
	installs int
	renewed  []byte // the key id of the last certificate issued
}

func newRenewRig(t *testing.T, left time.Duration) *renewRig {
	t.Helper()
	r := &renewRig{}
	ca, err := tlsconf.NewCA("test CA", 24*time.Hour*365)
	if err != nil {
		t.Fatal(err)
	}
	r.ca = ca
	r.harness = newHarness(t, func(c *Config) {
		id, _ := c.Identity()
		now := time.Now()
		r.id = id
		// Only what renewal reads: the validity, the device and the key.
		r.cert = &x509.Certificate{Subject: pkix.Name{CommonName: "sw1"}, NotBefore: now.Add(left - 90*24*time.Hour),
			NotAfter: now.Add(left), PublicKey: id.Signer.Public()}
		c.Identity = func() (Identity, error) { r.mu.Lock(); defer r.mu.Unlock(); return r.id, nil }
		c.Renewal = &Renewal{
			Cert: func() *x509.Certificate { r.mu.Lock(); defer r.mu.Unlock(); return r.cert },
			Renew: func(ctx context.Context, csrDER []byte) ([]byte, error) {
				r.mu.Lock()
				defer r.mu.Unlock()
				if r.renewErr != nil {
					return nil, r.renewErr
				}
				csr, err := x509.ParseCertificateRequest(csrDER)
				if err != nil {
					return nil, err
				}
				if err := csr.CheckSignature(); err != nil {
					return nil, err
				}
				c, err := r.ca.Issue("sw1", csr.PublicKey, nil, true, 90*24*time.Hour)
				if err != nil {
					return nil, err
				}
				r.renewed, _ = seal.KeyID(csr.PublicKey)
				return c.Raw, nil
			},
			Install: func(cert *x509.Certificate, key crypto.Signer) error {
				kid, err := seal.KeyID(key.Public())
				if err != nil {
					return err
				}
				r.mu.Lock()
				r.id, r.cert = Identity{DeviceID: "sw1", KeyID: kid, Signer: key}, cert
				r.installs++
				r.mu.Unlock()
				r.ingest.mu.Lock() // the collector knows the new certificate from the next connection
				r.ingest.pub = key.Public()
				r.ingest.mu.Unlock()
				return nil
			},
			Check: time.Hour,
		}
	})
	return r
}

// A renewal while lines flow: every batch up to the one announcing the new
// key is signed by the old key and every later one by the new key (the
// fake collector verifies each with the key of its connection, so a batch
// signed by the wrong key fails the test), the announcement names the new
// key, nothing is lost and the chain has no break.
func TestRenewalRotatesKeyAtABatchBoundary(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRenewRig(t, 10*24*time.Hour) // 10 days of 90 left: due
		oldPub := r.id.Signer.Public()
		var want []string
		for i := range 50 {
			want = append(want, fmt.Sprintf("before %d", i))
			r.emit(want[len(want)-1])
		}
		r.start()
		for i := range 50 {
			want = append(want, fmt.Sprintf("after %d", i))
			r.emit(want[len(want)-1])
			time.Sleep(10 * time.Millisecond)
		}
		synctest.Wait()
		r.stop()

		if r.installs != 1 {
			t.Fatalf("%d installs, want 1", r.installs)
		}
		stored, _ := r.ingest.snapshot()
		if got := logBodies(stored); !slices.Equal(got, want) {
			t.Errorf("stored %d lines, want all %d in order", len(got), len(want))
		}
		if n := r.ingest.breakCount(); n != 0 {
			t.Errorf("%d chain breaks", n)
		}
		oldID, _ := seal.KeyID(oldPub)
		announced := -1
		for i, b := range stored {
			for _, rec := range b.GetRecords() {
				if attr(rec, "event") == "key_rotation" {
					announced = i
					if attr(rec, "new_key_id") != hex.EncodeToString(r.renewed) {
						t.Errorf("announcement names key %s, want %x", attr(rec, "new_key_id"), r.renewed)
					}
				}
			}
		}
		if announced < 0 {
			t.Fatal("no key_rotation record stored")
		}
		for i, b := range stored {
			want := oldID
			if i > announced {
				want = r.renewed
			}
			if got := b.GetHeader().GetKeyId(); hex.EncodeToString(got) != hex.EncodeToString(want) {
				t.Errorf("batch %d (announcement is %d) signed by key %x, want %x", i, announced, got, want)
			}
		}
		if announced == len(stored)-1 {
			t.Error("nothing was sealed by the new key")
		}
	})
}

// A certificate with more than a third of its life left is not renewed;
// a renewal that fails leaves the old key in use and is tried again at the
// next check.
func TestRenewalOnlyWhenDueAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRenewRig(t, 60*24*time.Hour)
		r.start()
		r.emit("x")
		time.Sleep(3 * time.Hour)
		synctest.Wait()
		if r.installs != 0 {
			t.Errorf("renewed with 60 of 90 days left")
		}
		r.stop()
	})
	synctest.Test(t, func(t *testing.T) {
		r := newRenewRig(t, time.Hour)
		r.renewErr = errors.New("collector has no enrollment")
		r.start()
		r.emit("x")
		synctest.Wait()
		if r.installs != 0 {
			t.Fatal("installed although Renew failed")
		}
		r.mu.Lock()
		r.renewErr = nil
		r.mu.Unlock()
		time.Sleep(time.Hour + time.Second) // the next check
		synctest.Wait()
		if r.installs != 1 {
			t.Errorf("%d installs after the collector recovered, want 1", r.installs)
		}
		r.stop()
	})
}

func attr(r *offboxv1.Record, key string) string {
	for _, a := range r.GetAttrs() {
		if a.GetKey() == key {
			return a.GetValue()
		}
	}
	return ""
}

// newKeyLike keeps the key type; RSA is refused.
func TestNewKeyLike(t *testing.T) {
	t.Parallel()
	pub, _, _ := ed25519.GenerateKey(nil)
	k, err := newKeyLike(pub)
	if _, ok := k.(ed25519.PrivateKey); err != nil || !ok {
		t.Errorf("ed25519: %T %v", k, err)
	}
	ec, _ := tlsconf.GenerateKey(tlsconf.ECDSAP256)
	k, err = newKeyLike(ec.Public())
	if err != nil || k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(ec.Public()) {
		t.Errorf("ecdsa: %v (or the same key again)", err)
	}
	if _, err := newKeyLike("rsa"); err == nil {
		t.Error("an unknown key type was accepted")
	}
}
