package api

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/detect"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/secret"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Who names of the access trail.
const (
	WhoUnauthenticated = detect.WhoUnauthenticated // a refused call
	RefusedPrefix      = detect.RefusedPrefix      // begins the What of a refused call
)

// The most of a request the access trail keeps: a longer method, path or
// query is cut and marked as cut, so that a client cannot grow the store
// (and every alert sink) by the size of what it sends.
const (
	MaxAuditMethod = 16   // bytes
	MaxAuditPath   = 512  // bytes of the path
	MaxAuditQuery  = 1024 // bytes of the raw query string
)

// Defaults of Auth.RefusedBurst and Auth.RefusedWindow.
const (
	DefaultRefusedBurst  = 10
	DefaultRefusedWindow = time.Minute
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

	// Refused calls from one source address (an IPv6 client's /64) and way
	// in are recorded one by one up to RefusedBurst per RefusedWindow; past that
	// they are counted, and when the window ends one row records how many
	// there were. So a flood of refused calls costs a few rows, not one
	// each, and still counts in full in its log_access alert.
	RefusedBurst  int           // 0: DefaultRefusedBurst
	RefusedWindow time.Duration // 0: DefaultRefusedWindow

	refusals   perIP         // log lines about refused calls
	refused    atomic.Uint64 // refused calls
	unrecorded atomic.Uint64 // refused calls not recorded one by one (in a summary row, or lost past maxTracked)

	mu      sync.Mutex
	windows map[refusalKey]*refusalWindow
}

// refusalKey is what refused calls are counted by: the source, and the
// way in (api, dashboard), as their log_access alerts are grouped.
type refusalKey struct {
	src netip.Prefix
	via string
}

// refusalWindow is one source's refused calls in the current window.
type refusalWindow struct {
	start      time.Time // real clock
	n          int       // refused calls in the window
	suppressed int       // of which not recorded yet
	remote     string    // of the latest suppressed call
	latest     string    // its Describe
	flushing   bool      // a timer will record the suppressed ones
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
// unverified one never gets this far) and marked as an operator's
// (tlsconf.OperatorOU; one without is refused), else "token:"+name for a bearer
// token (Authorization: Bearer, or the CookieName cookie) whose SHA-256
// is a stored, unexpired operator token. who is "" when neither: why says
// what was wrong, for the caller. err is the store's.
func (a *Auth) Authenticate(r *http.Request) (who, why string, err error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c := r.TLS.PeerCertificates[0]
		if !tlsconf.IsOperator(c) {
			// A device certificate, should its CA ever be trusted here.
			return "", "the client certificate is not marked as an operator's (Subject OU " + tlsconf.OperatorOU + ")", nil
		}
		if cn := c.Subject.CommonName; cn != "" {
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
//
// Past RefusedBurst calls from one source in RefusedWindow, a call is not
// recorded by itself but counted, and recorded with the others in one
// summary row (detect.RefusalSummary) when the window ends.
func (a *Auth) Refuse(w http.ResponseWriter, r *http.Request, via, why string, fail Fail) {
	what := RefusedPrefix + Describe(r)
	total := a.refused.Add(1)
	if a.admitRefused(r, via) {
		err := a.Store.RecordAccess(r.Context(), store.Access{Time: a.now(), Who: WhoUnauthenticated, Via: via,
			Remote: r.RemoteAddr, What: what})
		if err != nil {
			a.log().Error(via+": refused call not recorded", "remote", r.RemoteAddr, "what", what, "err", err)
		}
	} else {
		a.unrecorded.Add(1)
	}
	if ip, perr := netip.ParseAddrPort(r.RemoteAddr); perr != nil || a.refusals.allow(ip.Addr().Unmap()) {
		// Never the header itself: it may hold a real token sent to the wrong place.
		a.log().Warn(via+": call refused", "remote", r.RemoteAddr, "what", Describe(r), "why", why,
			"refused_total", total, "not_recorded_one_by_one", a.unrecorded.Load())
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

// Refused reports how many calls were refused, and how many of them were
// not recorded one by one (see Refuse).
func (a *Auth) Refused() (total, notRecorded uint64) {
	return a.refused.Load(), a.unrecorded.Load()
}

// admitRefused reports whether the refused call r may be recorded by
// itself; if not, it is counted in its source's window, to be recorded
// in the window's summary.
func (a *Auth) admitRefused(r *http.Request, via string) bool {
	burst, window := a.RefusedBurst, a.RefusedWindow
	if burst <= 0 {
		burst = DefaultRefusedBurst
	}
	if window <= 0 {
		window = DefaultRefusedWindow
	}
	src := refusalKey{sourcePrefix(r.RemoteAddr), via}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.windows[src]
	if w == nil || (!w.flushing && now.Sub(w.start) >= window) {
		if a.windows == nil {
			a.windows = map[refusalKey]*refusalWindow{}
		}
		if len(a.windows) >= maxTracked {
			for k, old := range a.windows {
				if !old.flushing && now.Sub(old.start) >= window {
					delete(a.windows, k)
				}
			}
			if len(a.windows) >= maxTracked {
				return false // counted in Refused only: memory stays bounded under a scan
			}
		}
		w = &refusalWindow{start: now}
		a.windows[src] = w
	}
	w.n++
	if w.n <= burst {
		return true
	}
	w.suppressed++
	w.remote, w.latest = r.RemoteAddr, Describe(r)
	if !w.flushing {
		w.flushing = true
		time.AfterFunc(window-now.Sub(w.start), func() { a.flushRefused(src, w) })
	}
	return false
}

// flushRefused ends src's window w, recording its suppressed calls in one
// row.
func (a *Auth) flushRefused(src refusalKey, w *refusalWindow) {
	a.mu.Lock()
	n, via, remote, latest := w.suppressed, src.via, w.remote, w.latest
	if a.windows[src] == w {
		delete(a.windows, src)
	}
	a.mu.Unlock()
	if n == 0 {
		return
	}
	what := RefusedPrefix + latest
	if n > 1 {
		what = detect.RefusalSummary(n, latest)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Store.RecordAccess(ctx, store.Access{Time: a.now(), Who: WhoUnauthenticated, Via: via, Remote: remote, What: what}); err != nil {
		a.log().Error(via+": refused calls not recorded", "remote", remote, "calls", n, "err", err)
	}
}

// sourcePrefix is the source a refused call is counted against: its IP,
// or the /64 of an IPv6 address (one client commonly holds a whole /64).
func sourcePrefix(remote string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap().WithZone("")
	bits := ip.BitLen()
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// Describe is the method, path and query of r, as audited: each cut to
// MaxAuditMethod, MaxAuditPath and MaxAuditQuery bytes, a cut marked.
func Describe(r *http.Request) string {
	what := cut(r.Method, MaxAuditMethod) + " " + cut(r.URL.Path, MaxAuditPath)
	if r.URL.RawQuery != "" {
		what += "?" + cut(r.URL.RawQuery, MaxAuditQuery)
	}
	return what
}

// cut keeps at most max bytes of s, whole UTF-8 characters, and marks a
// cut with the length s had.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…[cut from " + strconv.Itoa(len(s)) + " bytes]"
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
