// Package web is the collector's dashboard: the fleet, its alerts and one
// device's boots, clock and logs, as server-rendered pages on the query
// API's listener. It authenticates and audits exactly as the API does
// (api.Auth: every page that reads is recorded first, via "dashboard",
// and is not shown if it cannot be), and serves its templates and static
// files from the binary, so it works offline. Like the API it only reads
// what devices sent; it never writes to the store except the access
// trail and operators' alert transitions (triage.go: same-origin, with a
// per-session CSRF token), and it never loads anything from another
// origin.
package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/store"
)

//go:embed templates static
var assets embed.FS

// PartialHeader asks for a page's main element only: the dashboard's
// script refreshes a page by fetching it again with this header.
const PartialHeader = "X-Offbox-Partial"

// Via names the dashboard in the access trail.
const Via = "dashboard"

// Config configures the Handler. Store and Auth are required.
type Config struct {
	Store  api.Store
	Auth   *api.Auth                                                  // shared with the API
	Labels func(ctx context.Context, device string) map[string]string // a device's labels; nil: none
	Now    func() time.Time                                           // collector clock; nil: time.Now
	Logger *slog.Logger                                               // nil: slog.Default()

	// Forward holds the forward sinks' cursors, for their lag on the
	// fleet page; nil: no such line.
	Forward store.ForwardStore
}

type handler struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New returns the dashboard's handler, to be served at / beside the API.
func New(cfg Config) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	for _, p := range []string{"fleet", "alerts", "device", "record", "alert"} {
		h.pages[p] = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+p+".html"))
	}
	static, _ := fs.Sub(assets, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /login", h.loginForm)
	// Logging in and out change the browser's credential, so another site
	// must not be able to make a visitor's browser post them (login CSRF:
	// a page logging the victim in as the attacker, or out).
	sameOrigin := http.NewCrossOriginProtection()
	sameOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Fail(w, r, http.StatusForbidden, "cross-site request refused: log in and out from the dashboard's own pages")
	}))
	h.mux.Handle("POST /login", sameOrigin.Handler(http.HandlerFunc(h.login)))
	h.mux.Handle("POST /logout", sameOrigin.Handler(http.HandlerFunc(h.logout)))
	read := func(pattern string, f func(w http.ResponseWriter, r *http.Request)) {
		h.mux.Handle(pattern, cfg.Auth.Require(Via, Fail, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := cfg.Auth.Audit(r.Context(), r, Via); err != nil {
				Fail(w, r, http.StatusServiceUnavailable, "this access could not be recorded, so nothing was read; try again later")
				return
			}
			f(w, r)
		})))
	}
	read("GET /{$}", h.fleet)
	read("GET /alerts", h.alerts)
	read("GET /devices/{id}", h.device)
	read("GET /records/{device}/{seq}/{index}", h.record)
	read("GET /alerts/{id}", h.alertPage)
	h.mux.Handle("POST /alerts/triage", sameOrigin.Handler(cfg.Auth.Require(Via, Fail, http.HandlerFunc(h.triage))))
	read("GET /search", h.search)
	read("GET /search/context/{device}/{seq}/{index}", h.context)
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		Fail(w, r, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	SecurityHeaders(w.Header())
	h.mux.ServeHTTP(w, r)
}

// SecurityHeaders are set on every dashboard answer: nothing from another
// origin, no inline script, no framing.
func SecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
}

// wantsHTML reports whether r comes from a browser.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

var errorPage = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/error.html"))
var loginPage = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/login.html"))

// Fail is the api.Fail of the API's listener: a page for a browser (the
// login form with a 401), the API's JSON error for anything else.
func Fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if !wantsHTML(r) {
		api.WriteError(w, r, status, msg)
		return
	}
	SecurityHeaders(w.Header())
	data := pageData{Title: http.StatusText(status), Status: status, Message: msg}
	page := errorPage
	if status == http.StatusUnauthorized {
		page, data.Title, data.Next = loginPage, "Log in", nextPath(r.URL.Path)
	}
	render(w, r, page, status, data)
}

// pageData is what every page's template gets; Data is the page's own.
type pageData struct {
	Title    string
	Nav      string // which view is current
	Operator string
	Now      time.Time
	Refresh  bool // the page refreshes itself
	Status   int
	Message  string
	Next     string // the login form's destination
	CSRF     string // the session's token, which every form posts (CSRFToken)
	Data     any
}

func render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, data pageData) {
	name := "layout"
	if r.Header.Get(PartialHeader) != "" {
		name = "main"
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		slog.Default().Error("dashboard: template failed", "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Vary", PartialHeader+", Accept, Cookie")
	w.WriteHeader(status)
	w.Write(b.Bytes()) // a failure here is the client gone
}

// page renders one view for r's operator.
func (h *handler) page(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	render(w, r, h.pages[name], http.StatusOK, pageData{Title: title, Nav: name, Operator: api.Operator(r),
		Now: h.cfg.Now(), Refresh: true, CSRF: CSRFToken(r), Data: data})
}

// nextPath is where to go after logging in: p if SafeNext accepts it,
// else the fleet.
func nextPath(p string) string {
	if !SafeNext(p) || p == "/login" {
		return "/"
	}
	return p
}

// SafeNext reports whether p is a path on this site that a browser
// cannot read as another host: it begins with exactly one slash, and holds
// only printable ASCII other than the backslash. Browsers read a backslash
// as a slash and drop tabs and newlines anywhere in a URL, so "/\evil" and
// "/<TAB>/evil" both become "//evil": another host. Non-ASCII must come
// percent-encoded.
func SafeNext(p string) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > 2048 {
		return false
	}
	if len(p) > 1 && p[1] == '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	// A bad escape (%0X) is not a path net/url, and so the redirect, can
	// vouch for.
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}

func (h *handler) loginForm(w http.ResponseWriter, r *http.Request) {
	render(w, r, loginPage, http.StatusOK, pageData{Title: "Log in", Next: nextPath(r.URL.Query().Get("next"))})
}

// login checks the posted operator token and keeps it in a cookie that
// scripts cannot read and other sites cannot send.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := nextPath(r.PostFormValue("next"))
	if token == "" {
		render(w, r, loginPage, http.StatusUnauthorized, pageData{Title: "Log in", Next: next, Message: "enter an operator token"})
		return
	}
	who, why, err := h.cfg.Auth.Token(r.Context(), token)
	if err != nil {
		h.cfg.Logger.Error("dashboard: operator token lookup failed", "remote", r.RemoteAddr, "err", err)
		Fail(w, r, http.StatusServiceUnavailable, "the operator could not be checked; try again later")
		return
	}
	if who == "" {
		h.cfg.Auth.Refuse(w, r, Via, why, func(w http.ResponseWriter, r *http.Request, status int, msg string) {
			render(w, r, loginPage, status, pageData{Title: "Log in", Next: next, Message: msg})
		})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: api.CookieName, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	// A session's logout carries its token, as every post of the
	// dashboard does (triage.go); without a session there is nothing to end.
	if c, err := r.Cookie(api.CookieName); err == nil && c.Value != "" {
		r.Body = http.MaxBytesReader(w, r.Body, 4096)
		if !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(CSRFToken(r))) {
			Fail(w, r, http.StatusForbidden, "the form's token does not belong to this session: log out from the dashboard's own pages")
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: api.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
