package boot

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRealHost reads this machine, whatever it is: it must not fail, must
// explain every gap, and what it reports must be this machine's.
func TestRealHost(t *testing.T) {
	t.Parallel()
	info, err := Read(Config{})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	checkNoSilentGap(t, info)
	if b, err := os.ReadFile(pathBootID); err == nil {
		if want := strings.TrimSpace(string(b)); info.BootID != want {
			t.Errorf("boot id = %q, want this host's %q", info.BootID, want)
		}
	}
	if b, err := os.ReadFile(pathOSRelease); err == nil {
		if want := strings.TrimSpace(string(b)); info.KernelRelease != want {
			t.Errorf("kernel release = %q, want this host's %q", info.KernelRelease, want)
		}
	}
	if info.BootTime != "" {
		bt, err := time.Parse(time.RFC3339, info.BootTime)
		if err != nil || bt.After(time.Now()) {
			t.Errorf("boot time %q is not a past RFC 3339 time: %v", info.BootTime, err)
		}
	}
	if _, err := json.Marshal(info); err != nil {
		t.Errorf("marshal: %v", err)
	}
	t.Logf("this host: firmware %q (%s), model %q (%s), secure boot %s, %d sources unavailable",
		info.FirmwareVersion, info.FirmwareSource, info.Model, info.ModelSource, info.SecureBoot.State, len(info.Unavailable))
}
