package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"net/netip"
	"strings"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Who names of the access trail.
const (
	WhoUnauthenticated = "unauthenticated" // a refused call
	RefusedPrefix      = "refused: "       // begins the What of a refused call
)

type whoKey struct{}

// operator is who the authenticated request r is ("" if none).
func operator(r *http.Request) string {
	s, _ := r.Context().Value(whoKey{}).(string)
	return s
}

// authenticate names the operator asking: "cert:"+CN for a client
// certificate the operator CA verified (the TLS layer verifies it; an
// unverified one never gets this far), else "token:"+name for a bearer
// token whose SHA-256 is a stored, unexpired operator token. who is ""
// when neither: why says what was wrong, for the caller. err is the
// store's.
func (h *handler) authenticate(r *http.Request) (who, why string, err error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != "" {
			return "cert:" + cn, "", nil
		}
		return "", "the operator certificate has no CN", nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return "", "authentication required: an operator certificate or Authorization: Bearer TOKEN", nil
	}
	scheme, token, _ := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", "Authorization: want Bearer TOKEN", nil
	}
	sum := sha256.Sum256([]byte(token))
	t, ok, err := h.cfg.Store.OperatorToken(r.Context(), sum[:])
	switch {
	case err != nil:
		return "", "", err
	case !ok:
		return "", "unknown operator token", nil
	case !t.Expires.IsZero() && !h.cfg.Now().Before(t.Expires):
		return "", "operator token expired", nil
	}
	return "token:" + t.Name, "", nil
}

// refuse answers an unauthenticated call with 401, after recording it in
// the access trail as a refused call (a failure to record it is logged;
// the call is refused either way).
func (h *handler) refuse(w http.ResponseWriter, r *http.Request, why string) {
	what := RefusedPrefix + describe(r)
	err := h.cfg.Store.RecordAccess(r.Context(), store.Access{Time: h.cfg.Now(), Who: WhoUnauthenticated, Via: "api",
		Remote: r.RemoteAddr, What: what})
	if err != nil {
		h.cfg.Logger.Error("api: refused call not recorded", "remote", r.RemoteAddr, "what", what, "err", err)
	}
	if ip, perr := netip.ParseAddrPort(r.RemoteAddr); perr != nil || h.refusals.allow(ip.Addr().Unmap()) {
		// Never the header itself: it may hold a real token sent to the wrong place.
		h.cfg.Logger.Warn("api: call refused", "remote", r.RemoteAddr, "what", describe(r), "why", why)
	}
	challenge := `Bearer realm="offbox"`
	if r.Header.Get("Authorization") != "" {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeError(w, http.StatusUnauthorized, why)
}

// describe is the method, path and query of r, as audited.
func describe(r *http.Request) string {
	what := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		what += "?" + r.URL.RawQuery
	}
	return what
}

// withOperator returns r carrying who.
func withOperator(r *http.Request, who string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), whoKey{}, who))
}

// TLSConfig is the API's TLS server configuration: TLS 1.3, the
// certificate of src, reloaded on change. With operatorCA, a client
// certificate is asked for and, when given, must verify against src's CA
// pool (the operator CA); without, src's CA pool is not used and only
// tokens authenticate.
func TLSConfig(src *tlsconf.Source, operatorCA bool) *tls.Config {
	base := src.ServerConfig()
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := base.GetConfigForClient(hello)
			if err != nil {
				return nil, err
			}
			c.NextProtos = []string{"http/1.1"}
			if operatorCA {
				c.ClientAuth = tls.VerifyClientCertIfGiven
			} else {
				c.ClientAuth, c.ClientCAs = tls.NoClientCert, nil
			}
			return c, nil
		},
	}
}
