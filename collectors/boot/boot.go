// Package boot records what a device booted: once per agent start it reads
// the boot id, boot time, kernel, operating system, firmware (DMI, device
// tree, OpenWrt release, vendor version files), Secure Boot state, kernel
// taint and pstore crash records (with the end of their text), and emits them
// as one KindBoot record, so the collector can see reboots, firmware changes
// and downgrades, and crashes with their reason.
// It only reads, through a host root (Config.Root) so that tests run on the
// trees in testdata/host; it never writes to disk and never changes anything
// it reads. A source that is missing or unreadable never fails the read: it
// becomes a {source, reason} entry in Info.Unavailable, never a silent gap.
// Files that only one vendor or distribution has (VyOS, SONiC and OpenWrt
// version files, /etc/lsb-release) are probes: their absence only says the
// device is something else and is not listed, but a probe that is there and
// cannot be read or parsed is.
//
// # Firmware version and model
//
// Info.FirmwareVersion is the one string the detection engine compares across
// boots of the same Info.Model to find firmware changes and downgrades. It is
// the first of these that yields a value, and Info.FirmwareSource names which
// (compare versions only when the source is unchanged too):
//
//  1. "file" or "command": Config.FirmwareFile or Config.FirmwareCommand, for
//     appliances the rules below get wrong;
//  2. a vendor version file: "vyos" (/usr/share/vyos/version.json version, or
//     /opt/vyatta/etc/version), "sonic" (/etc/sonic/sonic_version.yml
//     build_version), "cumulus" (/etc/lsb-release DISTRIB_RELEASE, or
//     os-release VERSION_ID), "raspberrypi" (the bootloader EEPROM build
//     time, /proc/device-tree/chosen/bootloader/build-timestamp, as RFC 3339
//     UTC; Raspberry Pi 4 and later);
//  3. "openwrt": /etc/openwrt_release DISTRIB_RELEASE and DISTRIB_REVISION,
//     joined by a space ("23.05.3 r23809-234f1a2efa");
//  4. "dmi": the BIOS/UEFI version, /sys/class/dmi/id/bios_version (on EC2
//     always "1.0": Nitro firmware is not versioned to the guest);
//  5. "os-release": ID, VERSION_ID and BUILD_ID, joined by spaces, for boards
//     whose firmware is their OS image ("debian 12");
//
// and "" with source "" when none does.
//
// Info.Model is, with Info.ModelSource: "dmi", the DMI sys_vendor and
// product_name joined by a space ("Amazon EC2 m7g.large", "Mellanox
// Technologies Ltd. MSN3700"), skipping placeholders such as "To be filled by
// O.E.M."; else "device-tree", /proc/device-tree/model ("Raspberry Pi 4 Model
// B Rev 1.5"); else "".
//
// # Crash records
//
// Info.Pstore lists every file in /sys/fs/pstore and carries the text of the
// kernel log records among them (dmesg-* as ramoops, EFI and ERST write them,
// then console-*; pmsg-* and ftrace-* are not the kernel's words): at most
// maxCrashRecords of them, the last maxCrashBytes of each (a record can be
// megabytes; the crash is at its end), read by seeking, never whole. The text
// is escaped (invalid UTF-8 and control characters as \xNN), since a record
// is whatever was in RAM when the kernel died. Pstore.CrashLine is the line
// that best says why ("Kernel panic - not syncing: VFS: Unable to mount root
// fs", else the first "BUG:", "Unable to handle kernel ...", lockup or
// general protection fault line, else the oops or panic line), and
// Pstore.Panic says whether a record shows a panic. The package only reads
// pstore: deleting the records (which frees them) is systemd-pstore's job or
// the operator's, so the same records can come with several boots.
package boot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/offbox/offbox/collectors"
)

// Config says where the host is and how to override the firmware version.
// Its zero value reads the running system.
// The yaml tags are its keys in the agent's configuration file (offbox.yaml;
// json the same, for the config hash); a field the file does not set is "-".
type Config struct {
	Root            string           `yaml:"-" json:"-"`                               // host root that /proc, /sys, /etc are read under; "" means "/"
	FirmwareFile    string           `yaml:"firmware_file" json:"firmware_file"`       // optional: absolute path (under Root) of a file whose trimmed content is the firmware version
	FirmwareCommand []string         `yaml:"firmware_command" json:"firmware_command"` // optional: argv of a command whose trimmed stdout is the firmware version, run with a 5s timeout; not under Root
	Now             func() time.Time `yaml:"-" json:"-"`                               // record time; nil: time.Now. Never used for Info
}

// commandTimeout bounds Config.FirmwareCommand: the boot record must not wait
// on a hung vendor tool.
const commandTimeout = 5 * time.Second

func (c Config) root() string {
	if c.Root == "" {
		return "/"
	}
	return c.Root
}

func (c Config) validate() error {
	fi, err := os.Stat(c.root())
	if err != nil {
		return fmt.Errorf("boot: root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("boot: root %s is not a directory", c.root())
	}
	if c.FirmwareFile != "" && len(c.FirmwareCommand) > 0 {
		return errors.New("boot: set FirmwareFile or FirmwareCommand, not both")
	}
	if c.FirmwareFile != "" && !filepath.IsAbs(c.FirmwareFile) {
		return fmt.Errorf("boot: FirmwareFile %q is not an absolute path", c.FirmwareFile)
	}
	if len(c.FirmwareCommand) > 0 {
		if c.FirmwareCommand[0] == "" {
			return errors.New("boot: FirmwareCommand has an empty program name")
		}
		if _, err := exec.LookPath(c.FirmwareCommand[0]); err != nil {
			return fmt.Errorf("boot: FirmwareCommand: %w", err)
		}
	}
	return nil
}

// Info is everything the boot record says, as `offbox inspect` prints it and
// as the record body carries it (JSON).
type Info struct {
	BootID          string        `json:"boot_id,omitempty"`
	BootTime        string        `json:"boot_time,omitempty"` // RFC 3339, UTC, from /proc/stat btime
	UptimeSeconds   float64       `json:"uptime_seconds,omitempty"`
	KernelRelease   string        `json:"kernel_release,omitempty"` // "6.1.0-18-amd64"
	KernelVersion   string        `json:"kernel_version,omitempty"` // "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"
	ProcVersion     string        `json:"proc_version,omitempty"`   // /proc/version, with builder and compiler
	OS              *OSRelease    `json:"os,omitempty"`
	Firmware        Firmware      `json:"firmware"`
	FirmwareVersion string        `json:"firmware_version"`
	FirmwareSource  string        `json:"firmware_source"` // which rule of the package doc gave FirmwareVersion
	Model           string        `json:"model"`
	ModelSource     string        `json:"model_source"` // "dmi", "device-tree" or ""
	SecureBoot      SecureBoot    `json:"secure_boot"`
	KernelTaint     *Taint        `json:"kernel_taint,omitempty"`
	Pstore          *Pstore       `json:"pstore,omitempty"`
	Unavailable     []Unavailable `json:"unavailable"` // never null: [] when everything was read
}

// Firmware holds every firmware source found; Info.FirmwareVersion is derived from them.
type Firmware struct {
	DMI        *DMI        `json:"dmi,omitempty"`
	DeviceTree *DeviceTree `json:"device_tree,omitempty"`
	OpenWrt    *OpenWrt    `json:"openwrt,omitempty"`
	Vendor     *Vendor     `json:"vendor,omitempty"`
	Override   *Override   `json:"override,omitempty"`
}

// DMI is /sys/class/dmi/id: SMBIOS strings of x86 and ACPI arm64 machines.
type DMI struct {
	BIOSVendor     string `json:"bios_vendor,omitempty"`
	BIOSVersion    string `json:"bios_version,omitempty"`
	BIOSDate       string `json:"bios_date,omitempty"`
	SysVendor      string `json:"sys_vendor,omitempty"`
	ProductName    string `json:"product_name,omitempty"`
	ProductVersion string `json:"product_version,omitempty"`
	BoardName      string `json:"board_name,omitempty"`
}

// DeviceTree is /proc/device-tree: what the boot loader told the kernel about an embedded board.
type DeviceTree struct {
	Model      string   `json:"model,omitempty"`
	Compatible []string `json:"compatible,omitempty"` // most specific first
}

// Vendor is what a network OS or platform says about itself in its own files.
type Vendor struct {
	Name    string `json:"name"`              // "VyOS", "SONiC", "Cumulus Linux", "Raspberry Pi", "Amazon EC2"
	Version string `json:"version,omitempty"` // the vendor's firmware/OS version; empty if it has none
	Build   string `json:"build,omitempty"`   // commit or build id beside the version
	Model   string `json:"model,omitempty"`   // EC2: the instance type
	Source  string `json:"source"`            // the file it was read from
}

// Override is the firmware version that Config.FirmwareFile or FirmwareCommand gave.
type Override struct {
	Source  string `json:"source"` // "file" or "command"
	Version string `json:"version"`
}

// SecureBoot is the UEFI Secure Boot state of this boot.
type SecureBoot struct {
	State  string `json:"state"` // "enabled", "disabled", "unsupported" (not an EFI boot, or no Secure Boot in the firmware) or "unknown"
	Reason string `json:"reason"`
}

// Pstore is /sys/fs/pstore: records the kernel kept from a crash of an earlier boot.
type Pstore struct {
	HasRecords bool          `json:"has_records"`
	Count      int           `json:"count"`
	Files      []string      `json:"files,omitempty"`      // the first maxPstoreFiles names, sorted
	Records    []CrashRecord `json:"records,omitempty"`    // the kernel log records (dmesg-*, then console-*), at most maxCrashRecords
	Panic      bool          `json:"panic,omitempty"`      // a record says the kernel panicked
	CrashLine  string        `json:"crash_line,omitempty"` // the most telling line of Records ("Kernel panic - not syncing: ...", "BUG: ..."), escaped as Text
}

// CrashRecord is the end of one pstore record: the kernel log up to the crash.
type CrashRecord struct {
	File      string `json:"file"`
	Bytes     int64  `json:"bytes"`               // the record's size
	Truncated bool   `json:"truncated,omitempty"` // Text is only the lines in its last maxCrashBytes
	Text      string `json:"text"`                // invalid UTF-8 and control characters as \xNN, backslashes doubled (escapeText)
}

// Unavailable says why a source gave nothing.
type Unavailable struct {
	Source string `json:"source"` // host path, or "command: ..." for FirmwareCommand
	Reason string `json:"reason"`
}

// Read returns the boot facts of the host under cfg.Root. It fails only for an
// invalid cfg; missing sources are listed in Info.Unavailable.
func Read(cfg Config) (Info, error) {
	if err := cfg.validate(); err != nil {
		return Info{}, err
	}
	return read(context.Background(), cfg), nil
}

// Collector emits the boot record. Create it with New.
type Collector struct {
	cfg Config
	now func() time.Time
}

// New checks cfg: the root must be a directory, at most one firmware override
// may be set, and FirmwareCommand's program must be found.
func New(cfg Config) (*Collector, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Collector{cfg: cfg, now: cfg.Now}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Name is "boot".
func (c *Collector) Name() string { return "boot" }

// Run reads the boot facts, emits them as exactly one KindBoot record and
// returns nil; it returns Emit's error if ctx ends before the record is queued.
func (c *Collector) Run(ctx context.Context, out collectors.Emitter) error {
	info := read(ctx, c.cfg)
	r, err := info.record(c.now())
	if err != nil {
		return err
	}
	if err := out.Emit(ctx, r); err != nil {
		return fmt.Errorf("boot: emit: %w", err)
	}
	return nil
}

// record is the KindBoot record of info: the Info as compact JSON, and the
// few attributes the collector indexes. An unknown value is "".
func (info Info) record(now time.Time) (collectors.Record, error) {
	body, err := json.Marshal(info)
	if err != nil {
		return collectors.Record{}, fmt.Errorf("boot: encode: %w", err)
	}
	var tainted, pstore string
	if info.KernelTaint != nil {
		tainted = strconv.FormatUint(info.KernelTaint.Value, 10)
	}
	if info.Pstore != nil {
		pstore = strconv.FormatBool(info.Pstore.HasRecords)
	}
	return collectors.Record{
		Time:   now,
		Kind:   collectors.KindBoot,
		Source: "boot",
		Body:   body,
		Attrs: []collectors.Attr{
			{Key: "boot_id", Value: info.BootID},
			{Key: "boot_time", Value: info.BootTime},
			{Key: "kernel_release", Value: info.KernelRelease},
			{Key: "firmware_version", Value: info.FirmwareVersion},
			{Key: "model", Value: info.Model},
			{Key: "secure_boot", Value: info.SecureBoot.State},
			{Key: "tainted", Value: tainted},
			{Key: "pstore", Value: pstore},
		},
	}, nil
}
