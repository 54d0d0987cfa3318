package boot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/offbox/offbox/collectors"
)

var update = flag.Bool("update", false, "rewrite testdata/host/*/boot.golden.json from what Read returns")

const hostDir = "../../testdata/host"

func fixture(kind string) string { return filepath.Join(hostDir, kind) }

// fixtureKinds lists the host trees in testdata/host.
func fixtureKinds(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(hostDir)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range ents {
		if e.IsDir() {
			kinds = append(kinds, e.Name())
		}
	}
	if len(kinds) < 6 {
		t.Fatalf("only %d fixtures in %s: %v", len(kinds), hostDir, kinds)
	}
	return kinds
}

func marshalIndent(t *testing.T, info Info) []byte {
	t.Helper()
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestGolden compares Read over every fixture with its golden file.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, kind := range fixtureKinds(t) {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			info, err := Read(Config{Root: fixture(kind)})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got := marshalIndent(t, info)
			golden := filepath.Join(fixture(kind), "boot.golden.json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Read(%s) differs from %s (rerun with -update if intended)\ngot:\n%s", kind, golden, got)
			}
			checkNoSilentGap(t, info)
			for _, u := range info.Unavailable {
				if strings.Contains(u.Source+u.Reason, "testdata") {
					t.Errorf("unavailable %+v names the host root", u)
				}
			}
		})
	}
}

// TestFixtureFacts pins what each device kind must yield, so a golden file
// rewritten with -update cannot quietly accept a wrong derivation.
func TestFixtureFacts(t *testing.T) {
	t.Parallel()
	type want struct {
		firmware, firmwareSource, model, modelSource string
		secureBoot, taintLetters                     string
		pstore                                       string // "true", "false" or "" (unavailable)
		vendor                                       string
		uptime                                       float64  // seconds, as /proc/uptime gives them
		unavailable                                  []string // sources, in order
	}
	cases := map[string]want{
		"ec2-nitro": {"1.0", "dmi", "Amazon EC2 m7g.large", "dmi", "disabled", "", "false", "Amazon EC2",
			86523.41, []string{"/proc/device-tree"}},
		"openwrt-armv7": {"23.05.3 r23809-234f1a2efa", "openwrt", "Linksys WRT3200ACM", "device-tree", "unsupported", "O", "", "",
			3907.18, []string{pathDMI, pathEFI, pathPstore}},
		"openwrt-mt6000": {"23.05.3 r23809-234f1a2efa", "openwrt", "GL.iNet GL-MT6000", "device-tree", "unsupported", "O", "true", "",
			41.62, []string{pathDMI, pathEFI}},
		"rpi-arm64": {"2024-04-15T12:44:08Z", "raspberrypi", "Raspberry Pi 4 Model B Rev 1.5", "device-tree", "unsupported", "C", "", "Raspberry Pi",
			412.77, []string{pathDMI, pathEFI, pathPstore}},
		"cumulus-switch": {"5.9.1", "cumulus", "Mellanox Technologies Ltd. MSN3700", "dmi", "unsupported", "OE", "true", "Cumulus Linux",
			151388.62, []string{pathDeviceTree, pathEFI}},
		"sonic-switch": {"SONiC.202311.540346-9d4d1b9b1", "sonic", "Mellanox Technologies Ltd. MSN4600C", "dmi", "enabled", "O", "false", "SONiC",
			20477.05, []string{pathDeviceTree}},
		"vyos": {"1.4.0", "vyos", "QEMU Standard PC (Q35 + ICH9, 2009)", "dmi", "unsupported", "", "false", "VyOS",
			7302.55, []string{pathDMI + "/board_name", pathDeviceTree, pathEFI}},
		"degraded": {"", "", "", "", "unknown", "", "", "",
			0, []string{pathBootID, pathStat, pathUptime, pathKVersion, pathTainted, pathEtcOSRelease, pathDMI, pathDeviceTree, pathSecureBoot, pathPstore}},
	}
	for _, kind := range fixtureKinds(t) {
		w, ok := cases[kind]
		if !ok {
			t.Errorf("fixture %s has no entry in TestFixtureFacts", kind)
			continue
		}
		info, err := Read(Config{Root: fixture(kind)})
		if err != nil {
			t.Fatalf("%s: Read: %v", kind, err)
		}
		r, err := info.record(time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		attrs := attrMap(r.Attrs)
		var vendor string
		if info.Firmware.Vendor != nil {
			vendor = info.Firmware.Vendor.Name
		}
		var letters string
		if info.KernelTaint != nil {
			letters = info.KernelTaint.Letters
		}
		var sources []string
		for _, u := range info.Unavailable {
			sources = append(sources, u.Source)
		}
		got := want{info.FirmwareVersion, info.FirmwareSource, info.Model, info.ModelSource, info.SecureBoot.State,
			letters, attrs["pstore"], vendor, info.UptimeSeconds, sources}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", kind, got, w)
		}
	}
}

// TestDegradedReasons checks that the degraded fixture explains each gap.
func TestDegradedReasons(t *testing.T) {
	t.Parallel()
	info, err := Read(Config{Root: fixture("degraded")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		pathBootID:       "not present",
		pathStat:         "malformed: no btime line",
		pathUptime:       "is a directory, not a file",
		pathKVersion:     "not present",
		pathTainted:      `malformed: "tainted?" is not a decimal taint mask`,
		pathEtcOSRelease: "not present, nor /usr/lib/os-release",
		pathDMI:          "no DMI on this platform",
		pathDeviceTree:   "no device tree on this platform",
		pathSecureBoot:   "malformed: truncated: 3 bytes, want 4 attribute bytes and 1 value byte",
		pathPstore:       "not present: pstore is not mounted or not in this kernel",
	}
	got := map[string]string{}
	for _, u := range info.Unavailable {
		got[u.Source] = u.Reason
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unavailable = %v\nwant %v", got, want)
	}
	// What could be read still is: the kernel version comes from /proc/version.
	if info.KernelRelease != "5.10.0-28-amd64" || info.KernelVersion != "#1 SMP Debian 5.10.209-2 (2024-01-31)" {
		t.Errorf("kernel = %q %q, want the /proc/version fallback", info.KernelRelease, info.KernelVersion)
	}
	if info.SecureBoot.State != "unknown" || !strings.Contains(info.SecureBoot.Reason, "truncated") {
		t.Errorf("secure boot = %+v, want unknown because truncated", info.SecureBoot)
	}
}

// checkNoSilentGap asserts the package's promise: every core fact is either
// there or explained in Unavailable.
func checkNoSilentGap(t *testing.T, info Info) {
	t.Helper()
	listed := func(prefix string) bool {
		for _, u := range info.Unavailable {
			if strings.HasPrefix(u.Source, prefix) && u.Reason != "" {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		missing bool
		source  string
	}{
		{info.BootID == "", pathBootID},
		{info.BootTime == "", pathStat},
		{info.UptimeSeconds == 0, pathUptime},
		{info.KernelRelease == "", pathOSRelease},
		{info.KernelVersion == "", pathKVersion},
		{info.KernelTaint == nil, pathTainted},
		{info.OS == nil, "/"}, // either os-release path
		{info.Firmware.DMI == nil, pathDMI},
		{info.Firmware.DeviceTree == nil, pathDeviceTree},
		{info.Pstore == nil, pathPstore},
		{info.SecureBoot.State != "enabled" && info.SecureBoot.State != "disabled", pathEFI},
	} {
		if c.missing && !listed(c.source) {
			t.Errorf("%s gave nothing and Unavailable does not say why: %+v", c.source, info.Unavailable)
		}
	}
	if info.SecureBoot.Reason == "" {
		t.Errorf("secure boot %q without a reason", info.SecureBoot.State)
	}
	if info.Unavailable == nil {
		t.Error("Unavailable is nil; it must encode as []")
	}
}

func attrMap(attrs []collectors.Attr) map[string]string {
	m := map[string]string{}
	for _, a := range attrs {
		m[a.Key] = a.Value
	}
	return m
}

// fakeEmitter keeps what it is given; err, if set, is what Emit returns.
type fakeEmitter struct {
	mu   sync.Mutex
	recs []collectors.Record
	err  error
}

func (e *fakeEmitter) Emit(ctx context.Context, r collectors.Record) error {
	if e.err != nil {
		return e.err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r.Body = bytes.Clone(r.Body)
	e.recs = append(e.recs, r)
	return nil
}

func (e *fakeEmitter) TryEmit(r collectors.Record) bool {
	panic("the boot record must not be droppable: Run uses Emit")
}

func TestRunEmitsOneBootRecord(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	cfg := Config{Root: fixture("cumulus-switch"), Now: func() time.Time { return now }}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "boot" {
		t.Errorf("Name() = %q, want boot", c.Name())
	}
	var _ collectors.Collector = c
	out := &fakeEmitter{}
	if err := c.Run(context.Background(), out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(out.recs) != 1 {
		t.Fatalf("Run emitted %d records, want 1", len(out.recs))
	}
	r := out.recs[0]
	if r.Kind != collectors.KindBoot || r.Source != "boot" || !r.Time.Equal(now) || r.File != nil || r.Flags != 0 {
		t.Errorf("record = kind %v source %q time %v file %v flags %d; want boot, \"boot\", %v, nil, 0",
			r.Kind, r.Source, r.Time, r.File, r.Flags, now)
	}
	wantAttrs := map[string]string{
		"boot_id":          "8a4f6e12-3c7b-49d5-a0e8-2b91f5c7d630",
		"boot_time":        "2024-05-29T10:55:13Z",
		"kernel_release":   "6.1.0-cl-1-amd64",
		"firmware_version": "5.9.1",
		"model":            "Mellanox Technologies Ltd. MSN3700",
		"secure_boot":      "unsupported",
		"tainted":          "12288",
		"pstore":           "true",
	}
	if got := attrMap(r.Attrs); !reflect.DeepEqual(got, wantAttrs) || len(r.Attrs) != len(wantAttrs) {
		t.Errorf("attrs = %v, want %v", r.Attrs, wantAttrs)
	}
	if bytes.Contains(r.Body, []byte("\n")) {
		t.Error("body is not compact JSON")
	}
	var body Info
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body: %v", err)
	}
	want, err := Read(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body = %+v\nwant Read's %+v", body, want)
	}
}

func TestRunCleanHostAttrs(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Root: fixture("ec2-nitro")})
	if err != nil {
		t.Fatal(err)
	}
	out := &fakeEmitter{}
	if err := c.Run(context.Background(), out); err != nil || len(out.recs) != 1 {
		t.Fatalf("Run = %v with %d records", err, len(out.recs))
	}
	a := attrMap(out.recs[0].Attrs)
	if a["tainted"] != "0" || a["pstore"] != "false" || a["secure_boot"] != "disabled" {
		t.Errorf("attrs = %v, want tainted 0, pstore false, secure_boot disabled", a)
	}
	if d := time.Since(out.recs[0].Time); d < 0 || d > time.Minute {
		t.Errorf("record time %v is not now: Now defaults to time.Now", out.recs[0].Time)
	}
}

func TestRunReturnsEmitError(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Root: fixture("vyos")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background(), &fakeEmitter{err: context.Canceled}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled from Emit", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero value", Config{}, false},
		{"fixture", Config{Root: fixture("vyos")}, false},
		{"file override", Config{Root: fixture("vyos"), FirmwareFile: "/etc/fw-version"}, false},
		{"command override", Config{FirmwareCommand: []string{"echo", "1"}}, false},
		{"missing root", Config{Root: filepath.Join(t.TempDir(), "nope")}, true},
		{"root is a file", Config{Root: file}, true},
		{"both overrides", Config{FirmwareFile: "/etc/fw", FirmwareCommand: []string{"echo"}}, true},
		{"relative file", Config{FirmwareFile: "etc/fw"}, true},
		{"empty program", Config{FirmwareCommand: []string{""}}, true},
		{"unknown program", Config{FirmwareCommand: []string{"offbox-no-such-program"}}, true},
	} {
		_, err := New(tc.cfg)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: New = %v, want error %v", tc.name, err, tc.wantErr)
		}
		if _, rerr := Read(tc.cfg); (rerr != nil) != tc.wantErr {
			t.Errorf("%s: Read error = %v, want error %v", tc.name, rerr, tc.wantErr)
		}
	}
}

// copyTree copies a fixture into a temporary root that a test may break.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func under(root, hostPath string) string { return filepath.Join(root, hostPath) }

func reasons(info Info) map[string]string {
	m := map[string]string{}
	for _, u := range info.Unavailable {
		m[u.Source] = u.Reason
	}
	return m
}

// TestUnreadableSources breaks a good fixture in the ways a device can be
// broken and checks each break becomes a reason, not a failure or a hang.
func TestUnreadableSources(t *testing.T) {
	t.Parallel()
	root := copyTree(t, fixture("ec2-nitro"))
	// A file replaced by a directory.
	must(t, os.Remove(under(root, pathTainted)))
	must(t, os.Mkdir(under(root, pathTainted), 0o755))
	// A FIFO: opening it for reading would block forever.
	must(t, os.Remove(under(root, pathEtcOSRelease)))
	must(t, syscall.Mkfifo(under(root, pathEtcOSRelease), 0o644))
	// A DMI file gone, another too large.
	must(t, os.Remove(under(root, pathDMI+"/bios_date")))
	must(t, os.WriteFile(under(root, pathDMI+"/product_name"), bytes.Repeat([]byte("x"), maxFileBytes+1), 0o644))
	// pstore is a file, not a directory.
	must(t, os.RemoveAll(under(root, pathPstore)))
	must(t, os.WriteFile(under(root, pathPstore), nil, 0o644))
	// Unreadable boot id: root reads anything, so only checked as a user.
	asUser := os.Geteuid() != 0
	if asUser {
		must(t, os.Chmod(under(root, pathBootID), 0))
	}

	done := make(chan Info, 1)
	go func() {
		info, err := Read(Config{Root: root})
		if err != nil {
			t.Errorf("Read: %v", err)
		}
		done <- info
	}()
	var info Info
	select {
	case info = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Read hung on a FIFO")
	}
	got := reasons(info)
	want := map[string]string{
		pathTainted:               "is a directory, not a file",
		pathEtcOSRelease:          "not a regular file",
		pathDMI + "/bios_date":    "not present",
		pathDMI + "/product_name": "too large: more than 65536 bytes",
		pathDeviceTree:            "no device tree on this platform",
		pathPstore:                "not a directory",
	}
	if asUser {
		want[pathBootID] = "permission denied"
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unavailable = %v\nwant %v", got, want)
	}
	// The rest still arrived, and the model falls back to what is left.
	if info.BootTime != "2024-05-30T08:12:41Z" || info.FirmwareVersion != "1.0" || info.Model != "Amazon EC2" {
		t.Errorf("boot time %q firmware %q model %q; want the sources that were fine", info.BootTime, info.FirmwareVersion, info.Model)
	}
	checkNoSilentGap(t, info)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSecureBootStates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		prepare    func(root string)
		state      string
		reasonPart string
	}{
		{"efivarfs not mounted", func(root string) {
			must(t, os.RemoveAll(under(root, pathEFIVars)))
			must(t, os.MkdirAll(under(root, pathEFIVars), 0o755))
		}, "unknown", "not mounted"},
		{"no SecureBoot variable", func(root string) {
			must(t, os.Remove(under(root, pathSecureBoot)))
		}, "unsupported", "no SecureBoot variable"},
		{"enabled", func(root string) {
			must(t, os.WriteFile(under(root, pathSecureBoot), []byte{6, 0, 0, 0, 1}, 0o644))
		}, "enabled", "is 1"},
		{"not EFI", func(root string) {
			must(t, os.RemoveAll(under(root, pathEFI)))
		}, "unsupported", "not an EFI boot"},
	} {
		root := copyTree(t, fixture("ec2-nitro"))
		tc.prepare(root)
		info, err := Read(Config{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		if info.SecureBoot.State != tc.state || !strings.Contains(info.SecureBoot.Reason, tc.reasonPart) {
			t.Errorf("%s: secure boot = %+v, want %s (%s)", tc.name, info.SecureBoot, tc.state, tc.reasonPart)
		}
		checkNoSilentGap(t, info)
	}
}

func TestOSReleaseFallback(t *testing.T) {
	t.Parallel()
	root := copyTree(t, fixture("rpi-arm64"))
	must(t, os.MkdirAll(under(root, "/usr/lib"), 0o755))
	must(t, os.Rename(under(root, pathEtcOSRelease), under(root, pathLibOSRelease)))
	info, err := Read(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if info.OS == nil || info.OS.ID != "debian" {
		t.Errorf("os = %+v, want debian from %s", info.OS, pathLibOSRelease)
	}
	if _, listed := reasons(info)[pathEtcOSRelease]; listed {
		t.Errorf("%s listed unavailable though %s was read", pathEtcOSRelease, pathLibOSRelease)
	}
}

func TestFirmwareOverride(t *testing.T) {
	t.Parallel()
	root := copyTree(t, fixture("vyos"))
	must(t, os.WriteFile(under(root, "/etc/appliance-fw"), []byte("  AX-9.2.1 build 4471\n"), 0o644))

	info, err := Read(Config{Root: root, FirmwareFile: "/etc/appliance-fw"})
	if err != nil {
		t.Fatal(err)
	}
	if info.FirmwareVersion != "AX-9.2.1 build 4471" || info.FirmwareSource != "file" {
		t.Errorf("file override: firmware = %q from %q", info.FirmwareVersion, info.FirmwareSource)
	}

	info, err = Read(Config{Root: root, FirmwareFile: "/etc/missing-fw"})
	if err != nil {
		t.Fatal(err)
	}
	if info.FirmwareVersion != "1.4.0" || info.FirmwareSource != "vyos" || reasons(info)["/etc/missing-fw"] != "not present" {
		t.Errorf("missing override file: firmware = %q from %q, unavailable %v; want the vyos version and a reason",
			info.FirmwareVersion, info.FirmwareSource, info.Unavailable)
	}

	info, err = Read(Config{Root: root, FirmwareCommand: []string{"echo", " 7.3.0-appliance "}})
	if err != nil {
		t.Fatal(err)
	}
	if info.FirmwareVersion != "7.3.0-appliance" || info.FirmwareSource != "command" {
		t.Errorf("command override: firmware = %q from %q", info.FirmwareVersion, info.FirmwareSource)
	}

	failing := []string{"sh", "-c", "echo vendor tool broke >&2; exit 3"}
	info, err = Read(Config{Root: root, FirmwareCommand: failing})
	if err != nil {
		t.Fatal(err)
	}
	if got := reasons(info)["command: "+strings.Join(failing, " ")]; got != "exit status 3: vendor tool broke" || info.FirmwareSource != "vyos" {
		t.Errorf("failing command: reason %q, firmware from %q; want the exit status and stderr, and the vyos fallback", got, info.FirmwareSource)
	}
}

func TestFirmwareCommandIsBounded(t *testing.T) {
	t.Parallel()
	cfg := Config{Root: fixture("vyos"), FirmwareCommand: []string{"sleep", "30"}}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	info := read(ctx, cfg)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("read took %v with a hung command", d)
	}
	if got := reasons(info)["command: sleep 30"]; !strings.Contains(got, "did not finish") {
		t.Errorf("reason = %q, want did not finish", got)
	}
}

func TestPstoreListIsBounded(t *testing.T) {
	t.Parallel()
	root := copyTree(t, fixture("cumulus-switch"))
	for i := 0; i < maxPstoreFiles+10; i++ {
		must(t, os.WriteFile(under(root, pathPstore+"/dmesg-ramoops-"+string(rune('a'+i/26))+string(rune('a'+i%26))), nil, 0o644))
	}
	info, err := Read(Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if p := info.Pstore; p == nil || !p.HasRecords || p.Count != maxPstoreFiles+12 || len(p.Files) != maxPstoreFiles {
		t.Errorf("pstore = %+v, want %d files counted and %d listed", p, maxPstoreFiles+12, maxPstoreFiles)
	}
}

// TestFirmwareRuleFallbacks breaks each fixture's preferred firmware source
// and checks the next rule of the package doc takes over, saying so.
func TestFirmwareRuleFallbacks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, kind      string
		prepare         func(root string)
		firmware        string
		source, vendor  string
		wantUnavailable string // a source that must be listed, if any
	}{
		{"cumulus from os-release", "cumulus-switch", func(root string) {
			must(t, os.Remove(under(root, pathLSBRelease)))
		}, "5.9.1", "cumulus", "Cumulus Linux", ""},
		{"vyos 1.1 version file", "vyos", func(root string) {
			must(t, os.Remove(under(root, pathVyOSJSON)))
			must(t, os.MkdirAll(under(root, "/opt/vyatta/etc"), 0o755))
			must(t, os.WriteFile(under(root, pathVyattaVer), []byte("Version:      VyOS 1.1.8\nDescription:  VyOS 1.1.8 (helium)\n"), 0o644))
		}, "1.1.8", "vyos", "VyOS", ""},
		{"vyos with a broken version.json falls to DMI", "vyos", func(root string) {
			must(t, os.WriteFile(under(root, pathVyOSJSON), []byte(`{"version": `), 0o644))
		}, "rel-1.16.3-0-ga6ed6b701f0a-prebuilt.qemu.org", "dmi", "", pathVyOSJSON},
		{"raspberry pi 3 has no bootloader EEPROM", "rpi-arm64", func(root string) {
			must(t, os.RemoveAll(under(root, pathDeviceTree+"/chosen")))
		}, "debian 12", "os-release", "Raspberry Pi", pathDeviceTree + pathRPiBLTime},
		{"device tree only under /sys", "rpi-arm64", func(root string) {
			must(t, os.MkdirAll(under(root, "/sys/firmware/devicetree"), 0o755))
			must(t, os.Rename(under(root, pathDeviceTree), under(root, pathDTBase)))
		}, "2024-04-15T12:44:08Z", "raspberrypi", "Raspberry Pi", ""},
		{"openwrt with a broken release file", "openwrt-armv7", func(root string) {
			must(t, os.WriteFile(under(root, pathOpenWrt), []byte("DISTRIB_ID='OpenWrt'\n"), 0o644))
		}, "openwrt 23.05.3 r23809-234f1a2efa", "os-release", "", pathOpenWrt},
	} {
		root := copyTree(t, fixture(tc.kind))
		tc.prepare(root)
		info, err := Read(Config{Root: root})
		if err != nil {
			t.Fatal(err)
		}
		var vendor string
		if info.Firmware.Vendor != nil {
			vendor = info.Firmware.Vendor.Name
		}
		if info.FirmwareVersion != tc.firmware || info.FirmwareSource != tc.source || vendor != tc.vendor {
			t.Errorf("%s: firmware %q from %q, vendor %q; want %q from %q, vendor %q",
				tc.name, info.FirmwareVersion, info.FirmwareSource, vendor, tc.firmware, tc.source, tc.vendor)
		}
		if tc.wantUnavailable != "" {
			if _, ok := reasons(info)[tc.wantUnavailable]; !ok {
				t.Errorf("%s: %s not listed unavailable: %v", tc.name, tc.wantUnavailable, info.Unavailable)
			}
		}
		checkNoSilentGap(t, info)
	}
}
