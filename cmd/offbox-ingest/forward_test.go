package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
)

// TestForwardStatus: forward status shows each configured sink's cursor
// and lag, a sink never run from the start, one the configuration no
// longer names; check-config summarises the sinks.
func TestForwardStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	db := filepath.Join(dir, "offbox.db")
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d := batchtest.NewDevice("router-1")
	f := batchtest.NewFile("file:/var/log/syslog", 1, 2)
	var rows []int64
	for i := range 3 {
		b := batchtest.Commit("router-1", d.Next(f.Lines(10, 40)...), uint64(i))
		if err := st.CommitBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, b.Row)
	}
	// siem has sent the first batch and 4 records of the second.
	for _, c := range []store.ForwardCursor{{Sink: "siem", BatchRow: rows[1], Index: 4}, {Sink: "old", BatchRow: rows[2] + 1}} {
		if err := st.SaveForwardCursor(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	conf := filepath.Join(dir, "c.yaml")
	yaml := "tls:\n  ca: " + filepath.Join(pki, "ca.pem") + "\n  cert: " + filepath.Join(pki, "ingest.pem") +
		"\n  key: " + filepath.Join(pki, "ingest-key.pem") + "\ndb: " + db + "\nforward:\n" +
		"  - {name: siem, type: syslog, address: 'siem.example.net:6514', alerts: true}\n" +
		"  - {name: es, type: http, url: 'https://user:secret@es.example.net:9200/_bulk?token=x', format: es_bulk, gzip: true}\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runFunc("forward", "status", "-config", conf)
	if code != 0 {
		t.Fatalf("forward status: exit %d, %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("forward status printed %d lines, want a header and 3 sinks:\n%s", len(lines), out)
	}
	for i, want := range [][]string{
		{"SINK", "TYPE", "CURSOR", "LAG_BATCHES", "LAG_RECORDS", "LAG"},
		{"siem", "syslog", "batch 2 record 4 alert 0", " 2 ", " 16 "},
		{"es", "http", "start", "never", " 3 ", " 30 "},
		{"old", "(not configured)", "batch 4 record 0", " 0 ", " 0 ", "0s"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i]+" ", w) {
				t.Errorf("line %d %q: want %q in it", i, lines[i], w)
			}
		}
	}
	// The query is audited like the others.
	ro, err := sqlite.OpenReadOnly(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	acc, err := ro.AccessesAfter(ctx, 0, 10)
	if err != nil || len(acc) != 1 || !strings.Contains(acc[0].What, "forward status") {
		t.Errorf("accesses %+v, %v; want the forward status recorded", acc, err)
	}

	out, errOut, code = runFunc("check-config", "-config", conf)
	if code != 0 || !strings.Contains(out, "  forward      siem: syslog tls siem.example.net:6514, records and alerts\n") ||
		!strings.Contains(out, "  forward      es: http es_bulk https://es.example.net:9200/_bulk gzip, records\n") || strings.Contains(out, "secret") {
		t.Errorf("check-config: exit %d\n%s%s", code, out, errOut)
	}
}
