package api

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/secret"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Who names of the access trail.
const (
	WhoUnauthenticated = "unauthenticated" // a refused call
	RefusedPrefix      = "refused: "       // begins the What of a refused call
)

// CookieName is the cookie the dashboard's login sets: it holds an
// operator token, accepted like Authorization: Bearer.
const CookieName = "offbox_operator"

// AuthStore is what authentication reads (operator tokens) and writes
// (the access trail).
type AuthStore interface {
	OperatorToken(ctx context.Context, hash []byte) (t store.OperatorToken, ok bool, err error)
	RecordAccess(ctx context.Context, a store.Access) error
}

// Auth authenticates the operators of the API and the dashboard and
// records their accesses. Store is required.
type Auth struct {
	Store  AuthStore
	Now    func() time.Time // collector clock: access times, token expiry; nil: time.Now
	Logger *slog.Logger     // nil: slog.Default()

	refusals perIP // log lines about refused calls
}

func (a *Auth) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *Auth) log() *slog.Logger {
	if a.Logger == nil {
		return slog.Default()
	}
	return a.Logger
}

// Fail writes an error answer with status and msg; the API's is
// WriteError (JSON), the dashboard's may be a page.
type Fail func(w http.ResponseWriter, r *http.Request, status int, msg string)

// Require returns next behind authentication: a request with no valid
// operator is refused with 401 (recorded as a refused access via via),
// one whose operator could not be checked with 503; next sees the
// operator as Operator(r).
func (a *Auth) Require(via string, fail Fail, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, why, err := a.Authenticate(r)
		if err != nil {
			a.log().Error(via+": operator token lookup failed", "remote", r.RemoteAddr, "err", err)
			fail(w, r, http.StatusServiceUnavailable, "the operator could not be checked; try again later")
			return
		}
		if who == "" {
			a.Refuse(w, r, via, why, fail)
			return
		}
		next.ServeHTTP(w, withOperator(r, who))
	})
}

type whoKey struct{}

// Operator is who the authenticated request r is ("" if none).
func Operator(r *http.Request) string {
	s, _ := r.Context().Value(whoKey{}).(string)
	return s
}

// Authenticate names the operator asking: "cert:"+CN for a client
// certificate the operator CA verified (the TLS layer verifies it; an
// unverified one never gets this far), else "token:"+name for a bearer
// token (Authorization: Bearer, or the CookieName cookie) whose SHA-256
// is a stored, unexpired operator token. who is "" when neither: why says
// what was wrong, for the caller. err is the store's.
func (a *Auth) Authenticate(r *http.Request) (who, why string, err error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != "" {
			return "cert:" + cn, "", nil
		}
		return "", "the operator certificate has no CN", nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
			return a.Token(r.Context(), c.Value)
		}
		return "", "authentication required: an operator certificate or Authorization: Bearer TOKEN", nil
	}
	scheme, token, _ := strings.Cut(auth, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", "Authorization: want Bearer TOKEN", nil
	}
	return a.Token(r.Context(), token)
}

// Token names the operator whose token is token ("token:"+name), as
// Authenticate does.
func (a *Auth) Token(ctx context.Context, token string) (who, why string, err error) {
	t, ok, err := a.Store.OperatorToken(ctx, secret.Hash(token))
	switch {
	case err != nil:
		return "", "", err
	case !ok:
		return "", "unknown operator token", nil
	case !t.Expires.IsZero() && !a.now().Before(t.Expires):
		return "", "operator token expired", nil
	}
	return "token:" + t.Name, "", nil
}

// Refuse answers an unauthenticated call with 401 through fail, after
// recording it in the access trail as a refused call via via (a failure
// to record it is logged; the call is refused either way).
func (a *Auth) Refuse(w http.ResponseWriter, r *http.Request, via, why string, fail Fail) {
	what := RefusedPrefix + Describe(r)
	err := a.Store.RecordAccess(r.Context(), store.Access{Time: a.now(), Who: WhoUnauthenticated, Via: via,
		Remote: r.RemoteAddr, What: what})
	if err != nil {
		a.log().Error(via+": refused call not recorded", "remote", r.RemoteAddr, "what", what, "err", err)
	}
	if ip, perr := netip.ParseAddrPort(r.RemoteAddr); perr != nil || a.refusals.allow(ip.Addr().Unmap()) {
		// Never the header itself: it may hold a real token sent to the wrong place.
		a.log().Warn(via+": call refused", "remote", r.RemoteAddr, "what", Describe(r), "why", why)
	}
	challenge := `Bearer realm="offbox"`
	if r.Header.Get("Authorization") != "" {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	fail(w, r, http.StatusUnauthorized, why)
}

// Audit records the access r is about to make, by Operator(r), via via.
// Nothing may be read if it fails.
func (a *Auth) Audit(ctx context.Context, r *http.Request, via string) error {
	who, what := Operator(r), Describe(r)
	err := a.Store.RecordAccess(ctx, store.Access{Time: a.now(), Who: who, Via: via, Remote: r.RemoteAddr, What: what})
	if err != nil {
		a.log().Error(via+": access not recorded, request refused", "who", who, "remote", r.RemoteAddr, "what", what, "err", err)
	}
	return err
}

// Describe is the method, path and query of r, as audited.
func Describe(r *http.Request) string {
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
