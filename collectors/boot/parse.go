package boot

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Every function in this file is pure: bytes in, values out, no I/O, so each
// is tested on literals and fuzzed. Reading lives in read.go.

var errEmpty = errors.New("empty")

// parseOneLine is the first line of a one-value file (/proc/sys/kernel/*,
// /sys/class/dmi/id/*), without surrounding white space. Empty input is "".
func parseOneLine(data []byte) string {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	return string(bytes.TrimSpace(data))
}

// parseNonEmptyLine is parseOneLine for files that must hold a value.
func parseNonEmptyLine(data []byte) (string, error) {
	s := parseOneLine(data)
	if s == "" {
		return "", errEmpty
	}
	return s, nil
}

// parseBootID reads /proc/sys/kernel/random/boot_id: a UUID in its 8-4-4-4-12
// text form, normalised to lower case.
func parseBootID(data []byte) (string, error) {
	s := parseOneLine(data)
	if s == "" {
		return "", errEmpty
	}
	if len(s) != 36 {
		return "", fmt.Errorf("boot id %q is not a UUID", clip(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", fmt.Errorf("boot id %q is not a UUID", s)
			}
		default:
			if !isHex(c) {
				return "", fmt.Errorf("boot id %q is not a UUID", s)
			}
		}
	}
	return strings.ToLower(s), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// parseProcStatBtime finds the "btime <unix seconds>" line of /proc/stat.
func parseProcStatBtime(data []byte) (time.Time, error) {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		rest, ok := bytes.CutPrefix(line, []byte("btime"))
		if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		f := bytes.TrimSpace(rest)
		if !isDigits(f) {
			return time.Time{}, fmt.Errorf("btime %q is not a number of seconds", clip(string(f)))
		}
		sec, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil || sec > maxUnixSeconds {
			return time.Time{}, fmt.Errorf("btime %q is out of range", clip(string(f)))
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	return time.Time{}, errors.New("no btime line")
}

// maxUnixSeconds keeps boot times within what RFC 3339 can write (year 9999).
const maxUnixSeconds = 253402300799

func isDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseUptime reads the first field of /proc/uptime: seconds since boot, with
// two decimals ("823.21 1317.50").
func parseUptime(data []byte) (float64, error) {
	fields := bytes.Fields(data)
	if len(fields) == 0 {
		return 0, errEmpty
	}
	f := fields[0]
	intPart, frac, _ := bytes.Cut(f, []byte("."))
	if !isDigits(intPart) || (bytes.IndexByte(f, '.') >= 0 && !isDigits(frac)) {
		return 0, fmt.Errorf("uptime %q is not a number of seconds", clip(string(f)))
	}
	v, err := strconv.ParseFloat(string(f), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("uptime %q is out of range", clip(string(f)))
	}
	return v, nil
}

// parseProcVersion splits /proc/version ("Linux version <release> (<builder>)
// (<compiler>) <version>") into the release and the version; it is the
// fallback for /proc/sys/kernel/{osrelease,version}.
func parseProcVersion(data []byte) (release, version string, err error) {
	s := parseOneLine(data)
	if s == "" {
		return "", "", errEmpty
	}
	rest, ok := strings.CutPrefix(s, "Linux version ")
	if !ok {
		return "", "", errors.New(`does not start with "Linux version "`)
	}
	release, _, _ = strings.Cut(rest, " ")
	// The compiler string nests parentheses; the version (UTS_VERSION)
	// starts with '#' right after the last of them that closes before it.
	if i := strings.Index(rest, ") #"); i >= 0 {
		version = rest[i+2:]
	}
	return release, version, nil
}

// parseShellAssignments reads the KEY=value files of os-release(5),
// /etc/openwrt_release and /etc/lsb-release: shell variable assignments with
// unquoted, 'single' or "double" quoted values (backslash escapes as in the
// shell), comments and blank lines. Lines that are not an assignment (no '=',
// a bad name, an unterminated quote) are skipped and counted in bad.
func parseShellAssignments(data []byte) (vars map[string]string, bad int) {
	vars = map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !isShellName(key) {
			bad++
			continue
		}
		v, err := parseShellWord(strings.TrimLeft(value, " \t"))
		if err != nil {
			bad++
			continue
		}
		vars[key] = v
	}
	return vars, bad
}

func isShellName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// parseShellWord reads one shell word from the start of s: quoted and
// unquoted parts concatenate ('it'\”s' is "it's"); an unquoted blank ends it.
func parseShellWord(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t':
			return b.String(), nil
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", errors.New("unterminated single quote")
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				// Inside double quotes a backslash escapes only these.
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", errors.New("unterminated double quote")
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// OSRelease is what /etc/os-release (os-release(5)) says about the system.
type OSRelease struct {
	ID         string `json:"id,omitempty"`
	Name       string `json:"name,omitempty"`
	VersionID  string `json:"version_id,omitempty"`
	Version    string `json:"version,omitempty"`
	PrettyName string `json:"pretty_name,omitempty"`
	BuildID    string `json:"build_id,omitempty"`
	Variant    string `json:"variant,omitempty"`
}

func parseOSRelease(data []byte) (OSRelease, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return OSRelease{}, errEmpty
	}
	v, bad := parseShellAssignments(data)
	o := OSRelease{ID: v["ID"], Name: v["NAME"], VersionID: v["VERSION_ID"], Version: v["VERSION"],
		PrettyName: v["PRETTY_NAME"], BuildID: v["BUILD_ID"], Variant: v["VARIANT"]}
	if o == (OSRelease{}) {
		return o, fmt.Errorf("no os-release fields (%d lines not KEY=value)", bad)
	}
	return o, nil
}

// OpenWrt is /etc/openwrt_release, the DISTRIB_* variables OpenWrt's build writes.
type OpenWrt struct {
	Release     string `json:"release,omitempty"`
	Revision    string `json:"revision,omitempty"`
	Target      string `json:"target,omitempty"`
	Arch        string `json:"arch,omitempty"`
	Description string `json:"description,omitempty"`
}

func parseOpenWrtRelease(data []byte) (OpenWrt, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return OpenWrt{}, errEmpty
	}
	v, bad := parseShellAssignments(data)
	o := OpenWrt{Release: v["DISTRIB_RELEASE"], Revision: v["DISTRIB_REVISION"], Target: v["DISTRIB_TARGET"],
		Arch: v["DISTRIB_ARCH"], Description: v["DISTRIB_DESCRIPTION"]}
	if o.Release == "" && o.Revision == "" {
		return o, fmt.Errorf("no DISTRIB_RELEASE or DISTRIB_REVISION (%d lines not KEY=value)", bad)
	}
	return o, nil
}

// lsbRelease is the part of /etc/lsb-release that identifies Cumulus Linux.
type lsbRelease struct{ ID, Release, Description string }

func parseLSBRelease(data []byte) (lsbRelease, error) {
	v, _ := parseShellAssignments(data)
	l := lsbRelease{ID: v["DISTRIB_ID"], Release: v["DISTRIB_RELEASE"], Description: v["DISTRIB_DESCRIPTION"]}
	if l.ID == "" {
		return l, errors.New("no DISTRIB_ID")
	}
	return l, nil
}

// parseCompatible splits a device-tree string list (/proc/device-tree/compatible):
// NUL-terminated strings, most specific first. Empty entries are dropped.
func parseCompatible(data []byte) []string {
	var out []string
	for _, s := range bytes.Split(data, []byte{0}) {
		if len(s) > 0 {
			out = append(out, string(s))
		}
	}
	return out
}

// parseDTString reads a device-tree string property (/proc/device-tree/model):
// the bytes up to the terminating NUL, without surrounding white space.
func parseDTString(data []byte) string {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}
	return string(bytes.TrimSpace(data))
}

// parseDTUint32 reads a one-cell device-tree property: 4 bytes, big endian.
func parseDTUint32(data []byte) (uint32, error) {
	if len(data) != 4 {
		return 0, fmt.Errorf("%d bytes, want 4", len(data))
	}
	return binary.BigEndian.Uint32(data), nil
}

// Taint is /proc/sys/kernel/tainted decoded with the kernel's table
// (Documentation/admin-guide/tainted-kernels.rst).
type Taint struct {
	Value   uint64      `json:"value"`
	Letters string      `json:"letters,omitempty"` // as the kernel prints them in oopses, in bit order
	Flags   []TaintFlag `json:"flags,omitempty"`
}

// TaintFlag is one set bit of the taint mask.
type TaintFlag struct {
	Bit    int    `json:"bit"`
	Letter string `json:"letter,omitempty"` // empty for a bit this table does not know
	Name   string `json:"name"`
}

var taintFlags = [...]struct{ letter, name string }{
	{"P", "proprietary module was loaded"},
	{"F", "module was force loaded"},
	{"S", "kernel running on an out of specification system"},
	{"R", "module was force unloaded"},
	{"M", "processor reported a Machine Check Exception (MCE)"},
	{"B", "bad page referenced or some unexpected page flags"},
	{"U", "taint requested by userspace application"},
	{"D", "kernel died recently, i.e. there was an OOPS or BUG"},
	{"A", "ACPI table overridden by user"},
	{"W", "kernel issued warning"},
	{"C", "staging driver was loaded"},
	{"I", "workaround for bug in platform firmware applied"},
	{"O", "externally-built (out-of-tree) module was loaded"},
	{"E", "unsigned module was loaded"},
	{"L", "soft lockup occurred"},
	{"K", "kernel has been live patched"},
	{"X", "auxiliary taint, defined for and used by distros"},
	{"T", "kernel was built with the struct randomization plugin"},
	{"N", "an in-kernel test has been run"},
	{"J", "userspace used a mutating debug operation in fwctl"},
}

func parseTainted(data []byte) (Taint, error) {
	f := bytes.TrimSpace(data)
	if len(f) == 0 {
		return Taint{}, errEmpty
	}
	if !isDigits(f) {
		return Taint{}, fmt.Errorf("%q is not a decimal taint mask", clip(string(f)))
	}
	v, err := strconv.ParseUint(string(f), 10, 64)
	if err != nil {
		return Taint{}, fmt.Errorf("%q is out of range", clip(string(f)))
	}
	t := Taint{Value: v}
	var letters strings.Builder
	for bit := 0; bit < 64; bit++ {
		if v&(1<<bit) == 0 {
			continue
		}
		if bit < len(taintFlags) {
			letters.WriteString(taintFlags[bit].letter)
			t.Flags = append(t.Flags, TaintFlag{Bit: bit, Letter: taintFlags[bit].letter, Name: taintFlags[bit].name})
		} else {
			t.Flags = append(t.Flags, TaintFlag{Bit: bit, Name: "unknown to this version of offbox"})
		}
	}
	t.Letters = letters.String()
	return t, nil
}

// parseSecureBoot reads the SecureBoot variable as efivarfs presents it: 4
// bytes of attributes (little endian) followed by the UEFI value, one byte, 1
// when Secure Boot is enforced and 0 when not.
func parseSecureBoot(data []byte) (enabled bool, err error) {
	switch {
	case len(data) < 5:
		return false, fmt.Errorf("truncated: %d bytes, want 4 attribute bytes and 1 value byte", len(data))
	case len(data) > 5:
		return false, fmt.Errorf("%d bytes, want 4 attribute bytes and 1 value byte", len(data))
	}
	switch data[4] {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, fmt.Errorf("value %d, want 0 or 1", data[4])
}

// parseVyOSVersionJSON reads /usr/share/vyos/version.json (VyOS 1.2 and later).
func parseVyOSVersionJSON(data []byte) (version, build string, err error) {
	var v struct {
		Version  string `json:"version"`
		BuildGit string `json:"build_git"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return "", "", err
	}
	if v.Version == "" {
		return "", "", errors.New("no version")
	}
	return v.Version, v.BuildGit, nil
}

// parseVyattaVersion reads /opt/vyatta/etc/version (VyOS 1.1 and Vyatta):
// "Version:      VyOS 1.1.8" and more lines.
func parseVyattaVersion(data []byte) (string, error) {
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "version") {
			continue
		}
		v = strings.TrimSpace(v)
		v = strings.TrimSpace(strings.TrimPrefix(v, "VyOS"))
		if v == "" {
			return "", errors.New("empty Version line")
		}
		return v, nil
	}
	return "", errors.New("no Version line")
}

// parseYAMLScalars reads the top-level "key: scalar" lines of a flat YAML
// file such as /etc/sonic/sonic_version.yml; nested and multi-line values are
// skipped. It is no YAML parser, and need not be one for this file.
func parseYAMLScalars(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' || line[0] == '-' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || (v != "" && v[0] != ' ' && v[0] != '\t') {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = strings.ReplaceAll(v[1:len(v)-1], "''", "'")
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			} else {
				v = v[1 : len(v)-1]
			}
		default:
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
		}
		out[k] = v
	}
	return out
}

// parseSonicVersion reads /etc/sonic/sonic_version.yml.
func parseSonicVersion(data []byte) (version, build string, err error) {
	v := parseYAMLScalars(data)
	if v["build_version"] == "" {
		return "", "", errors.New("no build_version")
	}
	return v["build_version"], v["commit_id"], nil
}

// clip bounds the untrusted text quoted into an error.
func clip(s string) string {
	const max = 40 // bytes
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
