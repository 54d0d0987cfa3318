package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"

	_ "modernc.org/sqlite"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store/sqlite"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

var binary string // the real offbox-ingest, built once

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "offbox-ingest-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "offbox-ingest")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBin runs the binary to completion.
func runBin(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return so.String(), se.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return so.String(), se.String(), 0
}

// runFunc runs run() in process.
func runFunc(args ...string) (stdout, stderr string, code int) {
	var so, se bytes.Buffer
	code = run(args, &so, &se)
	return so.String(), se.String(), code
}

var listeningRE = regexp.MustCompile(`offbox-ingest: listening on (\S+)\n`)

// serveProc is a running `offbox-ingest serve`.
type serveProc struct {
	cmd    *exec.Cmd
	addr   string
	logs   *lockedbuf.Buffer
	exited chan struct{}
}

// startServe runs `offbox-ingest serve` and waits for its listening line.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	return startServeCmd(t, exec.Command(binary, append([]string{"serve"}, args...)...))
}

// startServeCmd is startServe of a command that runs serve (under a
// wrapper that sets its limits, say).
func startServeCmd(t *testing.T, cmd *exec.Cmd) *serveProc {
	t.Helper()
	p := &serveProc{logs: &lockedbuf.Buffer{}, exited: make(chan struct{}), cmd: cmd}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("serve output:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningRE.FindStringSubmatch(p.logs.String()); m != nil {
			p.addr = m[1]
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("serve exited before listening:\n%s", p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not print its listening line:\n%s", p.logs.String())
	return nil
}

// terminate sends SIGTERM and returns the exit code, failing the test if
// serve does not stop within 20 s.
func (p *serveProc) terminate(t *testing.T) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of SIGTERM")
		return -1
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"serve", "-nope"},
		{"serve", "extra-argument"},
		{"records", "-db", "x", "-json", "-count"},
		{"records", "-db", "x", "-since", "yesterday"},
		{"records", "-db", "x", "-kind", "logs"},
		{"dev-certs", "-out", t.TempDir()},
		{"dev-certs", "-device", "a"},
		{"version", "extra"},
	} {
		_, stderr, code := runFunc(args...)
		if code != 2 || stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 with usage on stderr", args, code, stderr)
		}
	}
	// And through the real binary.
	if _, stderr, code := runBin(t); code != 2 || !strings.Contains(stderr, "usage: offbox-ingest") {
		t.Errorf("no arguments: exit %d, stderr %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	if out, _, code := runFunc("version"); code != 0 || !strings.HasPrefix(out, "offbox-ingest ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// TestServeRefusesBadSetup: every problem that would stop the collector
// is reported before anything listens, with exit 1.
func TestServeRefusesBadSetup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	good := []string{"-listen", "127.0.0.1:0", "-ca", filepath.Join(pki, "ca.pem"), "-cert", filepath.Join(pki, "ingest.pem"),
		"-key", filepath.Join(pki, "ingest-key.pem"), "-db", filepath.Join(dir, "x.db")}
	with := func(flag, value string) []string {
		out := []string{"serve"}
		for i := 0; i < len(good); i += 2 {
			if good[i] == flag {
				out = append(out, flag, value)
			} else {
				out = append(out, good[i], good[i+1])
			}
		}
		return out
	}
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not a key"), 0o600)
	badConfig := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badConfig, []byte("listen: 127.0.0.1:0\ndb: x.db\nmax_batch_byte: 5\n"), 0o600)
	tests := map[string]struct {
		args []string
		want string
	}{
		"missing cert file":  {with("-cert", filepath.Join(dir, "nope.pem")), "tls.cert"},
		"unreadable key":     {with("-key", garbage), "key"},
		"key of another":     {with("-key", filepath.Join(pki, "d-key.pem")), "private key does not match"},
		"db dir missing":     {with("-db", filepath.Join(dir, "no", "such", "x.db")), "db "},
		"unknown config key": {[]string{"serve", "-config", badConfig}, badConfig + ":3"},
		"port taken":         {with("-listen", "256.0.0.1:99999"), "listen"},
		"postgres down":      {with("-db", "postgres://offbox:s3cret@127.0.0.1:1/offbox?connect_timeout=5"), "127.0.0.1"},
		"postgres no db":     {with("-db", "postgres://offbox:s3cret@127.0.0.1:1"), "names no database"},
	}
	for name, tt := range tests {
		_, stderr, code := runBin(t, tt.args...)
		if code != 1 || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "listening on") {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 mentioning %q and no listening line", name, code, stderr, tt.want)
		}
		if strings.Contains(stderr, "s3cret") {
			t.Errorf("%s: the error repeats the password: %s", name, stderr)
		}
	}
}

// TestServeRetention: with retention set, serve removes at start the
// batches received longer ago, keeps the newer ones, and logs what went.
func TestServeRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := testPKI(t, dir)
	db := filepath.Join(dir, "x.db")
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dev, now := batchtest.NewDevice("d"), time.Now()
	for i := range 5 {
		b := batchtest.Commit("d", dev.Next(batchtest.Heartbeat(now.UnixNano()+int64(i))), uint64(i))
		b.Received = now
		if i < 3 {
			b.Received = now.Add(-72 * time.Hour)
		}
		if err := st.CommitBatch(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	conf := filepath.Join(dir, "ingest.yaml")
	os.WriteFile(conf, []byte("retention: 24h\n"), 0o600)
	p := startServe(t, "-config", conf, "-listen", "127.0.0.1:0", "-ca", filepath.Join(pki, "ca.pem"),
		"-cert", filepath.Join(pki, "ingest.pem"), "-key", filepath.Join(pki, "ingest-key.pem"), "-db", db)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.logs.String(), "retention removed batches") {
		if time.Now().After(deadline) {
			t.Fatalf("no retention within 20s:\n%s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if line := p.logs.String(); !strings.Contains(line, "device=d seqs=1..3 batches=3 records=3") {
		t.Errorf("retention log does not say what went:\n%s", line)
	}
	if code := p.terminate(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	if n := countRecords(t, db, "-device", "d"); n != 2 {
		t.Errorf("%d records left, want the 2 received since the cutoff", n)
	}
}

// jsonRecord is one line of `records -json`, read back as a script would.
type jsonRecord struct {
	Device       string            `json:"device"`
	Source       string            `json:"source"`
	Kind         string            `json:"kind"`
	Seq          uint64            `json:"seq"`
	Index        int               `json:"index"`
	DeviceTime   time.Time         `json:"device_time"`
	ReceivedTime time.Time         `json:"received_time"`
	Body         *string           `json:"body"`
	BodyBase64   string            `json:"body_base64"`
	BodyEncoding string            `json:"body_encoding"`
	Flags        []string          `json:"flags"`
	Attrs        map[string]string `json:"attrs"`
	FileStart    *int64            `json:"file_start"`
	FileEnd      *int64            `json:"file_end"`
}

func recordsJSON(t *testing.T, db string, args ...string) []jsonRecord {
	t.Helper()
	out, stderr, code := runBin(t, append([]string{"records", "-db", db, "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("records -json: exit %d: %s", code, stderr)
	}
	var recs []jsonRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

func countRecords(t *testing.T, db string, args ...string) int {
	t.Helper()
	out, stderr, code := runBin(t, append([]string{"records", "-db", db, "-count"}, args...)...)
	if code != 0 {
		t.Fatalf("records -count: exit %d: %s", code, stderr)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("records -count printed %q", out)
	}
	return n
}

// TestEndToEnd runs the real binary: dev-certs, serve on 127.0.0.1:0, a
// client shipping batches over real mutual TLS, records -json and -count
// while serve runs, verify, SIGTERM, and then verify failing on tampering.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if out, stderr, code := runBin(t, "dev-certs", "-out", pki, "-device", "router-1", "-device", "switch-2"); code != 0 {
		t.Fatalf("dev-certs: exit %d: %s %s", code, out, stderr)
	}
	for _, f := range []string{"ca.pem", "ingest.pem", "ingest-key.pem", "router-1.pem", "router-1-key.pem", "switch-2.pem", "switch-2-key.pem"} {
		if _, err := os.Stat(filepath.Join(pki, f)); err != nil {
			t.Errorf("dev-certs did not write %s", f)
		}
	}
	db := filepath.Join(dir, "offbox.db")
	cfgFile := filepath.Join(dir, "ingest.yaml")
	// The file sets a bogus listen address and sync mode; the -listen flag overrides the former.
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("listen: 127.0.0.1:1\nsqlite_sync: normal\ntls:\n  ca: %s\n  cert: %s\n  key: %s\n",
		filepath.Join(pki, "ca.pem"), filepath.Join(pki, "ingest.pem"), filepath.Join(pki, "ingest-key.pem"))), 0o600)
	srv := startServe(t, "-config", cfgFile, "-listen", "127.0.0.1:0", "-db", db)
	addr := srv.addr
	if strings.HasSuffix(addr, ":0") || strings.HasSuffix(addr, ":1") {
		t.Fatalf("listening line names %s, want the real port", addr)
	}

	c, err := batchtest.Dial(addr, tlsconf.Files{CA: filepath.Join(pki, "ca.pem"), Cert: filepath.Join(pki, "router-1.pem"), Key: filepath.Join(pki, "router-1-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if w, err := c.Hello(); err != nil || w.GetHead().GetSeq() != 0 {
		t.Fatalf("Hello: %v %v", w, err)
	}
	f := batchtest.NewFile("file:/var/log/auth.log", 2049, 99)
	lines := f.Lines(30, 170)
	lines[1].Body = []byte{0xff, 0xfe, 'b', 'a', 'd'} // invalid UTF-8
	lines[2].Flags = 1                                // partial
	lines[3].Body = []byte("Failed password for root from 203.0.113.7")
	batches := [][]seal.WireRecord{lines[:10], append(lines[10:20:20], batchtest.Heartbeat(f.Time)), lines[20:]}
	for _, b := range batches {
		if err := c.Send(b...); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		if a, err := c.Ack(); err != nil || a.GetSeq() != seq || a.GetStatus() != offboxv1.Ack_STATUS_STORED {
			t.Fatalf("ack %d: %v %v", seq, a, err)
		}
	}

	// Queries run against the live database (WAL), each recording its access.
	if n := countRecords(t, db); n != 31 {
		t.Errorf("records -count = %d, want 31", n)
	}
	if n := countRecords(t, db, "-source", f.Source); n != 30 {
		t.Errorf("records -count -source = %d, want 30", n)
	}
	if n := countRecords(t, db, "-device", "switch-2"); n != 0 {
		t.Errorf("records -count -device switch-2 = %d, want 0", n)
	}
	since := time.Unix(0, lines[25].TimeNs).UTC().Format(time.RFC3339Nano)
	if n := countRecords(t, db, "-since", since, "-source", f.Source); n != 5 {
		t.Errorf("records -count -since %s -source = %d, want 5", since, n)
	}
	if n := countRecords(t, db, "-since", since); n != 6 { // and the heartbeat, stamped after the last line
		t.Errorf("records -count -since %s = %d, want 6", since, n)
	}
	if n := countRecords(t, db, "-since", "10m"); n != 0 { // the test lines are from 2023
		t.Errorf("records -count -since 10m = %d, want 0", n)
	}
	if n := countRecords(t, db, "-kind", "heartbeat"); n != 1 {
		t.Errorf("records -count -kind heartbeat = %d, want 1", n)
	}
	recs := recordsJSON(t, db, "-source", f.Source)
	if len(recs) != 30 {
		t.Fatalf("records -json yielded %d, want 30", len(recs))
	}
	for i, r := range recs {
		w := lines[i]
		body := []byte(nil)
		if r.BodyEncoding == "base64" {
			body, _ = base64.StdEncoding.DecodeString(r.BodyBase64)
		} else if r.Body != nil {
			body = []byte(*r.Body)
		}
		if r.Device != "router-1" || r.Source != f.Source || r.Kind != "log" || !bytes.Equal(body, w.Body) ||
			r.DeviceTime.UnixNano() != w.TimeNs || r.ReceivedTime.IsZero() || r.FileStart == nil ||
			*r.FileStart != w.File.Start || *r.FileEnd != w.File.End || r.Attrs == nil {
			t.Errorf("record %d = %+v, want %+v", i, r, w)
		}
	}
	if recs[1].BodyEncoding != "base64" || recs[0].BodyEncoding != "" {
		t.Errorf("body encodings: %q %q, want base64 only for the invalid UTF-8 line", recs[1].BodyEncoding, recs[0].BodyEncoding)
	}
	if len(recs[2].Flags) != 1 || recs[2].Flags[0] != "partial" {
		t.Errorf("flags of the partial line = %v", recs[2].Flags)
	}
	if recs[10].Seq != 2 || recs[10].Index != 0 || recs[29].Seq != 3 || recs[29].Index != 9 {
		t.Errorf("seq/index: %d/%d and %d/%d, want 2/0 and 3/9", recs[10].Seq, recs[10].Index, recs[29].Seq, recs[29].Index)
	}
	text, _, code := runBin(t, "records", "-db", db)
	if code != 0 || !strings.Contains(text, "router-1 file:/var/log/auth.log Failed password for root from 203.0.113.7\n") {
		t.Errorf("records (text): exit %d:\n%s", code, text)
	}
	if out, stderr, code := runBin(t, "verify", "-db", db); code != 0 || !strings.Contains(out, "device=router-1 batches=3 records=31 OK") {
		t.Errorf("verify on a live store: exit %d: %s %s", code, out, stderr)
	}

	c.Close()
	if code := srv.terminate(t); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	if l := srv.logs.String(); !strings.Contains(l, "session start") || !strings.Contains(l, "session end") || strings.Contains(l, "level=ERROR") {
		t.Errorf("serve log:\n%s", l)
	}

	// After shutdown the store is still readable and intact.
	if out, _, code := runBin(t, "verify", "-db", db, "-device", "router-1"); code != 0 {
		t.Fatalf("verify after shutdown: exit %d: %s", code, out)
	}
	tamperBody(t, db, 2)
	out, _, code := runBin(t, "verify", "-db", db)
	if code != 1 || !strings.Contains(out, "device=router-1 seq=2: ") {
		t.Errorf("verify after editing a body byte of seq 2: exit %d:\n%s\nwant exit 1 naming device=router-1 seq=2", code, out)
	}
}

// tamperBody changes one byte of a line's body inside the stored batch.
func tamperBody(t *testing.T, db string, seq int) {
	t.Helper()
	sqldb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sqldb.Close()
	var b []byte
	if err := sqldb.QueryRow(`SELECT bytes FROM batches WHERE seq = ?`, seq).Scan(&b); err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndex(b, []byte("xxx"))
	if i < 0 {
		t.Fatal("no line body found in the batch")
	}
	b[i] = 'y'
	if _, err := sqldb.Exec(`UPDATE batches SET bytes = ? WHERE seq = ?`, b, seq); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyFindsEditedSegment: a segment row changed directly in the
// SQLite file makes verify exit 1 naming device and seq.
func TestVerifyFindsEditedSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if _, stderr, code := runFunc("dev-certs", "-out", pki, "-device", "sw-9"); code != 0 {
		t.Fatal(stderr)
	}
	db := filepath.Join(dir, "s.db")
	srv := startServe(t, "-listen", "127.0.0.1:0", "-db", db, "-ca", filepath.Join(pki, "ca.pem"),
		"-cert", filepath.Join(pki, "ingest.pem"), "-key", filepath.Join(pki, "ingest-key.pem"))
	c, err := batchtest.Dial(srv.addr, tlsconf.Files{CA: filepath.Join(pki, "ca.pem"), Cert: filepath.Join(pki, "sw-9.pem"), Key: filepath.Join(pki, "sw-9-key.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Hello(); err != nil {
		t.Fatal(err)
	}
	f := batchtest.NewFile("file:/var/log/messages", 1, 2)
	for seq := 1; seq <= 4; seq++ {
		if err := c.Send(f.Lines(20, 100)...); err != nil {
			t.Fatal(err)
		}
		if a, err := c.Ack(); err != nil || a.GetStatus() != offboxv1.Ack_STATUS_STORED {
			t.Fatalf("ack: %v %v", a, err)
		}
	}
	c.Close()
	if code := srv.terminate(t); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM", code)
	}
	if out, _, code := runBin(t, "verify", "-db", db); code != 0 {
		t.Fatalf("verify before tampering: exit %d: %s", code, out)
	}
	sqldb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqldb.Exec(`UPDATE segments SET max_time_ns = max_time_ns + 1 WHERE batch_seq = 3`); err != nil {
		t.Fatal(err)
	}
	sqldb.Close()
	out, _, code := runBin(t, "verify", "-db", db)
	if code != 1 || !strings.Contains(out, "device=sw-9 seq=3: index segment") {
		t.Errorf("verify after editing a segment of seq 3: exit %d:\n%s", code, out)
	}
	if out, _, code := runBin(t, "verify", "-db", db, "-device", "nobody"); code != 1 {
		t.Errorf("verify of an unknown device: exit %d: %s", code, out)
	}
}

// testPKI writes dev-certs' throwaway CA, collector and device "d"
// certificates under dir/pki and returns that directory.
func testPKI(t *testing.T, dir string) string {
	t.Helper()
	pki := filepath.Join(dir, "pki")
	if _, stderr, code := runFunc("dev-certs", "-out", pki, "-device", "d"); code != 0 {
		t.Fatalf("dev-certs: %d %s", code, stderr)
	}
	return pki
}
