package e2e

// Shipping (issue 6): the hardened systemd units, the agent's sd_notify
// readiness and watchdog, and the static cross builds run under
// qemu-user-static against a native collector.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offbox/offbox/internal/lockedbuf"
	"github.com/offbox/offbox/internal/testpeer"
)

// needTool skips without name on PATH, or fails when OFFBOX_INTEGRATION=1
// says the integration tests must run.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	return testpeer.LookPath(t, pkg, name)
}

var exposureRE = regexp.MustCompile(`Overall exposure level for (\S+): (\d+\.\d+)`)

// TestSystemdUnitsExposureIntegration rates both units with systemd's own
// offline security analysis and checks they load cleanly (systemd-analyze
// verify in a scratch root with the host's unit directory and stand-in
// binaries).
func TestSystemdUnitsExposureIntegration(t *testing.T) {
	skipShort(t)
	sa := needTool(t, "systemd-analyze", "systemd")
	units := map[string]float64{"offbox.service": 2.0, "offbox-ingest.service": 2.5}
	for unit, max := range units {
		so, se, code := run(t, sa, "security", "--offline=yes", filepath.Join("..", "systemd", unit))
		m := exposureRE.FindStringSubmatch(so)
		if code != 0 || m == nil {
			t.Fatalf("systemd-analyze security %s: exit %d, no overall exposure level:\n%s%s", unit, code, so, se)
		}
		got, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("%s: exposure %.1f (at most %.1f)", unit, got, max)
		if got > max {
			t.Errorf("%s: exposure %.1f, want at most %.1f:\n%s", unit, got, max, so)
		}
	}

	hostUnits := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(hostUnits, "sysinit.target")); err != nil {
		hostUnits = "/lib/systemd/system"
	}
	root := t.TempDir()
	for _, dir := range []string{"usr/bin", "usr/lib/systemd", "etc/systemd/system"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := exec.Command("cp", "-r", hostUnits, filepath.Join(root, "usr/lib/systemd/system")).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", hostUnits, err, b)
	}
	for _, b := range []string{"offbox", "offbox-ingest"} {
		if err := os.WriteFile(filepath.Join(root, "usr/bin", b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for unit := range units {
		b, err := os.ReadFile(filepath.Join("..", "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "etc/systemd/system", unit), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	so, se, code := run(t, sa, "verify", "--man=no", "--root="+root, "offbox.service", "offbox-ingest.service")
	if code != 0 || strings.TrimSpace(so+se) != "" {
		t.Errorf("systemd-analyze verify: exit %d, want 0 and no complaints:\n%s%s", code, so, se)
	}
}

// startEnv is start with extra environment variables.
func startEnv(t testing.TB, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: filepath.Base(name) + " " + strings.Join(args[:1], ""), out: &lockedbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(os.Environ(), env...)
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

// notifySocket is a stand-in for systemd's $NOTIFY_SOCKET: it records every
// datagram with the time it came.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []notifyMsg
}

type notifyMsg struct {
	at    time.Time
	state string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	// sun_path holds 108 bytes: t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &notifySocket{path: filepath.Join(dir, "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			for _, s := range strings.Split(strings.TrimSpace(string(buf[:k])), "\n") {
				n.msgs = append(n.msgs, notifyMsg{at: time.Now(), state: s})
			}
			n.mu.Unlock()
		}
	}()
	return n
}

// got returns the states received so far, in order.
func (n *notifySocket) got() []notifyMsg {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]notifyMsg(nil), n.msgs...)
}

func (n *notifySocket) count(state string) int {
	c := 0
	for _, m := range n.got() {
		if m.state == state {
			c++
		}
	}
	return c
}

// TestNotifyReadyAndWatchdog runs the agent as systemd would with Type=notify
// and WatchdogSec=1s: READY=1 once, WATCHDOG=1 every half second while it
// runs, STOPPING=1 after SIGTERM, and lines shipped meanwhile.
func TestNotifyReadyAndWatchdog(t *testing.T) {
	skipShort(t)
	p := newPKI(t, "sd")
	in := startIngest(t, p, filepath.Join(t.TempDir(), "ingest.db"), "127.0.0.1:0")
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, "sd", 0, 10)
	sock := listenNotify(t)
	ag := startEnv(t, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=500000"}, bin.agent,
		"run", "-server", in.addr, "-ca", p.ca(), "-cert", p.cert("sd"), "-key", p.key("sd"),
		"-tail", logf, "-start-at", "beginning")

	waitFor(t, 10*time.Second, "READY=1", func() bool { return sock.count("READY=1") > 0 })
	waitFor(t, 5*time.Second, "three WATCHDOG=1", func() bool { return sock.count("WATCHDOG=1") >= 3 })
	waitFor(t, 30*time.Second, "the lines", func() bool { return count(t, in.db, "-source", "file:"+logf) == 10 })
	if n := sock.count("STOPPING=1"); n != 0 {
		t.Fatalf("STOPPING=1 sent %d times before any signal", n)
	}
	ag.stop()
	if code := ag.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("agent exit code %d after SIGTERM, want 0", code)
	}

	msgs := sock.got()
	var states []string
	var wd []time.Time
	for _, m := range msgs {
		states = append(states, m.state)
		if m.state == "WATCHDOG=1" {
			wd = append(wd, m.at)
		}
	}
	t.Logf("notifications: %q", states)
	if sock.count("READY=1") != 1 || states[0] != "READY=1" {
		t.Errorf("want READY=1 first and once, got %q", states)
	}
	if sock.count("STOPPING=1") != 1 {
		t.Errorf("want STOPPING=1 once after SIGTERM, got %q", states)
	}
	// Half of WATCHDOG_USEC: about 250ms apart; never as late as 500ms,
	// when systemd would kill the agent (with slack for a busy machine).
	for i := 1; i < len(wd); i++ {
		if d := wd[i].Sub(wd[i-1]); d < 150*time.Millisecond || d > 450*time.Millisecond {
			t.Errorf("WATCHDOG=1 %d came %s after the previous one, want about 250ms", i, d)
		}
	}
}

// TestNotifyWatchdogOtherPID: a WATCHDOG_USEC meant for another process
// (WATCHDOG_PID) is not acted on; READY=1 still is.
func TestNotifyWatchdogOtherPID(t *testing.T) {
	skipShort(t)
	p := newPKI(t, "sd2")
	in := startIngest(t, p, filepath.Join(t.TempDir(), "ingest.db"), "127.0.0.1:0")
	sock := listenNotify(t)
	ag := startEnv(t, []string{"NOTIFY_SOCKET=" + sock.path, "WATCHDOG_USEC=200000", "WATCHDOG_PID=1"}, bin.agent,
		"run", "-server", in.addr, "-ca", p.ca(), "-cert", p.cert("sd2"), "-key", p.key("sd2"))
	waitFor(t, 10*time.Second, "READY=1", func() bool { return sock.count("READY=1") > 0 })
	time.Sleep(time.Second)
	if n := sock.count("WATCHDOG=1"); n != 0 {
		t.Errorf("%d WATCHDOG=1 sent though WATCHDOG_PID names another process", n)
	}
	ag.stop()
}

// crossTarget is one non-native build and the qemu-user-static that runs
// it, emulating the weakest CPU the build is for: an ARMv7 build dies on
// the ARM1176 (Raspberry Pi 1/Zero) with SIGILL, a hardfloat MIPS build on
// the FPU-less 24Kc of most MIPS routers.
type crossTarget struct {
	name, goarch, goarm, qemu, cpu string
}

var crossTargets = []crossTarget{
	{"arm64", "arm64", "", "qemu-aarch64-static", "cortex-a53"},
	{"armv7", "arm", "7", "qemu-arm-static", "cortex-a7"},
	{"armv6", "arm", "6", "qemu-arm-static", "arm1176"},
	{"mips", "mips", "", "qemu-mips-static", "24Kc"},
	{"mipsle", "mipsle", "", "qemu-mipsel-static", "24Kc"},
}

// TestCrossSmokeIntegration builds the agent as make cross does (static,
// -trimpath, stripped, version stamped; mips softfloat) and runs each build
// under qemu-user-static on its weakest CPU: offbox version, then a real
// session (mutual TLS, the file tailer) shipping a file of 100 lines to a
// native collector on loopback, each line stored once and in order.
func TestCrossSmokeIntegration(t *testing.T) {
	skipShort(t)
	for _, ct := range crossTargets {
		needTool(t, ct.qemu, "qemu-user-static")
	}
	const ver = "v0.0.0-crosssmoke"
	dir := t.TempDir()
	builds := map[string]string{}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, ct := range crossTargets {
		if ct.goarch == runtime.GOARCH && ct.goarm == "" {
			continue // native: the rest of e2e runs it
		}
		out := filepath.Join(dir, "offbox-linux-"+ct.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cmd := exec.Command("go", "build", "-trimpath", "-tags", "grpcnotrace",
				"-ldflags", "-s -w -X github.com/offbox/offbox/internal/version.Version="+ver,
				"-o", out, "../cmd/offbox")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+ct.goarch,
				"GOARM="+ct.goarm, "GOMIPS=softfloat")
			b, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("build %s: %v\n%s", ct.name, err, b))
				return
			}
			builds[ct.name] = out
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	p := newPKI(t, "cross")
	for _, ct := range crossTargets {
		exe, ok := builds[ct.name]
		if !ok {
			continue
		}
		t.Run(ct.name, func(t *testing.T) {
			fi, err := os.Stat(exe)
			if err != nil {
				t.Fatal(err)
			}
			so, se, code := run(t, ct.qemu, "-cpu", ct.cpu, exe, "version")
			want := fmt.Sprintf("offbox %s ", ver)
			if code != 0 || !strings.HasPrefix(so, want) || !strings.Contains(so, "linux/"+ct.goarch) {
				t.Fatalf("%s offbox version: exit %d, stdout %q, stderr %q; want %q… linux/%s", ct.qemu, code, so, se, want, ct.goarch)
			}
			t.Logf("%s: %d bytes, %s (%s -cpu %s)", ct.name, fi.Size(), strings.TrimSpace(so), ct.qemu, ct.cpu)

			in := startIngest(t, p, filepath.Join(t.TempDir(), "ingest.db"), "127.0.0.1:0")
			logf := filepath.Join(t.TempDir(), "app.log")
			appendLines(t, logf, ct.name, 0, 100)
			ag := start(t, ct.qemu, "-cpu", ct.cpu, exe, "run", "-server", in.addr, "-ca", p.ca(), "-cert", p.cert("cross"),
				"-key", p.key("cross"), "-tail", logf, "-start-at", "beginning")
			source := "file:" + logf
			waitFor(t, 60*time.Second, "100 lines from the "+ct.name+" agent", func() bool {
				if ag.exited() {
					t.Fatalf("agent under %s exited: %s", ct.qemu, ag.out.String())
				}
				return count(t, in.db, "-source", source) >= 100
			})
			ag.stop()
			if n := count(t, in.db, "-source", source); n != 100 {
				t.Fatalf("records -count: %d, want 100", n)
			}
			checkExactlyOnce(t, records(t, in.db, "-source", source), source, ct.name, 100)
		})
	}
}
