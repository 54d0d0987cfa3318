package search

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// Limits of one search.
const (
	DefaultLimit   = 100
	MaxLimit       = 1000 // results a page holds
	MaxContext     = 50   // lines before and after a result
	DefaultTimeout = 30 * time.Second
)

// Request is one search.
type Request struct {
	Query   *Query
	Devices []string // names; nil: every device (see DevicesWithLabels)
	Source  string
	Kind    offboxv1.Kind
	Since   time.Time // device time, inclusive
	Until   time.Time // device time, exclusive
	Asc     bool      // oldest first; default newest first
	Limit   int       // results; 0: DefaultLimit, at most MaxLimit
	Cursor  string    // Page.Next of the page before
	Context int       // lines of the same device and source before and after each result
	Count   bool      // count every match; return no results
	Workers int       // batches decoded at once; 0: GOMAXPROCS
}

// Result is one matching line.
type Result struct {
	store.Record
	Before, After []store.Record // -context lines, oldest first
}

// Ref is the record's stable reference, device/seq/index.
func Ref(r *store.Record) string {
	return r.Device + "/" + strconv.FormatUint(r.Seq, 10) + "/" + strconv.Itoa(r.Index)
}

// Page is what a search found.
type Page struct {
	Results []Result
	Count   int64  // with Request.Count: every match
	Next    string // cursor of the next page; "" when there is none
	Stats   Stats
}

// Stats say how much a search read.
type Stats struct {
	Batches   int   `json:"batches"`   // candidates (device, source, kind and time matched)
	Skipped   int   `json:"skipped"`   // of them, skipped: their filter lacks a word of the query
	Scanned   int   `json:"scanned"`   // decoded and matched line by line
	Unindexed int   `json:"unindexed"` // of those, not indexed yet
	Bytes     int64 `json:"bytes"`     // of the batches scanned
	Lines     int64 `json:"lines"`     // records matched against the query
	// FullScan: the query has no word a filter can be asked about, so
	// every candidate batch was scanned.
	FullScan bool `json:"full_scan"`
	// Stopped says why the search ended before it read every candidate
	// ("" when it did, or when a page filled): Next resumes it.
	Stopped string `json:"stopped,omitempty"`
}

// ErrCursor is a cursor that does not parse.
var ErrCursor = errors.New("cursor: not one this collector gave out")

// cursor is a place in search order: the batch, and the record index up
// to which it is done (-1: the whole batch).
type cursor struct {
	pos   store.SearchPos
	index int
}

func (c cursor) String() string {
	s := fmt.Sprintf("%d.%d.%d.%d", c.pos.ReceivedNs, c.pos.DeviceID, c.pos.Seq, c.index)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func parseCursor(s string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrCursor
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 4 {
		return cursor{}, ErrCursor
	}
	var c cursor
	var e [4]error
	c.pos.ReceivedNs, e[0] = strconv.ParseInt(parts[0], 10, 64)
	c.pos.DeviceID, e[1] = strconv.ParseInt(parts[1], 10, 64)
	c.pos.Seq, e[2] = strconv.ParseUint(parts[2], 10, 64)
	c.index, e[3] = strconv.Atoi(parts[3])
	if errors.Join(e[:]...) != nil || c.index < -1 {
		return cursor{}, ErrCursor
	}
	return c, nil
}

// Store is what a search reads.
type Store interface {
	store.SearchStore
	store.Reader
}

// How many batches one SearchBatches call returns (each call sorts the
// matching segments), and how many batches' filters are read at once.
const (
	candidatesPerRead = 65536
	filtersPerRead    = 256
)

// Run searches st. A search that ctx ends (its deadline) returns what it
// found with Stats.Stopped set, not an error.
func Run(ctx context.Context, st Store, req Request) (*Page, error) {
	if req.Query == nil {
		return nil, errors.New("search: no query")
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	workers := req.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	page := &Page{Results: []Result{}}
	if req.Devices != nil && len(req.Devices) == 0 {
		return page, nil // labels that match no device
	}
	var resume *cursor
	if req.Cursor != "" {
		c, err := parseCursor(req.Cursor)
		if err != nil {
			return nil, err
		}
		resume = &c
	}
	var hashes []uint64
	for _, t := range req.Query.Tokens() {
		hashes = append(hashes, tokenHash(t))
	}
	page.Stats.FullScan = len(hashes) == 0
	q := store.SearchQuery{DeviceNames: req.Devices, Source: req.Source, Kind: req.Kind, Since: req.Since, Until: req.Until,
		Asc: req.Asc, Limit: candidatesPerRead}
	rq := store.RecordQuery{Since: req.Since, Until: req.Until}
	if resume != nil {
		// The cursor's batch itself is read again when it was left part way.
		after := resume.pos
		if resume.index >= 0 {
			after = before(after, req.Asc)
		}
		q.After = &after
	}
	var done *cursor // everything up to here, in order, is read
	stop := func(why string) *Page {
		page.Stats.Stopped = why
		if done != nil {
			page.Next = done.String()
		} else if resume != nil {
			page.Next = req.Cursor
		}
		return page
	}
	for {
		if ctx.Err() != nil {
			return stop(stopReason(ctx)), nil
		}
		bs, err := st.SearchBatches(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return stop(stopReason(ctx)), nil
			}
			return nil, err
		}
		if len(bs) == 0 {
			return page, nil
		}
		q.After = &bs[len(bs)-1].SearchPos
		page.Stats.Batches += len(bs)
		for len(bs) > 0 {
			// Filters are read a chunk at a time, as the search reaches
			// them: a page that fills early reads few.
			chunk := bs[:min(len(bs), filtersPerRead)]
			bs = bs[len(chunk):]
			if err := st.LoadSearchFilters(ctx, chunk); err != nil {
				if ctx.Err() != nil {
					return stop(stopReason(ctx)), nil
				}
				return nil, err
			}
			var cand []*store.SearchBatch
			for i := range chunk {
				b := &chunk[i]
				if b.Filter == nil {
					page.Stats.Unindexed++
				} else if len(hashes) > 0 {
					if ok, _ := filterHas(b.Filter, hashes); !ok {
						page.Stats.Skipped++
						continue
					}
				}
				cand = append(cand, b)
			}
			if p, err := scanCandidates(ctx, st, &req, resume, &rq, workers, limit, page, cand, &done); p != nil || err != nil {
				if err != nil && ctx.Err() != nil {
					return stop(stopReason(ctx)), nil
				}
				return p, err
			}
			done = &cursor{chunk[len(chunk)-1].SearchPos, -1}
		}
	}
}

// scanCandidates decodes and matches the candidate batches a few at a
// time, in parallel, and takes their results in order; it returns the page
// when it is full, else nil and moves done past what it read.
func scanCandidates(ctx context.Context, st Store, req *Request, resume *cursor, rq *store.RecordQuery, workers, limit int,
	page *Page, cand []*store.SearchBatch, done **cursor) (*Page, error) {
	for len(cand) > 0 {
		n := min(len(cand), 2*workers)
		chunk := cand[:n]
		cand = cand[n:]
		found := make([][]store.Record, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, b := range chunk {
			wg.Add(1)
			go func() {
				defer wg.Done()
				from := -1
				if resume != nil && resume.index >= 0 && b.SearchPos == resume.pos {
					from = resume.index
				}
				found[i], errs[i] = scanBatch(ctx, st, req.Query.Matcher(), b, rq, req, from, &page.Stats)
			}()
		}
		wg.Wait()
		for i, b := range chunk {
			if errs[i] != nil {
				return nil, errs[i]
			}
			if req.Count {
				page.Count += int64(len(found[i]))
				*done = &cursor{b.SearchPos, -1}
				continue
			}
			for _, r := range found[i] {
				page.Results = append(page.Results, Result{Record: r})
				if len(page.Results) == limit {
					page.Next = cursor{b.SearchPos, r.Index}.String()
					return page, addContext(ctx, st, page, req.Context)
				}
			}
			*done = &cursor{b.SearchPos, -1}
		}
	}
	return nil, nil
}

// before is a position just before p in search order, so that a query
// "after" it includes p.
func before(p store.SearchPos, asc bool) store.SearchPos {
	if asc {
		p.Seq--
		if p.Seq == ^uint64(0) {
			p.DeviceID--
		}
		return p
	}
	p.Seq++
	if p.Seq == 0 {
		p.DeviceID++
	}
	return p
}

func stopReason(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timeout"
	}
	return "canceled"
}

var statsMu sync.Mutex

// scanBatch decodes batch b and returns its records that match, in search
// order; from, when not -1, is the cursor's index in it (the records up to
// it in search order are done). Each record's own source, kind and time
// are checked, not the index's: the index only chose the batch.
func scanBatch(ctx context.Context, st Store, m *Matcher, b *store.SearchBatch, rq *store.RecordQuery, req *Request,
	from int, stats *Stats) ([]store.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raw, err := st.SearchBatchBytes(ctx, b)
	if err != nil {
		return nil, err
	}
	dec, err := seal.Open(raw)
	if err != nil {
		return nil, fmt.Errorf("search: batch %d of %s: %w", b.Seq, b.Device, err)
	}
	recs := dec.GetRecords()
	recv := time.Unix(0, b.ReceivedNs).UTC()
	var out []store.Record
	var lines int64
	for _, g := range b.Segments {
		if g.First < 0 || g.Count < 0 || g.First+g.Count > len(recs) {
			return nil, fmt.Errorf("search: index of batch %d of %s names records [%d, %d) of %d; run verify",
				b.Seq, b.Device, g.First, g.First+g.Count, len(recs))
		}
		for i := g.First; i < g.First+g.Count; i++ {
			if from >= 0 && ((!req.Asc && i >= from) || (req.Asc && i <= from)) {
				continue
			}
			r := recs[i]
			if (req.Source != "" && r.GetSource() != req.Source) || (req.Kind != 0 && r.GetKind() != req.Kind) || !rq.MatchTime(r.GetTimeNs()) {
				continue
			}
			lines++
			if m.Match(r.GetBody()) {
				out = append(out, store.Record{Device: b.Device, Seq: b.Seq, Index: i, Received: recv, Record: r})
			}
		}
	}
	if !req.Asc {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	statsMu.Lock()
	stats.Scanned++
	stats.Bytes += int64(len(raw))
	stats.Lines += lines
	statsMu.Unlock()
	return out, nil
}

// addContext fills each result's Before and After with up to n lines of
// the same device and source around it, in stored order.
func addContext(ctx context.Context, st store.Reader, page *Page, n int) error {
	if n <= 0 {
		return nil
	}
	n = min(n, MaxContext)
	for i := range page.Results {
		r := &page.Results[i]
		var err error
		if r.Before, r.After, err = Around(ctx, st, &r.Record, n); err != nil {
			return err
		}
	}
	return nil
}

// Around returns up to n records of r's device and source stored before r
// and after it, oldest first. It reads a window of device time around r,
// widened until it holds n on each side or spans a month.
func Around(ctx context.Context, st store.Reader, r *store.Record, n int) (before, after []store.Record, err error) {
	t := time.Unix(0, r.GetTimeNs())
	for w := time.Minute; ; w *= 8 {
		q := store.RecordQuery{Device: r.Device, Source: r.GetSource(), Since: t.Add(-w), Until: t.Add(w)}
		var all []store.Record
		at := -1
		for rec, err := range st.Records(ctx, q) {
			if err != nil {
				return nil, nil, err
			}
			if rec.Seq == r.Seq && rec.Index == r.Index {
				at = len(all)
			}
			all = append(all, rec)
			if at >= 0 && len(all)-at > n {
				break
			}
			if at < 0 && len(all) > 2*n+64 { // keep only the last n before r
				all = append(all[:0], all[len(all)-n:]...)
			}
		}
		if at >= 0 && ((at >= n && len(all)-at > n) || w > 30*24*time.Hour) {
			before = all[max(0, at-n):at]
			after = all[at+1 : min(len(all), at+1+n)]
			return before, after, nil
		}
		if w > 30*24*time.Hour {
			return nil, nil, nil
		}
	}
}
