package config

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/offbox/offbox/internal/yamlconf"
)

// API is the query API's listener. Every call needs an operator token or
// an operator certificate; the listener refuses addresses outside
// AllowCIDRs before TLS. Plain HTTP and an empty AllowCIDRs (loopback
// clients only) are allowed on a loopback address only.
type API struct {
	Listen     string   `yaml:"listen"`      // HOST:PORT; "" (default): off
	TLS        APITLS   `yaml:"tls"`         // required unless Listen is loopback
	AllowCIDRs []string `yaml:"allow_cidrs"` // client address ranges; a bare IP is /32 or /128; empty: loopback clients only
	// MaxConnections caps the listener (connections.go).
	MaxConnections int `yaml:"max_connections"` // open at once; more are reset and counted; 0: 256
}

// APITLS names the query API's PEM files, re-read on change.
type APITLS struct {
	Cert     string `yaml:"cert"`      // the API's certificate (chain)
	Key      string `yaml:"key"`       // and its private key
	ClientCA string `yaml:"client_ca"` // the operator CA (never tls.ca): its client certificates marked OU=offbox-operator authenticate; "": tokens only
}

// AllowNets parses AllowCIDRs.
func (a *API) AllowNets() ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range a.AllowCIDRs {
		p, err := ParseCIDR(s)
		if err != nil {
			errs = append(errs, yamlconf.Fieldf(fmt.Sprintf("api.allow_cidrs[%d]", i), "api.allow_cidrs[%d] %q: %v", i, s, err))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// ParseCIDR reads an address range: a CIDR such as 10.0.0.0/24 (host
// bits are cleared), or a bare IP, which is that one address.
func ParseCIDR(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Prefix{}, errors.New("an address with a zone is not a range")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("want a CIDR such as 10.0.0.0/24 or an IP address")
	}
	return p.Masked(), nil
}

// loopbackListen reports whether a HOST:PORT listens on loopback only.
func loopbackListen(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkAPI reports the problems of the api section; without files, the
// PEM files are not looked at.
func (c *Config) checkAPI(files bool) []error {
	a := &c.API
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, yamlconf.Fieldf(key, format, args...)) }
	if _, err := a.AllowNets(); err != nil {
		errs = append(errs, err)
	}
	t := a.TLS
	if (t.Cert == "") != (t.Key == "") {
		bad("api.tls", "api.tls.cert and api.tls.key: give both or neither")
	}
	if t.ClientCA != "" && t.Cert == "" {
		bad("api.tls.client_ca", "api.tls.client_ca: operator certificates need TLS; set api.tls.cert and api.tls.key too")
	}
	if t.ClientCA != "" && c.TLS.CA != "" && (filepath.Clean(t.ClientCA) == filepath.Clean(c.TLS.CA) || (files && sameCA(t.ClientCA, c.TLS.CA))) {
		bad("api.tls.client_ca", "api.tls.client_ca %s: is the device CA (tls.ca), so every device certificate would be an operator's; use a separate operator CA", t.ClientCA)
	}
	for _, f := range []struct{ key, path string }{{"api.tls.cert", t.Cert}, {"api.tls.key", t.Key}, {"api.tls.client_ca", t.ClientCA}} {
		if f.path == "" || !files {
			continue
		}
		if err := readable(f.path); err != nil {
			bad(f.key, "%s: %v", f.key, err)
		}
	}
	if a.Listen == "" {
		return errs
	}
	host, port, err := net.SplitHostPort(a.Listen)
	if err != nil || port == "" {
		bad("api.listen", "api.listen %q: want HOST:PORT", a.Listen)
		return errs
	}
	if loopbackListen(host) {
		return errs
	}
	if t.Cert == "" || t.Key == "" {
		bad("api.listen", "api.listen %q is not loopback: api.tls.cert and api.tls.key are required (plain HTTP is allowed on 127.0.0.1, ::1 or localhost only)", a.Listen)
	}
	if len(a.AllowCIDRs) == 0 {
		bad("api.allow_cidrs", "api.allow_cidrs: required when api.listen %q is not loopback: list the address ranges operators connect from, such as 10.0.0.0/24", a.Listen)
	}
	return errs
}

// sameCA reports whether the operator CA file ops holds the device CA
// of file dev: the same file by any path (a symlink, a hard link), or a
// certificate of the same subject and public key (a copy, or the CA
// re-issued): either way a device certificate would verify as an
// operator's. Files that do not parse are left to the TLS loading, which
// refuses them.
func sameCA(ops, dev string) bool {
	if filepath.Clean(ops) == filepath.Clean(dev) {
		return true
	}
	if a, err := os.Stat(ops); err == nil {
		if b, err := os.Stat(dev); err == nil && os.SameFile(a, b) {
			return true
		}
	}
	devCerts := pemCerts(dev)
	for _, o := range pemCerts(ops) {
		for _, d := range devCerts {
			if bytes.Equal(o.RawSubject, d.RawSubject) && bytes.Equal(o.RawSubjectPublicKeyInfo, d.RawSubjectPublicKeyInfo) {
				return true
			}
		}
	}
	return false
}

// pemCerts returns the certificates of a PEM file that parse.
func pemCerts(path string) []*x509.Certificate {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			out = append(out, c)
		}
	}
}

// checkKeyFiles reports private key files that others may read or change.
// A file that cannot be read at all is reported by the checks of its key.
func (c *Config) checkKeyFiles() []error {
	var errs []error
	for _, f := range []struct{ key, path string }{{"tls.key", c.TLS.Key}, {"api.tls.key", c.API.TLS.Key},
		{"enroll.ca_key", c.Enroll.CAKey}} {
		if f.path == "" || readable(f.path) != nil {
			continue
		}
		if err := CheckKeyFile(f.key, f.path); err != nil {
			errs = append(errs, yamlconf.Field(f.key, err))
		}
	}
	return errs
}

// CheckKeyFile refuses a private key file that everyone may read, or that
// anyone but its owner may change; key names the setting in the message.
func CheckKeyFile(key, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %v", key, err)
	}
	mode := fi.Mode().Perm()
	switch {
	case mode&0o004 != 0:
		return fmt.Errorf("%s %s: private key readable by every user (mode %04o); chmod 600 %s", key, path, mode, path)
	case mode&0o022 != 0:
		return fmt.Errorf("%s %s: private key writable by others than its owner (mode %04o); chmod 600 %s", key, path, mode, path)
	}
	return nil
}
