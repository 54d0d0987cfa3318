package e2e

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// searchResult is one line of `offbox-ingest search -json`.
type searchResult struct {
	Ref string `json:"ref"`
	record
	Matches [][2]int `json:"matches"`
	Before  []record `json:"before"`
	After   []record `json:"after"`
}

func searchJSON(t *testing.T, db string, args ...string) []searchResult {
	t.Helper()
	so, se, code := run(t, bin.ingest, append([]string{"search", "-db", db, "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("search %v: exit %d: %s", args, code, se)
	}
	var out []searchResult
	sc := bufio.NewScanner(strings.NewReader(so))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r searchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("search: bad JSON line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func searchCount(t *testing.T, db string, args ...string) int {
	t.Helper()
	pre := []string{"search", "-count"}
	if db != "" {
		pre = append(pre, "-db", db)
	}
	so, se, code := run(t, bin.ingest, append(pre, args...)...)
	if code != 0 {
		t.Fatalf("search -count %v: exit %d: %s", args, code, se)
	}
	n, err := strconv.Atoi(strings.TrimSpace(so))
	if err != nil {
		t.Fatalf("search -count printed %q", so)
	}
	return n
}

// TestSearchAcrossDevices: three agents ship auth and syslog lines to a real
// collector; search finds a phrase across the devices, -count agrees with a
// brute-force count over records -json, re: works, -context gives the lines
// of the same source around a result, and bad queries are usage errors
// naming the position.
func TestSearchAcrossDevices(t *testing.T) {
	skipShort(t)
	t.Parallel()
	devs := []string{"fw-1", "sw-2", "srv-3"}
	p := newPKI(t, devs...)
	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	in := startIngest(t, p, db, "127.0.0.1:0")
	total := 0
	for d, name := range devs {
		auth, sys := filepath.Join(dir, name+"-auth.log"), filepath.Join(dir, name+"-syslog")
		var a, s []string
		for i := range 60 {
			if i%4 == 0 {
				a = append(a, fmt.Sprintf("Dec  7 01:%02d:00 %s sshd[%d]: Failed password for root from 203.0.113.%d port %d ssh2", i, name, 100+i, d, 40000+i))
			} else {
				a = append(a, fmt.Sprintf("Dec  7 01:%02d:00 %s sshd[%d]: Accepted publickey for ops from 192.0.2.%d", i, name, 100+i, i))
			}
			s = append(s, fmt.Sprintf("Dec  7 01:%02d:00 %s kernel: eth%d link up, failed password policy check %d", i, name, i%3, i))
		}
		for path, lines := range map[string][]string{auth: a, sys: s} {
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		total += 120
		startAgent(t, p, name, in.addr, "-tail", auth, "-tail", sys, "-start-at", "beginning")
	}
	waitFor(t, 60*time.Second, "every line stored", func() bool { return count(t, db, "-kind", "log") >= total })

	// The collector's indexer catches up: every batch gets its filter.
	waitFor(t, 30*time.Second, "every batch indexed", func() bool {
		var batches, filters int
		conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.QueryRow(`SELECT (SELECT count(*) FROM batches), (SELECT count(*) FROM search_filters)`).Scan(&batches, &filters); err != nil {
			t.Fatal(err)
		}
		return batches > 0 && filters == batches
	})
	all := records(t, db, "-kind", "log")
	phrase := regexp.MustCompile(`(?i)(^|\W)failed password for root(\W|$)`)
	var want []string
	devices := map[string]bool{}
	for _, r := range all {
		if phrase.MatchString(r.Body) {
			want = append(want, fmt.Sprintf("%s/%d/%d", r.Device, r.Seq, r.Index))
			devices[r.Device] = true
		}
	}
	if len(want) != 45 || len(devices) != 3 {
		t.Fatalf("brute force found %d lines on %d devices, want 45 on 3", len(want), len(devices))
	}
	got := searchJSON(t, db, "-limit", "1000", `"FAILED PASSWORD for root"`)
	var refs []string
	for _, r := range got {
		refs = append(refs, r.Ref)
		if len(r.Matches) == 0 || !strings.EqualFold(r.Body[r.Matches[0][0]:r.Matches[0][1]], "failed password for root") {
			t.Fatalf("result %s: matches %v do not point at the phrase in %q", r.Ref, r.Matches, r.Body)
		}
	}
	slices.Sort(refs)
	slices.Sort(want)
	if !slices.Equal(refs, want) {
		t.Fatalf("search found %d lines, brute force %d:\n%v\n%v", len(refs), len(want), refs, want)
	}
	// Newest received first.
	for i := 1; i < len(got); i++ {
		if got[i].ReceivedTime.After(got[i-1].ReceivedTime) {
			t.Fatalf("results not newest first: %v then %v", got[i-1].ReceivedTime, got[i].ReceivedTime)
		}
	}
	if n := searchCount(t, db, `"failed password for root"`); n != len(want) {
		t.Fatalf("-count %d, brute force %d", n, len(want))
	}
	// Words, exclusions, filters.
	if n, w := searchCount(t, db, "failed", "password", "-root"), countWhere(all, func(b string) bool {
		l := strings.ToLower(b)
		return strings.Contains(l, "failed") && strings.Contains(l, "password") && !strings.Contains(l, "root")
	}); n != w || n != 180 {
		t.Fatalf("failed password -root: -count %d, brute force %d, want 180", n, w)
	}
	if n := searchCount(t, db, "-device", "sw-2", "-source", "file:"+filepath.Join(dir, "sw-2-auth.log"), "failed"); n != 15 {
		t.Fatalf("one device and source: %d, want 15", n)
	}
	if n := searchCount(t, db, "-device", "sw-2", "-device", "fw-1", `"failed password for root"`); n != 30 {
		t.Fatalf("two devices: %d, want 30", n)
	}
	// -label: the devices the configuration labels so.
	cfg := collectorConfig(t, dir, fmt.Sprintf("db: %s\ndevices:\n  - match: \"*-2\"\n    labels: {role: switch}\n", db))
	if n := searchCount(t, "", "-config", cfg, "-label", "role=switch", `"failed password for root"`); n != 15 {
		t.Fatalf("-label role=switch: %d, want sw-2's 15", n)
	}
	if n := searchCount(t, "", "-config", cfg, "-label", "role=router", "failed"); n != 0 {
		t.Fatalf("-label matching no device: %d, want 0", n)
	}
	// re: (RE2): port numbers ending in 0 from fw-1's address.
	reWant := countWhere(all, regexp.MustCompile(`203\.0\.113\.0 port \d*0 `).MatchString)
	if n := searchCount(t, db, `re:"203\.0\.113\.0 port \d*0 "`); n != reWant || n == 0 {
		t.Fatalf("re: count %d, brute force %d", n, reWant)
	}
	// -context: the lines of the same device and source around the result.
	res := searchJSON(t, db, "-device", "srv-3", "-context", "2", "-limit", "1", "-asc", `"sshd[120]"`)
	if len(res) != 1 {
		t.Fatalf("context search: %d results", len(res))
	}
	var around []string
	for _, r := range append(append(res[0].Before, res[0].record), res[0].After...) {
		around = append(around, r.Body[strings.Index(r.Body, "sshd["):strings.Index(r.Body, "]")+1])
	}
	if w := []string{"sshd[118]", "sshd[119]", "sshd[120]", "sshd[121]", "sshd[122]"}; !slices.Equal(around, w) {
		t.Fatalf("context: %v, want %v", around, w)
	}
	// The text form carries the reference (device/seq/index).
	so, se, code := run(t, bin.ingest, "search", "-db", db, "-device", "srv-3", "-limit", "1", `"sshd[120]"`)
	if code != 0 || !strings.Contains(so, "ref="+res[0].Ref) || strings.Count(so, "\n") != 1 {
		t.Fatalf("text result: exit %d %q %q, want one line with ref=%s", code, so, se, res[0].Ref)
	}
	// records -ref takes the reference and gives the same record.
	if rs := records(t, db, "-ref", res[0].Ref); len(rs) != 1 || rs[0].Body != res[0].Body || rs[0].Seq != res[0].Seq {
		t.Fatalf("records -ref %s: %+v", res[0].Ref, rs)
	}
	// Bad input: usage errors naming what and where.
	for q, msg := range map[string]string{`re:a(b`: "position 4: bad regular expression", `foo "bar`: "position 5: a quote that is never closed"} {
		_, se, code := run(t, bin.ingest, "search", "-db", db, q)
		if code != 2 || !strings.Contains(se, msg) {
			t.Errorf("search %q: exit %d, %q; want exit 2 and %q", q, code, se, msg)
		}
	}
}

func countWhere(rs []record, f func(string) bool) int {
	n := 0
	for _, r := range rs {
		if r.Kind == "log" && f(r.Body) {
			n++
		}
	}
	return n
}

// TestSearchIndexOff: with search.index false the collector builds no
// filters (the indexer's cursor stays at 0), and search still finds every
// line by scanning.
func TestSearchIndexOff(t *testing.T) {
	skipShort(t)
	t.Parallel()
	p := newPKI(t, "gw")
	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	conf := filepath.Join(dir, "ingest.yaml")
	if err := os.WriteFile(conf, []byte("search:\n  index: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startIngest(t, p, db, "127.0.0.1:0", "-config", conf)
	logf := filepath.Join(dir, "gw.log")
	appendLines(t, logf, "needle", 0, 300)
	ag := startAgent(t, p, "gw", in.addr, "-tail", logf, "-start-at", "beginning", "-no-clock", "-no-watch")
	waitFor(t, 30*time.Second, "300 lines stored", func() bool { return count(t, db, "-source", "file:"+logf) == 300 })
	time.Sleep(1500 * time.Millisecond) // an indexer would have run by now (it wakes every second)
	ag.stop()
	in.stop()
	if n := searchCount(t, db, "needle"); n != 300 {
		t.Errorf("search -count needle = %d with the index off, want 300", n)
	}
	d, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var row, filters int
	if err := d.QueryRow(`SELECT batch_row, (SELECT count(*) FROM search_filters) FROM search_cursor`).Scan(&row, &filters); err != nil {
		t.Fatal(err)
	}
	if row != 0 || filters != 0 {
		t.Errorf("search.index false: indexer cursor at %d, %d filters; want none", row, filters)
	}
}
