package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/api"
	"github.com/offbox/offbox/ingest/search"
	"github.com/offbox/offbox/ingest/store"
)

var (
	searchPage  = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/search.html"))
	contextPage = template.Must(template.New("").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/context.html"))
)

// searchForm is the search page's form as the request gave it.
type searchForm struct {
	Q, Device, Label, Source, Kind, Since, Until string
	Asc                                          bool
}

// piece is part of a line; Mark is a part the query matched.
type piece struct {
	Text string
	Mark bool
}

// searchRow is one result as the page lists it.
type searchRow struct {
	Ref                string
	Device, Source     string
	DeviceTime, Recv   time.Time
	Pieces             []piece
	RecordHref, CtxRef string
}

type searchData struct {
	Form      searchForm
	Error     string
	Searched  bool
	Rows      []searchRow
	Summary   string
	Next      string // the next page's URL
	Permalink string // this search, from its first page
}

// pieces splits line at the spans, each part as valid UTF-8.
func pieces(line []byte, spans [][2]int) []piece {
	var out []piece
	at := 0
	for _, sp := range spans {
		if sp[0] > at {
			out = append(out, piece{Text: strings.ToValidUTF8(string(line[at:sp[0]]), "\uFFFD")})
		}
		out = append(out, piece{Text: strings.ToValidUTF8(string(line[sp[0]:sp[1]]), "\uFFFD"), Mark: true})
		at = sp[1]
	}
	if at < len(line) {
		out = append(out, piece{Text: strings.ToValidUTF8(string(line[at:]), "\uFFFD")})
	}
	return out
}

// searchValues are the page's parameters without the empty fields a form
// submits, with the device field split at commas and spaces.
func searchValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vals := range v {
		for _, s := range vals {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if k == "device" {
				out[k] = append(out[k], strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })...)
				continue
			}
			out[k] = append(out[k], s)
		}
	}
	return out
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	v := searchValues(r.URL.Query())
	d := searchData{Form: searchForm{Q: v.Get("q"), Device: strings.Join(v["device"], " "), Label: v.Get("label"),
		Source: v.Get("source"), Kind: v.Get("kind"), Since: v.Get("since"), Until: v.Get("until"), Asc: v.Get("asc") != ""}}
	status := http.StatusOK
	if d.Form.Q != "" {
		if v.Get("asc") != "" {
			v.Set("asc", "1")
		}
		status = h.runSearch(r, v, &d)
	}
	render(w, r, searchPage, status, pageData{Title: "Search", Nav: "search", Operator: api.Operator(r), Now: h.cfg.Now(), Data: d})
}

// runSearch fills d with the results of the search v asks for and returns
// the page's status.
func (h *handler) runSearch(r *http.Request, v url.Values, d *searchData) int {
	ctx := r.Context()
	d.Searched = true
	req, timeout, err := api.SearchRequest(ctx, v, h.cfg.Now(), h.cfg.Store, h.cfg.Labels)
	if err == nil {
		var out *api.SearchResponse
		out, err = api.Search(ctx, h.cfg.Store, req, timeout, store.Access{Time: h.cfg.Now(), Who: api.Operator(r), Via: Via,
			Remote: r.RemoteAddr, What: api.Describe(r)})
		if err == nil {
			h.fillRows(d, req.Query, out, v)
			return http.StatusOK
		}
	}
	var se *search.SyntaxError
	if msg := err.Error(); errors.As(err, &se) || strings.HasPrefix(msg, "parameter ") {
		d.Error = msg
		return http.StatusBadRequest
	}
	h.cfg.Logger.Error("dashboard: search failed", "err", err)
	d.Error = "reading the store failed"
	return http.StatusInternalServerError
}

func (h *handler) fillRows(d *searchData, q *search.Query, out *api.SearchResponse, v url.Values) {
	d.Summary = fmt.Sprintf("%d lines shown; %s.", len(out.Results), out.Summary)
	perm := url.Values{}
	for k, vals := range v {
		if k != "cursor" {
			perm[k] = vals
		}
	}
	d.Permalink = "/search?" + perm.Encode()
	if out.Next != "" {
		perm.Set("cursor", out.Next)
		d.Next = "/search?" + perm.Encode()
	}
	for _, j := range out.Results {
		var body []byte
		if j.Body != nil {
			body = []byte(*j.Body)
		}
		dt, _ := time.Parse(time.RFC3339Nano, j.DeviceTime)
		rt, _ := time.Parse(time.RFC3339Nano, j.ReceivedTime)
		d.Rows = append(d.Rows, searchRow{Ref: j.Ref, Device: j.Device, Source: j.Source, DeviceTime: dt, Recv: rt,
			Pieces: pieces(body, j.Matches), RecordHref: fmt.Sprintf("/records/%s/%d/%d", url.PathEscape(j.Device), j.Seq, j.Index),
			CtxRef: fmt.Sprintf("/search/context/%s/%d/%d?q=%s", url.PathEscape(j.Device), j.Seq, j.Index, url.QueryEscape(q.Text))})
	}
}

// contextRow is a line of the context view; Hit is the result itself.
type contextRow struct {
	searchRow
	Hit bool
}

type contextData struct {
	Ref    string
	Device string
	Source string
	Rows   []contextRow
	Back   string
}

// contextLines is how many lines before and after a result the context
// view shows.
const contextLines = 10

func (h *handler) context(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dev := r.PathValue("device")
	seq, err1 := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	index, err2 := strconv.Atoi(r.PathValue("index"))
	if err1 != nil || err2 != nil || index < 0 {
		Fail(w, r, http.StatusBadRequest, "a record is named device/seq/index, with seq and index numbers")
		return
	}
	q, _ := search.Parse(r.URL.Query().Get("q")) // only for highlighting; none is fine
	rec, ok, err := h.cfg.Store.Record(ctx, dev, seq, index)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	if !ok {
		Fail(w, r, http.StatusNotFound, "no such record")
		return
	}
	before, after, err := search.Around(ctx, h.cfg.Store, &rec, contextLines)
	if err != nil {
		h.readFailed(w, r, err)
		return
	}
	d := contextData{Ref: search.Ref(&rec), Device: rec.Device, Source: rec.GetSource(), Back: "/search?q=" + url.QueryEscape(r.URL.Query().Get("q"))}
	for i, rs := range [][]store.Record{before, {rec}, after} {
		for _, c := range rs {
			row := contextRow{Hit: i == 1}
			row.Ref, row.Device, row.Source = search.Ref(&c), c.Device, c.GetSource()
			row.DeviceTime, row.Recv = time.Unix(0, c.GetTimeNs()), c.Received
			row.RecordHref = fmt.Sprintf("/records/%s/%d/%d", url.PathEscape(c.Device), c.Seq, c.Index)
			var spans [][2]int
			if q != nil {
				spans = q.Spans(c.GetBody())
			}
			row.Pieces = pieces(c.GetBody(), spans)
			d.Rows = append(d.Rows, row)
		}
	}
	render(w, r, contextPage, http.StatusOK, pageData{Title: "Context of " + d.Ref, Nav: "search", Operator: api.Operator(r),
		Now: h.cfg.Now(), Data: d})
}
