package agent

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Renewal renews the device certificate before it expires, with a new key,
// without breaking the chain: the last batch the old key signs carries a
// record naming the new key (agent_status, event key_rotation,
// new_key_id), and only once the collector has stored it does the agent
// switch to the new key and certificate and reconnect with them.
type Renewal struct {
	// Cert is the certificate in use now.
	Cert func() *x509.Certificate
	// Renew asks the collector to certify the key of csrDER (PKCS #10) for
	// this device and returns the certificate (DER).
	Renew func(ctx context.Context, csrDER []byte) ([]byte, error)
	// Install puts the new certificate and key in place, so the next
	// connection and the next seal use them (offbox: write the files, then
	// reload the TLS material). It runs in the sender, between batches.
	Install func(cert *x509.Certificate, key crypto.Signer) error
	// Check is how often the certificate's remaining life is looked at; 0: 1h.
	Check time.Duration
	// Before is how much of the certificate's life may be left when it is
	// renewed; 0: a third.
	Before func(lifetime time.Duration) time.Duration
}

// renewals runs r until ctx ends: at start and every Check it renews the
// certificate if it is due. A failed renewal is logged and tried again at
// the next check; the current certificate stays in use meanwhile.
func (a *Agent) renewals(ctx context.Context, r *Renewal) {
	every := r.Check
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if due, left := renewalDue(r, a.cfg.Now()); due {
			a.log.Info("renewing the device certificate", "left", left.Round(time.Second))
			if err := a.renew(ctx, r); err != nil && ctx.Err() == nil {
				a.log.Error("certificate renewal failed; trying again later", "err", err, "next_try_in", every)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// renewalDue reports whether the certificate has Before(lifetime) or less
// left, and how much it has left.
func renewalDue(r *Renewal, now time.Time) (bool, time.Duration) {
	c := r.Cert()
	if c == nil {
		return false, 0
	}
	life := c.NotAfter.Sub(c.NotBefore)
	before := life / 3
	if r.Before != nil {
		before = r.Before(life)
	}
	left := c.NotAfter.Sub(now)
	return left <= before, left
}

// renew gets a certificate for a new key of the current key's type, has
// the sender announce it under the old key, and waits until it is
// installed.
func (a *Agent) renew(ctx context.Context, r *Renewal) error {
	old := r.Cert()
	key, err := newKeyLike(old.PublicKey)
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: old.Subject.CommonName}}, key)
	if err != nil {
		return fmt.Errorf("certificate request: %w", err)
	}
	der, err := r.Renew(ctx, csr)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return errors.New("renewed certificate is not for the key this agent generated")
	}
	device, keyID, err := tlsconf.Identity(cert)
	if err != nil {
		return fmt.Errorf("renewed certificate: %w", err)
	}
	if oldDevice, _, _ := tlsconf.Identity(old); device != oldDevice {
		return fmt.Errorf("renewed certificate is for device %q, not %q", device, oldDevice)
	}
	announce := collectors.Record{Kind: collectors.KindAgentStatus, Source: agentSource,
		Body: []byte("key rotation: the next batches are signed by key " + hex.EncodeToString(keyID)),
		Attrs: []collectors.Attr{{Key: "event", Value: "key_rotation"}, {Key: "new_key_id", Value: hex.EncodeToString(keyID)},
			{Key: "not_after", Value: cert.NotAfter.UTC().Format(time.RFC3339)}}}
	last, err := a.q.emitAndCut(ctx, announce)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	rot := &rotation{last: last, install: func() error { return r.Install(cert, key) }, done: done}
	select {
	case a.s.rotations <- rot:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		if err == nil {
			a.log.Info("device certificate renewed", "key_id", hex.EncodeToString(keyID), "not_after", cert.NotAfter)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newKeyLike generates a key of pub's type: Ed25519, or ECDSA on pub's curve.
func newKeyLike(pub crypto.PublicKey) (crypto.Signer, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case *ecdsa.PublicKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("renewal: ECDSA keys on %s are not supported (P-256 only)", p.Curve.Params().Name)
		}
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("renewal: %T keys are not supported (Ed25519 or ECDSA P-256)", pub)
	}
}
