package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Host paths, absolute as on the device; reader.path puts them under the root.
const (
	pathBootID       = "/proc/sys/kernel/random/boot_id"
	pathStat         = "/proc/stat"
	pathUptime       = "/proc/uptime"
	pathOSRelease    = "/proc/sys/kernel/osrelease"
	pathKVersion     = "/proc/sys/kernel/version"
	pathProcVersion  = "/proc/version"
	pathTainted      = "/proc/sys/kernel/tainted"
	pathEtcOSRelease = "/etc/os-release"
	pathLibOSRelease = "/usr/lib/os-release"
	pathDMI          = "/sys/class/dmi/id"
	pathDeviceTree   = "/proc/device-tree"
	pathDTBase       = "/sys/firmware/devicetree/base" // where /proc/device-tree points
	pathOpenWrt      = "/etc/openwrt_release"
	pathLSBRelease   = "/etc/lsb-release"
	pathVyOSJSON     = "/usr/share/vyos/version.json"
	pathVyattaVer    = "/opt/vyatta/etc/version"
	pathSonicVersion = "/etc/sonic/sonic_version.yml"
	pathRPiBLTime    = "/chosen/bootloader/build-timestamp" // under the device tree
	pathRPiBLVersion = "/chosen/bootloader/version"         // under the device tree
	pathEFI          = "/sys/firmware/efi"
	pathEFIVars      = "/sys/firmware/efi/efivars"
	pathSecureBoot   = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
	pathPstore       = "/sys/fs/pstore"
)

const (
	maxFileBytes     = 64 << 10 // of any one file but /proc/stat
	maxStatBytes     = 4 << 20  // /proc/stat: its intr line grows with CPUs and IRQs
	maxOverrideBytes = 4 << 10  // of the firmware override file or command output
	maxPstoreFiles   = 64       // names listed; Pstore.Count has them all
	maxCrashRecords  = 4        // pstore records whose text is read
	maxCrashBytes    = 8 << 10  // read from the end of each: a record can be large, the panic is at its end
	maxCrashHeader   = 64       // read from the start of a longer record for its "Panic#1 Part1" header
)

var (
	errNotRegular = errors.New("not a regular file")
	errTooLarge   = errors.New("too large")
)

// reader reads host files under a root and notes what it could not read.
type reader struct {
	root   string
	unav   []Unavailable
	ctx    context.Context // bounds FirmwareCommand
	dtBase string          // the device tree directory found: pathDeviceTree or pathDTBase
}

func (r *reader) path(name string) string { return filepath.Join(r.root, name) }

// file reads the host file name, at most max bytes. It refuses what is not a
// regular file, so a FIFO or device in a fixture cannot block or flood it
// (/proc, /sys and efivarfs files are all regular).
func (r *reader) file(name string, max int64) ([]byte, error) {
	f, err := os.OpenFile(r.path(name), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, syscall.EISDIR
		}
		return nil, errNotRegular
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: more than %d bytes", errTooLarge, max)
	}
	return b, nil
}

// exists reports whether the host path name is there; an error other than
// "not there" counts as there, so that reading it reports the error.
func (r *reader) exists(name string) bool {
	_, err := os.Stat(r.path(name))
	return !errors.Is(err, fs.ErrNotExist)
}

func (r *reader) miss(source, reason string) {
	r.unav = append(r.unav, Unavailable{Source: source, Reason: reason})
}

func (r *reader) missErr(source string, err error) { r.miss(source, reasonFor(err)) }

// reasonFor words a read error for Info.Unavailable without the host root in
// it, so reasons compare across machines and in golden files.
func reasonFor(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "not present"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, syscall.EISDIR):
		return "is a directory, not a file"
	case errors.Is(err, errNotRegular), errors.Is(err, errTooLarge):
		return err.Error()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func malformed(err error) string { return "malformed: " + err.Error() }

// parsed reads a core source and parses it; a failure of either is noted.
func parsed[T any](r *reader, name string, max int64, parse func([]byte) (T, error)) (T, bool) {
	var zero T
	b, err := r.file(name, max)
	if err != nil {
		r.missErr(name, err)
		return zero, false
	}
	v, err := parse(b)
	if err != nil {
		r.miss(name, malformed(err))
		return zero, false
	}
	return v, true
}

// probed is parsed for a file whose absence is normal (a vendor's file on
// another vendor's device): absence is not noted, other failures are.
func probed[T any](r *reader, name string, max int64, parse func([]byte) (T, error)) (T, bool) {
	if !r.exists(name) {
		var zero T
		return zero, false
	}
	return parsed(r, name, max, parse)
}

func read(ctx context.Context, cfg Config) Info {
	r := &reader{root: cfg.root(), ctx: ctx}
	var info Info

	info.BootID, _ = parsed(r, pathBootID, maxFileBytes, parseBootID)
	if t, ok := parsed(r, pathStat, maxStatBytes, parseProcStatBtime); ok {
		info.BootTime = t.Format(time.RFC3339)
	}
	info.UptimeSeconds, _ = parsed(r, pathUptime, maxFileBytes, parseUptime)
	r.readKernel(&info)
	if t, ok := parsed(r, pathTainted, maxFileBytes, parseTainted); ok {
		info.KernelTaint = &t
	}
	r.readOSRelease(&info)
	info.Firmware.DMI = r.readDMI()
	info.Firmware.DeviceTree = r.readDeviceTree()
	if o, ok := probed(r, pathOpenWrt, maxFileBytes, parseOpenWrtRelease); ok {
		info.Firmware.OpenWrt = &o
	}
	info.Firmware.Vendor = r.readVendor(&info)
	info.Firmware.Override = r.readOverride(cfg)
	info.SecureBoot = r.readSecureBoot()
	info.Pstore = r.readPstore()

	info.FirmwareVersion, info.FirmwareSource = firmwareVersion(&info)
	info.Model, info.ModelSource = model(&info)
	info.Unavailable = r.unav
	if info.Unavailable == nil {
		info.Unavailable = []Unavailable{}
	}
	return info
}

// readKernel prefers /proc/sys/kernel/{osrelease,version} and falls back to
// /proc/version, which holds both.
func (r *reader) readKernel(info *Info) {
	info.KernelRelease, _ = parsed(r, pathOSRelease, maxFileBytes, parseNonEmptyLine)
	info.KernelVersion, _ = parsed(r, pathKVersion, maxFileBytes, parseNonEmptyLine)
	b, err := r.file(pathProcVersion, maxFileBytes)
	if err != nil {
		r.missErr(pathProcVersion, err)
		return
	}
	rel, ver, err := parseProcVersion(b)
	if err != nil {
		r.miss(pathProcVersion, malformed(err))
		return
	}
	info.ProcVersion = parseOneLine(b)
	if info.KernelRelease == "" {
		info.KernelRelease = rel
	}
	if info.KernelVersion == "" {
		info.KernelVersion = ver
	}
}

// readOSRelease reads /etc/os-release, or /usr/lib/os-release where the
// former is missing, as os-release(5) says.
func (r *reader) readOSRelease(info *Info) {
	name := pathEtcOSRelease
	if !r.exists(pathEtcOSRelease) && r.exists(pathLibOSRelease) {
		name = pathLibOSRelease
	}
	if !r.exists(name) {
		r.miss(name, "not present, nor "+pathLibOSRelease)
		return
	}
	if o, ok := parsed(r, name, maxFileBytes, parseOSRelease); ok {
		info.OS = &o
	}
}

func (r *reader) readDMI() *DMI {
	if !r.exists(pathDMI) {
		r.miss(pathDMI, "no DMI on this platform")
		return nil
	}
	var d DMI
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"bios_vendor", &d.BIOSVendor},
		{"bios_version", &d.BIOSVersion},
		{"bios_date", &d.BIOSDate},
		{"sys_vendor", &d.SysVendor},
		{"product_name", &d.ProductName},
		{"product_version", &d.ProductVersion},
		{"board_name", &d.BoardName},
	} {
		name := pathDMI + "/" + f.name
		b, err := r.file(name, maxFileBytes)
		if err != nil {
			r.missErr(name, err)
			continue
		}
		*f.dst = parseOneLine(b)
	}
	return &d
}

func (r *reader) readDeviceTree() *DeviceTree {
	// /proc/device-tree is an absolute symlink into /sys; under a root other
	// than "/" it may dangle, so the target is tried under the root too.
	switch {
	case r.exists(pathDeviceTree):
		r.dtBase = pathDeviceTree
	case r.exists(pathDTBase):
		r.dtBase = pathDTBase
	default:
		r.miss(pathDeviceTree, "no device tree on this platform")
		return nil
	}
	var dt DeviceTree
	if b, err := r.file(r.dtBase+"/model", maxFileBytes); err != nil {
		r.missErr(r.dtBase+"/model", err)
	} else {
		dt.Model = parseDTString(b)
	}
	if b, err := r.file(r.dtBase+"/compatible", maxFileBytes); err != nil {
		r.missErr(r.dtBase+"/compatible", err)
	} else {
		dt.Compatible = parseCompatible(b)
	}
	return &dt
}

// readVendor finds the first vendor whose files are there.
func (r *reader) readVendor(info *Info) *Vendor {
	if v, ok := probed(r, pathVyOSJSON, maxFileBytes, func(b []byte) (Vendor, error) {
		ver, build, err := parseVyOSVersionJSON(b)
		return Vendor{Name: "VyOS", Version: ver, Build: build, Source: pathVyOSJSON}, err
	}); ok {
		return &v
	}
	if v, ok := probed(r, pathVyattaVer, maxFileBytes, func(b []byte) (Vendor, error) {
		ver, err := parseVyattaVersion(b)
		return Vendor{Name: "VyOS", Version: ver, Source: pathVyattaVer}, err
	}); ok {
		return &v
	}
	if v, ok := probed(r, pathSonicVersion, maxFileBytes, func(b []byte) (Vendor, error) {
		ver, build, err := parseSonicVersion(b)
		return Vendor{Name: "SONiC", Version: ver, Build: build, Source: pathSonicVersion}, err
	}); ok {
		return &v
	}
	if l, ok := probed(r, pathLSBRelease, maxFileBytes, parseLSBRelease); ok && l.ID == "Cumulus Linux" {
		return &Vendor{Name: "Cumulus Linux", Version: l.Release, Source: pathLSBRelease}
	}
	if info.OS != nil && info.OS.ID == "cumulus-linux" {
		return &Vendor{Name: "Cumulus Linux", Version: info.OS.VersionID, Source: pathEtcOSRelease}
	}
	if dt := info.Firmware.DeviceTree; dt != nil && isRaspberryPi(dt) {
		return r.readRaspberryPi()
	}
	if d := info.Firmware.DMI; d != nil && (d.SysVendor == "Amazon EC2" || d.BIOSVendor == "Amazon EC2") {
		return &Vendor{Name: "Amazon EC2", Model: d.ProductName, Source: pathDMI}
	}
	return nil
}

func isRaspberryPi(dt *DeviceTree) bool {
	if strings.HasPrefix(dt.Model, "Raspberry Pi") {
		return true
	}
	for _, c := range dt.Compatible {
		if strings.HasPrefix(c, "raspberrypi,") {
			return true
		}
	}
	return false
}

// readRaspberryPi takes the bootloader EEPROM's build time as the version:
// it is what rpi-eeprom-update compares, and it orders releases. Boards
// before the Pi 4 boot from the SD card and have none.
func (r *reader) readRaspberryPi() *Vendor {
	v := &Vendor{Name: "Raspberry Pi", Source: r.dtBase + "/model"}
	ts, ok := parsed(r, r.dtBase+pathRPiBLTime, maxFileBytes, parseDTUint32)
	if !ok {
		return v
	}
	v.Version = time.Unix(int64(ts), 0).UTC().Format(time.RFC3339)
	v.Source = r.dtBase + pathRPiBLTime
	if b, err := r.file(r.dtBase+pathRPiBLVersion, maxFileBytes); err == nil {
		v.Build = parseDTString(b)
	}
	return v
}

func (r *reader) readOverride(cfg Config) *Override {
	switch {
	case cfg.FirmwareFile != "":
		v, ok := parsed(r, cfg.FirmwareFile, maxOverrideBytes, parseOverride)
		if !ok {
			return nil
		}
		return &Override{Source: "file", Version: v}
	case len(cfg.FirmwareCommand) > 0:
		source := "command: " + strings.Join(cfg.FirmwareCommand, " ")
		out, err := runCommand(r.ctx, cfg.FirmwareCommand)
		if err != nil {
			r.miss(source, err.Error())
			return nil
		}
		v, err := parseOverride(out)
		if err != nil {
			r.miss(source, malformed(err))
			return nil
		}
		return &Override{Source: "command", Version: v}
	}
	return nil
}

// parseOverride is the trimmed content of an override file or command output.
func parseOverride(b []byte) (string, error) {
	s := string(bytes.TrimSpace(b))
	if s == "" {
		return "", errEmpty
	}
	return s, nil
}

// runCommand runs argv with commandTimeout and returns its stdout, at most
// maxOverrideBytes of it.
func runCommand(ctx context.Context, argv []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var stdout, stderr capped
	stdout.max, stderr.max = maxOverrideBytes, 256
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second // a child keeping the pipes open must not hold Run
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("did not finish: %v", ctx.Err())
	case err != nil:
		if msg := parseOneLine(stderr.buf.Bytes()); msg != "" {
			return nil, fmt.Errorf("%v: %s", err, msg)
		}
		return nil, err
	case stdout.over:
		return nil, fmt.Errorf("more than %d bytes of output", maxOverrideBytes)
	}
	return stdout.buf.Bytes(), nil
}

// capped keeps the first max bytes written to it and discards the rest.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
	} else {
		c.buf.Write(p)
	}
	return len(p), nil
}

func (r *reader) readSecureBoot() SecureBoot {
	if !r.exists(pathEFI) {
		r.miss(pathEFI, "not an EFI boot")
		return SecureBoot{State: "unsupported", Reason: "no " + pathEFI + ": not an EFI boot"}
	}
	b, err := r.file(pathSecureBoot, maxFileBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if r.hasEntries(pathEFIVars) {
			r.miss(pathSecureBoot, "not present")
			return SecureBoot{State: "unsupported", Reason: "the firmware has no SecureBoot variable"}
		}
		r.miss(pathEFIVars, "efivarfs not mounted")
		return SecureBoot{State: "unknown", Reason: "efivarfs is not mounted at " + pathEFIVars}
	case err != nil:
		r.missErr(pathSecureBoot, err)
		return SecureBoot{State: "unknown", Reason: "SecureBoot variable: " + reasonFor(err)}
	}
	on, err := parseSecureBoot(b)
	if err != nil {
		r.miss(pathSecureBoot, malformed(err))
		return SecureBoot{State: "unknown", Reason: "SecureBoot variable " + malformed(err)}
	}
	if on {
		return SecureBoot{State: "enabled", Reason: "SecureBoot variable is 1"}
	}
	return SecureBoot{State: "disabled", Reason: "SecureBoot variable is 0"}
}

// hasEntries reports whether the host directory name holds anything but dot
// files (which efivarfs and pstore never make, and which keep an otherwise
// empty directory of a test fixture in git).
func (r *reader) hasEntries(name string) bool {
	names, _ := r.listDir(name)
	return len(names) > 0
}

func (r *reader) listDir(name string) ([]string, error) {
	ents, err := os.ReadDir(r.path(name))
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, err
}
