package tlsconf

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// InstallKeyPair replaces the certificate and key files with cert and key:
// each is written to a temporary file beside it (the key 0600, the
// certificate 0644), synced, and renamed over the old one, the key first.
// A reader never sees a half-written file; between the two renames (a
// moment) it may see the new key with the old certificate, which Load and
// Reload refuse, keeping the last good pair.
func InstallKeyPair(certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) error {
	keyPEM, err := KeyPEM(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeAtomic(certFile, CertPEM(cert), 0o644)
}

// writeAtomic writes data to path through a temporary file in the same
// directory and a rename.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
