package postgres

import (
	"bytes"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
)

// TestTextEscape: escaping is reversible and leaves ordinary text alone.
func TestTextEscape(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "a\x00b", "\x00", esc, esc + "0", esc + esc + "\x00" + esc, "x" + esc + "0y\x000",
		"\xff", "user\xfe\xffname", esc + "xff", "\xe2\x82", "é\x00\xc3"} {
		e := escapeText(s)
		if bytes.IndexByte([]byte(e), 0) >= 0 || !utf8.ValidString(e) {
			t.Errorf("escapeText(%q) = %q holds NUL or is not UTF-8", s, e)
		}
		if got := unescapeText(e); got != s {
			t.Errorf("unescapeText(escapeText(%q)) = %q", s, got)
		}
	}
	if escapeText("plain") != "plain" {
		t.Error("plain text changed")
	}
	if escapeText("a\x00") == escapeText("a"+esc+"0") {
		t.Error("two strings escape alike")
	}
}

// TestNULInText: text with NUL (which PostgreSQL text cannot hold) from a
// device, a log line or a request is stored and read back as given, and
// found by the filters, where SQLite would have kept it.
func TestNULInText(t *testing.T) {
	t.Parallel()
	s, _ := tempStore(t)
	weird := "a\x00b" + esc + "\xff" // NUL, the escape itself, a byte that is not UTF-8
	label := "a\x00b" + esc          // labels are JSON, which (in either engine) keeps only UTF-8
	if err := s.AddIntegrityEvent(ctx, store.IntegrityEvent{Device: weird, Kind: store.EventGap, Detail: weird, BootID: weird}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.IntegrityEvents(ctx, store.EventQuery{Device: weird})
	if err != nil || len(evs) != 1 || evs[0].Detail != weird || evs[0].BootID != weird || evs[0].Device != weird {
		t.Errorf("events = %+v, %v", evs, err)
	}
	dev := batchtest.NewDevice("d")
	f := batchtest.NewFile("file:/x\x00y", 1, 2)
	commit(t, s, dev, dev.Next(f.Lines(2, 10)...), 0)
	if n, err := s.CountRecords(ctx, store.RecordQuery{Source: f.Source}); err != nil || n != 2 {
		t.Errorf("records of a NUL source = %d, %v; want 2", n, err)
	}
	if cps, err := s.Checkpoints(ctx, "d"); err != nil || len(cps) != 1 || cps[0].Source != f.Source {
		t.Errorf("checkpoints = %+v, %v", cps, err)
	}
	if err := s.RecordAccess(ctx, store.Access{Who: "op", Via: "api", What: "GET /records?device=" + weird}); err != nil {
		t.Fatal(err)
	}
	if as, err := s.AccessesAfter(ctx, 0, 10); err != nil || len(as) != 1 || as[0].What != "GET /records?device="+weird {
		t.Errorf("accesses = %+v, %v", as, err)
	}
	a := store.Alert{GroupID: weird, Kind: "k", Severity: store.SeverityInfo, Device: weird, Key: weird, Summary: weird,
		Labels: map[string]string{"site": label, "other": "x\x00"}, Count: 1}
	if err := s.SaveAlerts(ctx, store.AlertSave{Alerts: []store.AlertUpsert{{Alert: a}}}); err != nil {
		t.Fatal(err)
	}
	for _, labels := range []map[string]string{{"site": label}, {"other": "x\x00"}} {
		got, err := s.Alerts(ctx, store.AlertQuery{Device: weird, Labels: labels})
		if err != nil || len(got) != 1 || got[0].Key != weird || got[0].Summary != weird || got[0].Labels["site"] != label {
			t.Errorf("alerts by %q = %+v, %v", labels, got, err)
		}
	}
	if got, err := s.Alerts(ctx, store.AlertQuery{Labels: map[string]string{"site": "a"}}); err != nil || len(got) != 0 {
		t.Errorf("alerts by a prefix of the label = %s, %v; want none", fmt.Sprint(len(got)), err)
	}
}

// FuzzTextEscape: for any string, escaping leaves no NUL and unescaping
// gives the string back.
func FuzzTextEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x00b", esc, esc + "0", esc + esc + "\x00", "\xff\x00" + esc} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := escapeText(s)
		if bytes.IndexByte([]byte(e), 0) >= 0 || !utf8.ValidString(e) {
			t.Fatalf("escapeText(%q) = %q holds NUL or is not UTF-8", s, e)
		}
		if got := unescapeText(e); got != s {
			t.Fatalf("unescapeText(escapeText(%q)) = %q", s, got)
		}
	})
}
