package web

// Triage on the dashboard: an alert's page (its facts, evidence and every
// transition) and the forms of the alert list and page, which post to
// /alerts/triage. A post must come from the dashboard's own pages (the
// same-origin check) and carry the session's CSRF token.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/store"
)

// maxTriageForm bounds a triage form's body, in bytes.
const maxTriageForm = 64 << 10

// processKey keys the CSRF tokens of sessions that have no login cookie
// (a browser with an operator certificate): such a token holds until
// this process ends.
var processKey = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

// CSRFToken is the token the dashboard's forms post for r's session. For
// a login session it is derived from the login cookie, which scripts
// cannot read and another site cannot see, so another site cannot forge
// it; being derived, it is the same on every collector sharing a store and
// lasts as long as the session. A browser authenticated by its operator
// certificate alone gets one from its certificate and a key of this
// process.
func CSRFToken(r *http.Request) string {
	var mac []byte
	if c, err := r.Cookie(api.CookieName); err == nil && c.Value != "" {
		m := hmac.New(sha256.New, []byte("offbox dashboard csrf"))
		m.Write([]byte(c.Value))
		mac = m.Sum(nil)
	} else {
		m := hmac.New(sha256.New, processKey)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			m.Write(r.TLS.PeerCertificates[0].Raw)
		}
		m.Write([]byte(api.Operator(r)))
		mac = m.Sum(nil)
	}
	return base64.RawURLEncoding.EncodeToString(mac)
}

// alertData is an alert's page.
type alertData struct {
	Alert   alertRow
	History []store.Transition
}

// alertPage is GET /alerts/{id}.
func (h *handler) alertPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		Fail(w, r, http.StatusBadRequest, "want /alerts/ID with a positive number")
		return
	}
	ctx := r.Context()
	as, err := h.cfg.Store.Alerts(ctx, store.AlertQuery{IDs: []int64{id}})
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	if len(as) == 0 {
		Fail(w, r, http.StatusNotFound, fmt.Sprintf("no alert %d", id))
		return
	}
	rows, err := h.alertRows(ctx, as)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	hist, err := h.cfg.Store.AlertHistory(ctx, id)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	h.page(w, r, "alert", fmt.Sprintf("Alert %d", id), alertData{Alert: rows[0], History: hist})
}

// triage is POST /alerts/triage: action on the alerts id (repeated), with
// comment and to, then back to the page named by back.
func (h *handler) triage(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTriageForm)
	if err := r.ParseForm(); err != nil {
		Fail(w, r, http.StatusBadRequest, "the form could not be read: "+err.Error())
		return
	}
	if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(CSRFToken(r))) {
		Fail(w, r, http.StatusForbidden, "the form's token does not belong to this session: reload the page and try again")
		return
	}
	action := r.PostForm.Get("action")
	if err := api.CheckAction(action); err != nil {
		Fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	var ids []int64
	for _, s := range r.PostForm["id"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			Fail(w, r, http.StatusBadRequest, fmt.Sprintf("alert id %q: want a positive number", s))
			return
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		Fail(w, r, http.StatusBadRequest, "no alert selected: tick the alerts to change")
		return
	}
	if len(ids) > api.MaxTriageIDs {
		Fail(w, r, http.StatusBadRequest, fmt.Sprintf("%d alerts selected, at most %d at once", len(ids), api.MaxTriageIDs))
		return
	}
	tr := store.Transition{Action: action, Who: api.Operator(r), Via: Via, At: h.cfg.Now(),
		Comment: r.PostForm.Get("comment"), Assignee: r.PostForm.Get("to")}
	if err := store.CheckTransition(&tr); err != nil {
		Fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	if err := h.cfg.Auth.Audit(ctx, r, Via); err != nil {
		Fail(w, r, http.StatusServiceUnavailable, "this change could not be recorded in the access trail, so it was not made; try again later")
		return
	}
	if _, err := api.Triage(ctx, h.cfg.Store, store.AlertQuery{IDs: ids}, tr, true); err != nil {
		h.cfg.Logger.Error("dashboard: triage failed", "action", action, "err", err)
		Fail(w, r, http.StatusInternalServerError, "changing the alerts failed")
		return
	}
	back := r.PostForm.Get("back")
	if !SafeNext(back) {
		back = "/alerts"
		if len(ids) == 1 {
			back = fmt.Sprintf("/alerts/%d", ids[0])
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}
