package config

import (
	"time"

	"github.com/offbox/offbox/internal/yamlconf"
)

// Enroll turns on the Enrollment service: devices exchange a one-time
// token and a CSR for a certificate of the device CA (tls.ca). CAKey ""
// (default) leaves it off. Zero durations are the defaults.
type Enroll struct {
	CAKey        string        `yaml:"ca_key"`        // PEM private key of the tls.ca certificate; "": enrollment off
	CertValidity time.Duration `yaml:"cert_validity"` // of the certificates it issues; 0: DefaultCertValidity
	TokenTTL     time.Duration `yaml:"token_ttl"`     // default of offbox-ingest token create -ttl; 0: DefaultTokenTTL
}

// Enrollment defaults.
const (
	DefaultCertValidity = 90 * 24 * time.Hour
	DefaultTokenTTL     = 24 * time.Hour
)

// Enabled reports whether the collector serves enrollment.
func (e Enroll) Enabled() bool { return e.CAKey != "" }

// Validity is CertValidity or its default.
func (e Enroll) Validity() time.Duration {
	if e.CertValidity == 0 {
		return DefaultCertValidity
	}
	return e.CertValidity
}

// TTL is TokenTTL or its default.
func (e Enroll) TTL() time.Duration {
	if e.TokenTTL == 0 {
		return DefaultTokenTTL
	}
	return e.TokenTTL
}

// check: the key file must be readable. That it parses and is the key of
// the tls.ca certificate is checked at start (ingest/enroll.LoadCA), as
// this package never reads key material.
// Without files, the key file is not looked at.
func (e Enroll) check(files bool) []error {
	var errs []error
	if e.CAKey != "" && files {
		if err := readable(e.CAKey); err != nil {
			errs = append(errs, yamlconf.Fieldf("enroll.ca_key", "enroll.ca_key: %v", err))
		}
	}
	if e.CertValidity < 0 {
		errs = append(errs, yamlconf.Fieldf("enroll.cert_validity", "enroll.cert_validity %s: must be positive", e.CertValidity))
	}
	if e.TokenTTL < 0 {
		errs = append(errs, yamlconf.Fieldf("enroll.token_ttl", "enroll.token_ttl %s: must be positive", e.TokenTTL))
	}
	return errs
}
