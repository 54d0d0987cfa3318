package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crossMemoryLines is what TestCrossMemoryIntegration ships: 100,000 lines
// of 170 bytes, 17 MB, about twice the agent's default memory budget, so the
// queue fills and the tailer waits on acks.
const crossMemoryLines = 100_000

// TestCrossMemoryIntegration runs the armv7 agent (built as make cross
// builds it, cold packages without inlining too) under qemu-arm-static on a
// Cortex-A7 and ships a file at full speed to a native collector, then
// reports the agent's peak memory: VmHWM of the qemu process, and that
// less qemu's own (the peak of `offbox version` under the same qemu). The
// figure must leave a 128 MB router its room: at most 48 MiB over qemu's.
func TestCrossMemoryIntegration(t *testing.T) {
	skipShort(t)
	qemu := needTool(t, "qemu-arm-static", "qemu-user-static")
	gcflags, err := exec.Command("make", "-s", "-C", "..", "agent-gcflags").Output()
	if err != nil {
		t.Fatalf("make agent-gcflags: %v", err)
	}
	exe := filepath.Join(t.TempDir(), "offbox-linux-armv7")
	args := append([]string{"build", "-trimpath", "-tags", "grpcnotrace"}, strings.Fields(string(gcflags))...)
	cmd := exec.Command("go", append(args, "-ldflags", "-s -w", "-o", exe, "../cmd/offbox")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm", "GOARM=7")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build armv7: %v\n%s", err, b)
	}

	// qemu's own peak: the agent's start-up and nothing else.
	ver := exec.Command(qemu, "-cpu", "cortex-a7", exe, "version")
	if b, err := ver.CombinedOutput(); err != nil {
		t.Fatalf("offbox version under qemu: %v\n%s", err, b)
	}
	baseKiB := ver.ProcessState.SysUsage().(*syscall.Rusage).Maxrss

	p := newPKI(t, "crossmem")
	in := startIngest(t, p, filepath.Join(t.TempDir(), "ingest.db"), "127.0.0.1:0")
	logf := filepath.Join(t.TempDir(), "app.log")
	appendLines(t, logf, "crossmem", 0, crossMemoryLines)
	began := time.Now()
	ag := start(t, qemu, "-cpu", "cortex-a7", exe, "run", "-server", in.addr, "-ca", p.ca(), "-cert", p.cert("crossmem"),
		"-key", p.key("crossmem"), "-tail", logf, "-start-at", "beginning")
	source := "file:" + logf
	waitFor(t, 5*time.Minute, fmt.Sprintf("%d lines from the armv7 agent", crossMemoryLines), func() bool {
		if ag.exited() {
			t.Fatalf("agent under qemu exited: %s", ag.out.String())
		}
		return count(t, in.db, "-source", source) >= crossMemoryLines
	})
	took := time.Since(began)
	hwmKiB := procStatus(t, ag.pid(), "VmHWM")
	ag.stop()
	checkExactlyOnce(t, records(t, in.db, "-source", source), source, "crossmem", crossMemoryLines)

	agentKiB := hwmKiB - baseKiB
	t.Logf("armv7 under qemu-arm-static -cpu cortex-a7: %d lines (%.1f MB) in %.1fs (%.0f lines/s, busy machine); VmHWM %d KiB, qemu with `offbox version` %d KiB, the agent's share %d KiB (%.1f MiB)",
		crossMemoryLines, float64(crossMemoryLines*170)/1e6, took.Seconds(), crossMemoryLines/took.Seconds(), hwmKiB, baseKiB, agentKiB, float64(agentKiB)/1024)
	if agentKiB > 48<<10 {
		t.Errorf("the armv7 agent's peak memory is %d KiB over qemu's own, want at most 48 MiB", agentKiB)
	}
}
