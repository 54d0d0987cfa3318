package alerts

import (
	"context"
	"crypto/x509"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// CertLabels reads labels from a device certificate: every Subject
// OrganizationalUnit of the form name=value (an OU without '=' is not a
// label). A certificate that does not parse has none.
func CertLabels(der []byte) map[string]string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	var out map[string]string
	for _, ou := range c.Subject.OrganizationalUnit {
		k, v, ok := strings.Cut(ou, "=")
		if !ok || k == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// LabelCache gives each device its labels: those of its newest
// certificate (CertLabels), overridden by the configured ones. A device's
// labels are looked up again after TTL, so a renewed certificate or a
// reloaded rule is seen within it.
type LabelCache struct {
	Store      store.Reader
	Configured func(device string) map[string]string // nil: none
	TTL        time.Duration                         // 0: 1 minute
	Now        func() time.Time                      // nil: time.Now

	mu      sync.Mutex
	entries map[string]labelEntry
}

type labelEntry struct {
	labels map[string]string
	at     time.Time
}

// Labels is a Config.Labels. A store error leaves the certificate's labels
// out until the next lookup; the configured ones still apply.
func (c *LabelCache) Labels(ctx context.Context, device string) map[string]string {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	t := now()
	c.mu.Lock()
	e, ok := c.entries[device]
	c.mu.Unlock()
	if ok && t.Sub(e.at) < ttl {
		return e.labels
	}
	var labels map[string]string
	appliance, isAppliance := c.applianceLabels(ctx, device)
	if isAppliance {
		// Its certificates are its relay's: the labels are the ones
		// offbox-ingest appliance add gave it.
		labels = maps.Clone(appliance)
	} else if keys, err := c.Store.Keys(ctx, device); err == nil && len(keys) > 0 {
		newest := keys[0]
		for _, k := range keys[1:] {
			if k.FirstSeen.After(newest.FirstSeen) {
				newest = k
			}
		}
		labels = CertLabels(newest.CertDER)
	}
	if c.Configured != nil {
		if conf := c.Configured(device); len(conf) > 0 {
			if labels == nil {
				labels = map[string]string{}
			}
			maps.Copy(labels, conf)
		}
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]labelEntry{}
	}
	c.entries[device] = labelEntry{labels, t}
	c.mu.Unlock()
	return labels
}

// applianceLabels returns the labels of device if the store says it is an
// appliance (store.ApplianceStore), and whether it is one.
func (c *LabelCache) applianceLabels(ctx context.Context, device string) (map[string]string, bool) {
	as, ok := c.Store.(interface {
		Appliance(ctx context.Context, name string) (store.Appliance, bool, error)
	})
	if !ok {
		return nil, false
	}
	a, ok, err := as.Appliance(ctx, device)
	if err != nil || !ok {
		return nil, false
	}
	return a.Labels, true
}
