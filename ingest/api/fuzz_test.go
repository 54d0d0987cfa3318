package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/offbox/offbox/ingest/store"
)

// quietStore records no accesses, so fuzzing does not grow the database.
type quietStore struct{ Store }

func (quietStore) RecordAccess(context.Context, store.Access) error { return nil }

// FuzzParams: whatever the query string of /api/v1/alerts, /events or
// /devices, the answer is a 200 or a 400 with a message; nothing panics.
func FuzzParams(f *testing.F) {
	for _, q := range []string{"", "device=router-1", "kind=fork", "severity=warning", "label=site=ams&label=env=prod",
		"since=2026-11-22T18:00:03Z", "until=2026-11-22T18:00:03Z", "since=90m", "limit=2", "evidence=1",
		"since=2026-11-22T18:00:02Z&until=2026-11-22T18:00:20Z", "kind=auth_success",
		"limit=0", "limit=100001", "limit=x", "since=yesterday", "until=soon", "severity=high", "label=site", "label==ams",
		"evidence=maybe", "kind=login", "devcie=router-1", "device=a&device=b", "x=1", "a=%zz", "since=-999999999999h",
		"limit=-1", "label=%00=%ff", ";", "&&&", "since=1e99s"} {
		for ep := range uint8(3) {
			f.Add(ep, q)
		}
	}
	h := newHandler(quietStore{fixture(f)})
	paths := []string{"/api/v1/alerts", "/api/v1/events", "/api/v1/devices"}
	f.Fuzz(func(t *testing.T, ep uint8, query string) {
		req := httptest.NewRequest("GET", paths[int(ep)%len(paths)], nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
		case 400:
			var resp struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || strings.TrimSpace(resp.Error) == "" {
				t.Errorf("%s?%q: 400 without a message: %s", req.URL.Path, query, rec.Body.String())
			}
		default:
			t.Errorf("%s?%q: status %d: %s", req.URL.Path, query, rec.Code, rec.Body.String())
		}
	})
}

// FuzzTriageBody: whatever the action and JSON body of a triage POST, the
// answer is a 200 with a result that changed no more than matched, or a
// 400 or 404 with a message; nothing panics.
func FuzzTriageBody(f *testing.F) {
	for _, c := range []struct{ path, body string }{
		{"1/ack", ``}, {"1/ack", `{"comment":"on it"}`}, {"2/assign", `{"to":"carol"}`}, {"3/note", `{"comment":"x\u0000y"}`},
		{"ack", `{"ids":[1,2,3]}`}, {"resolve", `{"filter":{"device":"router-1","kinds":["fork"]},"all_matching":true}`},
		{"reopen", `{"filter":{"state":"resolved","since":"1h","labels":{"site":"ams"}}}`}, {"note", `{"ids":[1],"comment":""}`},
		{"1/close", `{}`}, {"x/ack", `{}`}, {"1/ack/2", `{}`}, {"ack", `{"ids":[1],"filter":{}}`}, {"ack", `{"ids":[-1,0]}`},
		{"1/ack", `{"comment":1}`}, {"1/ack", `[]`}, {"1/ack", `{} {}`}, {"assign", `{"ids":[1],"to":null}`},
		{"ack", `{"filter":{"severity":"loud","until":"soon"}}`}, {"ack", `{"filter":null,"ids":null}`},
	} {
		f.Add(c.path, c.body)
	}
	h := newHandler(quietStore{fixture(f)})
	f.Fuzz(func(t *testing.T, path, body string) {
		req := httptest.NewRequest("POST", "/api/v1/alerts/", strings.NewReader(body))
		req.URL.Path += path
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			var res TriageResult
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Changed) > res.Matched || res.WouldChange > res.Matched {
				t.Errorf("%q %q: 200 with %s", path, body, rec.Body.String())
			}
		case 400, 404:
			var resp struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || strings.TrimSpace(resp.Error) == "" {
				t.Errorf("%q %q: %d without a message: %s", path, body, rec.Code, rec.Body.String())
			}
		default:
			t.Errorf("%q %q: status %d: %s", path, body, rec.Code, rec.Body.String())
		}
	})
}
