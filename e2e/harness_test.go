// Package e2e runs the real offbox and offbox-ingest binaries against each
// other over real mutual TLS on loopback, with real files and the real
// logrotate, and checks what a user relies on: every line stored exactly
// once, in order, whatever is killed or rotated.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
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
)

var bin struct{ agent, ingest string }

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(floorEnv); ok { // this binary re-executed as BenchmarkFanInFloor's collector
		os.Exit(floorMain(v, os.Args[1:]))
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "offbox-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin.agent, bin.ingest = filepath.Join(dir, "offbox"), filepath.Join(dir, "offbox-ingest")
	for out, pkg := range map[string]string{bin.agent: "../cmd/offbox", bin.ingest: "../cmd/offbox-ingest"} {
		cmd := exec.Command("go", "build", "-tags", "grpcnotrace", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			return 1
		}
	}
	return m.Run()
}

func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped under -short")
	}
}

type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd
	out  *lockedbuf.Buffer
	done chan struct{}
}

func start(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: filepath.Base(name) + " " + strings.Join(args[:1], ""), out: &lockedbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- output of %s (pid %d):\n%s", p.name, p.cmd.Process.Pid, tail(p.out.String(), 6000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// listenAddr waits up to 20 s for re (its first group the address) in
// what the process printed and returns the address, failing the test if
// the process (named what) exits first.
func (p *proc) listenAddr(re *regexp.Regexp, what string) string {
	p.t.Helper()
	var addr string
	waitFor(p.t, 20*time.Second, what+" to listen", func() bool {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			addr = m[1]
			return true
		}
		if p.exited() {
			p.t.Fatalf("%s exited: %s", what, p.out.String())
		}
		return false
	})
	return addr
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill is kill -9 and wait.
func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to 10 s; a process that does not stop in
// time fails the test.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s did not stop within 10s of SIGTERM", p.name)
		p.kill()
	}
}

// run runs a command to completion and returns its stdout, stderr and exit code.
func run(t testing.TB, name string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		code = ee.ExitCode()
	}
	return so.String(), se.String(), code
}

type pki string

func newPKI(t testing.TB, devices ...string) pki {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	args := []string{"dev-certs", "-out", dir}
	for _, d := range devices {
		args = append(args, "-device", d)
	}
	if _, se, code := run(t, bin.ingest, args...); code != 0 {
		t.Fatalf("dev-certs: exit %d: %s", code, se)
	}
	return pki(dir)
}

func (p pki) ca() string              { return filepath.Join(string(p), "ca.pem") }
func (p pki) cert(name string) string { return filepath.Join(string(p), name+".pem") }
func (p pki) key(name string) string  { return filepath.Join(string(p), name+"-key.pem") }

type ingest struct {
	*proc
	addr, db string
	pki      pki
}

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

// startIngest runs offbox-ingest serve; addr may end in :0 the first time.
func startIngest(t testing.TB, p pki, db, addr string, extra ...string) *ingest {
	t.Helper()
	args := append([]string{"serve", "-listen", addr, "-ca", p.ca(), "-cert", p.cert("ingest"), "-key", p.key("ingest"), "-db", db}, extra...)
	in := &ingest{proc: start(t, bin.ingest, args...), db: db, pki: p}
	in.addr = in.listenAddr(listeningRE, "offbox-ingest")
	return in
}

// restart starts a new collector process on the same address and database.
func (in *ingest) restart(t testing.TB) *ingest {
	t.Helper()
	var n *ingest
	waitFor(t, 10*time.Second, "the port to be free again", func() bool {
		c, err := net.Listen("tcp", in.addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	n = startIngest(t, in.pki, in.db, in.addr)
	return n
}

func startAgent(t testing.TB, p pki, device, server string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"run", "-server", server, "-ca", p.ca(), "-cert", p.cert(device), "-key", p.key(device)}, extra...)
	return start(t, bin.agent, args...)
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// record is one line of `offbox-ingest records -json`.
type record struct {
	Device       string            `json:"device"`
	Via          string            `json:"via"`
	Source       string            `json:"source"`
	Kind         string            `json:"kind"`
	Seq          uint64            `json:"seq"`
	Index        int               `json:"index"`
	DeviceTime   time.Time         `json:"device_time"`
	ReceivedTime time.Time         `json:"received_time"`
	Body         string            `json:"body"`
	BodyBase64   string            `json:"body_base64"`
	BodyEncoding string            `json:"body_encoding"`
	Flags        []string          `json:"flags"`
	Attrs        map[string]string `json:"attrs"`
	FileStart    int64             `json:"file_start"`
	FileEnd      int64             `json:"file_end"`
}

func (r record) bytes(t testing.TB) []byte {
	if r.BodyEncoding == "base64" {
		b, err := base64.StdEncoding.DecodeString(r.BodyBase64)
		if err != nil {
			t.Fatalf("body_base64 %q: %v", r.BodyBase64, err)
		}
		return b
	}
	return []byte(r.Body)
}

func (r record) hasFlag(f string) bool {
	for _, x := range r.Flags {
		if x == f {
			return true
		}
	}
	return false
}

func records(t testing.TB, db string, args ...string) []record {
	t.Helper()
	so, se, code := run(t, bin.ingest, append([]string{"records", "-db", db, "-json"}, args...)...)
	if code != 0 {
		t.Fatalf("records: exit %d: %s", code, se)
	}
	var out []record
	sc := bufio.NewScanner(strings.NewReader(so))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("records: bad JSON line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func count(t testing.TB, db string, args ...string) int {
	t.Helper()
	so, se, code := run(t, bin.ingest, append([]string{"records", "-db", db, "-count"}, args...)...)
	if code != 0 {
		// The database may not exist yet right after start.
		if strings.Contains(se, "no such") || strings.Contains(se, "not exist") || strings.Contains(se, "unable to open") {
			return 0
		}
		t.Fatalf("records -count: exit %d: %s", code, se)
	}
	n, err := strconv.Atoi(strings.TrimSpace(so))
	if err != nil {
		t.Fatalf("records -count printed %q", so)
	}
	return n
}

// lineText is the i-th test line: a sortable number and padding, 169 bytes
// plus the newline, like a typical syslog line.
func lineText(tag string, i int) string {
	s := fmt.Sprintf("%s %08d Nov 22 18:00:00 host app[123]: ", tag, i)
	return s + strings.Repeat("x", 169-len(s))
}

// appendLines appends lines [from, to) to path, opening it with O_APPEND as
// a logging program does.
func appendLines(t testing.TB, path, tag string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	for i := from; i < to; i++ {
		w.WriteString(lineText(tag, i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkExactlyOnce asserts the log records of source are exactly lines
// [0, n) of tag, each once, in order.
func checkExactlyOnce(t testing.TB, recs []record, source, tag string, n int) {
	t.Helper()
	next, dups, bad := 0, 0, 0
	seen := make(map[int]bool, n)
	for _, r := range recs {
		if r.Source != source || r.Kind != "log" {
			continue
		}
		var got int
		var gotTag string
		if _, err := fmt.Sscanf(r.Body, "%s %d", &gotTag, &got); err != nil || gotTag != tag || r.Body != lineText(tag, got) {
			bad++
			if bad <= 3 {
				t.Errorf("unexpected body %q", r.Body)
			}
			continue
		}
		if seen[got] {
			dups++
			if dups <= 3 {
				t.Errorf("line %d stored twice (seq %d index %d)", got, r.Seq, r.Index)
			}
			continue
		}
		seen[got] = true
		if got != next {
			t.Errorf("line %d stored where line %d was expected: out of order or missing", got, next)
			next = got
		}
		next++
	}
	if len(seen) != n || dups != 0 || bad != 0 {
		missing := []int{}
		for i := 0; i < n && len(missing) < 5; i++ {
			if !seen[i] {
				missing = append(missing, i)
			}
		}
		t.Fatalf("%s: %d of %d lines stored, %d duplicates, %d unexpected; first missing: %v", source, len(seen), n, dups, bad, missing)
	}
}

// procStatus reads a field (in kB) of /proc/PID/status, e.g. VmHWM.
func procStatus(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// procIO reads a field of /proc/PID/io, e.g. write_bytes.
func procIO(t testing.TB, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/io", field, pid)
	return 0
}

// cpuSeconds is user+system CPU time of a running process.
// cpuPrecise is the CPU time of pid's threads in seconds, to the
// nanosecond (each thread's /proc/PID/task/TID/schedstat), for figures too
// small for cpuSeconds' 10 ms ticks. Threads that have exited are not in it;
// a Go program keeps its threads.
func cpuPrecise(t testing.TB, pid int) float64 {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var ns int64
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			continue // the thread exited since the listing
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			t.Fatalf("schedstat of %d/%s: %q", pid, task.Name(), b)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("schedstat of %d/%s: %v", pid, task.Name(), err)
		}
		ns += v
	}
	return float64(ns) / 1e9
}

func cpuSeconds(t testing.TB, pid int) float64 {
	t.Helper()
	cpu, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	return cpu
}

// procCPU is the user and system CPU seconds of pid (/proc/PID/stat).
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}
