package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offbox/offbox/agent"
	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/collectors/syslog"
	"github.com/offbox/offbox/transport/tlsconf"
)

// relaySection is the agent's relay mode (issue 20): syslog listeners for
// appliances that cannot run the agent, each appliance known by its
// address and shipped as a device of its own (agent.Appliance). The
// appliance list is read again on SIGHUP and when the file changes.
type relaySection struct {
	ListenUDP      string          `yaml:"listen_udp" json:"listen_udp,omitempty"` // host:port
	ListenTCP      string          `yaml:"listen_tcp" json:"listen_tcp,omitempty"` // host:port; octet-counted or newline-framed
	ListenTLS      string          `yaml:"listen_tls" json:"listen_tls,omitempty"` // host:port; RFC 5425
	TLS            relayTLS        `yaml:"tls" json:"tls"`
	MaxConnections int             `yaml:"max_connections" json:"max_connections,omitempty"` // TCP and TLS connections open at once; 0 means 256
	IdleTimeout    time.Duration   `yaml:"idle_timeout" json:"idle_timeout,omitempty"`       // 0 means 5m
	Appliances     []applianceConf `yaml:"appliances" json:"appliances,omitempty"`
}

// relayTLS is the TLS listener's certificate (a server certificate: the
// device certificate is a client one) and, optionally, the CA appliances'
// client certificates must chain to.
type relayTLS struct {
	Cert     string `yaml:"cert" json:"cert,omitempty"`
	Key      string `yaml:"key" json:"key,omitempty"`
	ClientCA string `yaml:"client_ca" json:"client_ca,omitempty"` // set: appliances must present a certificate it signed
}

// applianceConf is one appliance: its device name at the collector (which
// must authorise this relay for it: offbox-ingest appliance add) and the
// address (an IP or a CIDR) it sends from.
type applianceConf struct {
	Name    string            `yaml:"name" json:"name"`
	Address string            `yaml:"address" json:"address"`
	Labels  map[string]string `yaml:"labels" json:"labels,omitempty"` // in the config hash; the collector's appliance labels (appliance add -label) are what alerts carry
}

func (r *relaySection) enabled() bool {
	return r.ListenUDP != "" || r.ListenTCP != "" || r.ListenTLS != ""
}

// applianceRoute is one parsed appliance.
type applianceRoute struct {
	name   string
	prefix netip.Prefix
}

// parseAppliances checks the list: names are device ids, each once;
// addresses are IPs or CIDRs, each once (a longer prefix wins over a
// shorter one that contains it). Routes come back longest prefix first.
func parseAppliances(list []applianceConf) ([]applianceRoute, error) {
	names, prefixes := map[string]bool{}, map[netip.Prefix]string{}
	var out []applianceRoute
	for i, a := range list {
		at := func(k string) []string { return []string{"relay", "appliances", strconv.Itoa(i), k} }
		if !tlsconf.ValidDeviceID(a.Name) {
			return nil, fieldErr(fmt.Sprintf("%q: want 1 to 128 letters, digits and . _ : @ -", a.Name), at("name")...)
		}
		if names[a.Name] {
			return nil, fieldErr(fmt.Sprintf("appliance %s is listed twice", a.Name), at("name")...)
		}
		names[a.Name] = true
		p, err := parseAddress(a.Address)
		if err != nil {
			return nil, fieldErr(err.Error(), at("address")...)
		}
		if other, dup := prefixes[p]; dup {
			return nil, fieldErr(fmt.Sprintf("%s is also %s's address", p, other), at("address")...)
		}
		prefixes[p] = a.Name
		out = append(out, applianceRoute{name: a.Name, prefix: p})
	}
	slices.SortStableFunc(out, func(x, y applianceRoute) int { return y.prefix.Bits() - x.prefix.Bits() })
	return out, nil
}

// parseAddress reads an IP (a host prefix) or a CIDR.
func parseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		if p.Masked() != p {
			return p, fmt.Errorf("%q has host bits set (did you mean %s?)", s, p.Masked())
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())), nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	ip = ip.Unmap()
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// unmapBits is what a v4-mapped v6 prefix loses when unmapped.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// validateRelay checks the relay section (check-config, run).
func (c *config) validateRelay(files bool) error {
	r := c.Relay
	for _, l := range []struct{ key, addr string }{{"listen_udp", r.ListenUDP}, {"listen_tcp", r.ListenTCP}, {"listen_tls", r.ListenTLS}} {
		if l.addr == "" {
			continue
		}
		if err := syslog.CheckAddr(l.addr); err != nil {
			return fieldErr(bare(err, "syslog"), "relay", l.key)
		}
	}
	if r.MaxConnections < 0 {
		return fieldErr("must not be negative", "relay", "max_connections")
	}
	if r.IdleTimeout < 0 {
		return fieldErr("must not be negative", "relay", "idle_timeout")
	}
	if r.ListenTLS != "" && (r.TLS.Cert == "" || r.TLS.Key == "") {
		return fieldErr("listen_tls needs relay.tls.cert and relay.tls.key (a server certificate)", "relay", "tls")
	}
	if r.ListenTLS != "" && files {
		if _, err := relayTLSConfig(r.TLS); err != nil {
			return fieldErr(err.Error(), "relay", "tls")
		}
	}
	if _, err := parseAppliances(r.Appliances); err != nil {
		return err
	}
	if r.enabled() && len(r.Appliances) == 0 {
		return fieldErr("a relay listener is set but no appliance is listed: everything it receives would be dropped", "relay", "appliances")
	}
	return nil
}

// relayTLSConfig is the TLS listener's configuration.
func relayTLSConfig(t relayTLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("client_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("client_ca: %s holds no PEM certificate", t.ClientCA)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// relayHash is the relay section's part of the config hash: nothing when
// relaying is off, so configurations without it keep their hash.
func (c *config) relayHash() []byte {
	if !c.Relay.enabled() && len(c.Relay.Appliances) == 0 {
		return nil
	}
	b, _ := json.Marshal(c.Relay)
	return b
}

// router is the relay's routing table: appliance addresses to their
// chains' emitters. It is swapped whole on reload; Route reads it per
// message.
type router struct {
	mu     sync.RWMutex
	routes []applianceRoute
	ems    map[string]collectors.Emitter
}

// route implements syslog.Route.
func (r *router) route(ip netip.Addr) (collectors.Emitter, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, rt := range r.routes {
		if rt.prefix.Contains(ip) {
			em, ok := r.ems[rt.name]
			return em, ok
		}
	}
	return nil, false
}

// load makes the appliances' chains (a chain once made stays; an
// appliance removed only stops being routed to and heartbeated) and swaps
// the table in.
func (r *router) load(a *agent.Agent, routes []applianceRoute) error {
	ems := make(map[string]collectors.Emitter, len(routes))
	for _, rt := range routes {
		em, err := a.Appliance(rt.name)
		if err != nil {
			return err
		}
		ems[rt.name] = em
	}
	names := make([]string, 0, len(routes))
	for _, rt := range routes {
		names = append(names, rt.name)
	}
	a.RelayOnly(names) // the others are no longer heartbeated
	r.mu.Lock()
	r.routes, r.ems = routes, ems
	r.mu.Unlock()
	return nil
}

// relayCollector is the relay's listeners: collectors/syslog in relay mode.
func (c *config) relayCollector(r *router, log *slog.Logger) (*syslog.Collector, error) {
	rc := c.Relay
	cfg := syslog.Config{MaxMessageBytes: c.Syslog.MaxMessageBytes, MaxConnections: rc.MaxConnections,
		IdleTimeout: rc.IdleTimeout, Logger: log.With("part", "relay"), Route: r.route}
	if rc.ListenUDP != "" {
		cfg.UDP = []string{rc.ListenUDP}
	}
	if rc.ListenTCP != "" {
		cfg.TCP = []string{rc.ListenTCP}
	}
	if rc.ListenTLS != "" {
		tc, err := relayTLSConfig(rc.TLS)
		if err != nil {
			return nil, fmt.Errorf("relay.tls: %w", err)
		}
		cfg.TLS, cfg.TLSConfig = []string{rc.ListenTLS}, tc
	}
	return syslog.New(cfg)
}

// relayReloadEvery is how often the config file is looked at for a
// changed appliance list (besides SIGHUP). Polling the content survives
// editors that replace the file and config management that renames it in.
const relayReloadEvery = time.Second

// relayWiring is relay mode's parts: the router, and the file the
// appliance list is read again from.
type relayWiring struct {
	rt   *router
	path string // the config file the appliance list is read again from; "" when flags alone
}

// startRelay wires relay mode: the router and the listeners (appended to
// the sources); after agent.New, finish makes the appliances' chains and
// starts the reloader. nil when relaying is off.
func (c *config) startRelay(cs *sources, path string, log *slog.Logger) (*relayWiring, error) {
	if !c.Relay.enabled() {
		return nil, nil
	}
	w := &relayWiring{rt: &router{}, path: path}
	col, err := c.relayCollector(w.rt, log)
	if err != nil {
		return nil, err
	}
	cs.all = append(cs.all, col)
	return w, nil
}

// finish makes the chains of the configured appliances and, with a file
// to read, reloads the list on SIGHUP and when the file changes, until
// ctx ends.
func (w *relayWiring) finish(ctx context.Context, c *config, a *agent.Agent, hup <-chan os.Signal, log *slog.Logger) error {
	routes, err := parseAppliances(c.Relay.Appliances)
	if err != nil {
		return err
	}
	if err := w.rt.load(a, routes); err != nil {
		return err
	}
	log.Info("relay listening", "udp", c.Relay.ListenUDP, "tcp", c.Relay.ListenTCP, "tls", c.Relay.ListenTLS, "appliances", len(routes))
	if w.path == "" {
		return nil
	}
	go w.reloadLoop(ctx, a, hup, log)
	return nil
}

func (w *relayWiring) reloadLoop(ctx context.Context, a *agent.Agent, hup <-chan os.Signal, log *slog.Logger) {
	last, _ := os.ReadFile(w.path)
	t := time.NewTicker(relayReloadEvery)
	defer t.Stop()
	for {
		why := "file changed"
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-t.C:
			b, err := os.ReadFile(w.path)
			if err != nil || string(b) == string(last) {
				continue
			}
		}
		last, _ = os.ReadFile(w.path)
		w.reload(a, why, log)
	}
}

// reload reads the appliance list again; a bad file keeps the last list.
func (w *relayWiring) reload(a *agent.Agent, why string, log *slog.Logger) {
	c, err := loadConfigChecked(w.path, false)
	if err == nil {
		var routes []applianceRoute
		if routes, err = parseAppliances(c.Relay.Appliances); err == nil {
			if err = w.rt.load(a, routes); err == nil {
				log.Info("relay appliance list reloaded", "why", why, "appliances", len(routes))
				return
			}
		}
	}
	log.Error("relay appliance list not reloaded; keeping the last one", "why", why, "err", err)
}

// relaySummary is check-config's line for relay mode.
func (c *config) relaySummary() string {
	r := c.Relay
	if !r.enabled() {
		return "off"
	}
	var as []string
	for _, a := range r.Appliances {
		as = append(as, a.Name+"="+a.Address)
	}
	budget := c.MemoryBudgetBytes
	if budget == 0 {
		budget = agent.DefaultMemoryBudget
	}
	return fmt.Sprintf("on, udp %q, tcp %q, tls %q, %d appliances (%s), each queue %d bytes of the budget",
		r.ListenUDP, r.ListenTCP, r.ListenTLS, len(r.Appliances), strings.Join(as, ", "), agent.ApplianceBudget(budget))
}
