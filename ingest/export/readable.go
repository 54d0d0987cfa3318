package export

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// The bodies below are decoded with local structs: ingest never imports the
// agent or the collectors (ARCHITECTURE.md), so these mirror the fields that
// collectors/watch (config_change, password_age), agent/heartbeat.go and
// collectors/boot write, and only the fields shown here. A field they add
// later is ignored; a body that does not decode is shown as Text shows any
// record.

// changeBody mirrors collectors/watch's config_change body.
type changeBody struct {
	Path          string  `json:"path"`
	Change        string  `json:"change"`
	OldSHA256     string  `json:"old_sha256"`
	NewSHA256     string  `json:"new_sha256"`
	Size          *int64  `json:"size"`
	Mode          string  `json:"mode"`
	UID           *uint32 `json:"uid"`
	GID           *uint32 `json:"gid"`
	Owner         string  `json:"owner"`
	MTime         string  `json:"mtime"`
	OldSize       *int64  `json:"old_size"`
	OldMode       string  `json:"old_mode"`
	OldUID        *uint32 `json:"old_uid"`
	OldGID        *uint32 `json:"old_gid"`
	OldOwner      string  `json:"old_owner"`
	Diff          string  `json:"diff"`
	DiffTruncated *bool   `json:"diff_truncated"`
	DiffSkipped   string  `json:"diff_skipped"`
}

// passwordAge mirrors one entry of collectors/watch's password_age body.
type passwordAge struct {
	User       string `json:"user"`
	LastChange string `json:"last_change"`
	AgeDays    *int64 `json:"age_days"`
	Locked     bool   `json:"locked"`
	NoPassword bool   `json:"no_password"`
	MustChange bool   `json:"must_change"`
}

// bootBody mirrors the part of collectors/boot's Info that is shown.
type bootBody struct {
	BootTime      string `json:"boot_time"`
	KernelRelease string `json:"kernel_release"`
	OS            *struct {
		PrettyName string `json:"pretty_name"`
	} `json:"os"`
	FirmwareVersion string `json:"firmware_version"`
	FirmwareSource  string `json:"firmware_source"`
	Model           string `json:"model"`
	ModelSource     string `json:"model_source"`
	SecureBoot      struct {
		State string `json:"state"`
	} `json:"secure_boot"`
	KernelTaint *struct {
		Value   uint64 `json:"value"`
		Letters string `json:"letters"`
	} `json:"kernel_taint"`
	Pstore *struct {
		HasRecords bool `json:"has_records"`
		Count      int  `json:"count"`
	} `json:"pstore"`
	Unavailable []struct {
		Source string `json:"source"`
		Reason string `json:"reason"`
	} `json:"unavailable"`
}

// indent starts every detail line of a record, so that records stay apart
// when one spans several lines: a line that does not start with it starts a
// record.
const indent = "    "

// Readable is the form `records` prints for a person. A log line, and any
// kind without a form of its own, is Text's one line. A config change is
// its path and change, then the file's owner, mode, size and mtime before
// and after, the hashes, and the recorded diff one line each; password_age
// is one line per user; a heartbeat is one line of its key figures; a boot
// is firmware, model and kernel. Every value that comes from the device is
// passed through clean, so no body, path or diff line can move the cursor,
// change colours or fake a line of its own.
func Readable(r *store.Record) string {
	var lines []string
	var ok bool
	switch r.GetKind() {
	case offboxv1.Kind_KIND_CONFIG_CHANGE:
		lines, ok = configLines(r)
	case offboxv1.Kind_KIND_PASSWORD_AGE:
		lines, ok = passwordAgeLines(r)
	case offboxv1.Kind_KIND_HEARTBEAT:
		lines, ok = heartbeatLines(r), true
	case offboxv1.Kind_KIND_BOOT:
		lines, ok = bootLines(r)
	}
	if !ok {
		return Text(r)
	}
	return strings.Join(lines, "\n")
}

// head is the first line of a structured record: time, device, source and
// kind, then what.
func head(r *store.Record, what string) string {
	return fmt.Sprintf("%s %s %s %s: %s", time.Unix(0, r.GetTimeNs()).UTC().Format(TimeFormat), clean(r.Device),
		clean(r.GetSource()), KindName(r.GetKind()), what)
}

func configLines(r *store.Record) ([]string, bool) {
	var b changeBody
	if json.Unmarshal(r.GetBody(), &b) != nil || b.Path == "" {
		return nil, false
	}
	lines := []string{head(r, clean(b.Path)+" "+clean(b.Change))}
	if b.Change != "created" && (b.OldSHA256 != "" || b.OldMode != "" || b.OldSize != nil) {
		lines = append(lines, indent+"before: "+fileFacts(b.OldOwner, b.OldUID, b.OldGID, b.OldMode, b.OldSize, ""))
	}
	if b.Change != "deleted" && (b.NewSHA256 != "" || b.Mode != "" || b.Size != nil) {
		lines = append(lines, indent+"after:  "+fileFacts(b.Owner, b.UID, b.GID, b.Mode, b.Size, b.MTime))
	}
	if b.OldSHA256 != b.NewSHA256 {
		lines = append(lines, indent+"sha256: "+shortHash(b.OldSHA256)+" → "+shortHash(b.NewSHA256))
	}
	switch {
	case b.Diff != "":
		diff, cut := ConfigDiff(r.GetBody())
		for _, l := range diff {
			lines = append(lines, indent+l)
		}
		if cut {
			lines = append(lines, indent+"(diff cut at the agent's max_diff_bytes)")
		}
	case b.DiffSkipped != "":
		lines = append(lines, indent+"no diff: "+clean(b.DiffSkipped))
	case b.Change != "metadata":
		lines = append(lines, indent+"no diff recorded (the path is not in the agent's watch diff_paths)")
	}
	return lines, true
}

// fileFacts is who owns a file and what it is: "owner root (uid 0, gid 0),
// mode 0644, 120 bytes, mtime T". Empty parts are left out.
func fileFacts(owner string, uid, gid *uint32, mode string, size *int64, mtime string) string {
	var parts []string
	var who string
	switch {
	case owner != "":
		who = "owner " + clean(owner)
	case uid != nil:
		who = "owner ?"
	}
	if uid != nil {
		ids := "uid " + strconv.FormatUint(uint64(*uid), 10)
		if gid != nil {
			ids += ", gid " + strconv.FormatUint(uint64(*gid), 10)
		}
		who += " (" + ids + ")"
	}
	if who != "" {
		parts = append(parts, who)
	}
	if mode != "" {
		parts = append(parts, "mode "+clean(mode))
	}
	if size != nil {
		parts = append(parts, strconv.FormatInt(*size, 10)+" bytes")
	}
	if mtime != "" {
		parts = append(parts, "mtime "+clean(mtime))
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}

func shortHash(h string) string {
	switch {
	case h == "":
		return "none"
	case len(h) > 12:
		h = h[:12]
	}
	return clean(h)
}

func passwordAgeLines(r *store.Record) ([]string, bool) {
	var users []passwordAge
	if json.Unmarshal(r.GetBody(), &users) != nil {
		return nil, false
	}
	what := plural(int64(len(users)), "user")
	a := attrMap(r)
	if u, d := a["oldest_user"], a["oldest_days"]; u != "" && d != "" {
		what += ", oldest password in use: " + clean(u) + ", " + clean(d) + " days"
	}
	lines := []string{head(r, what)}
	width := 0
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = clean(u.User)
		width = max(width, min(utf8.RuneCountInString(names[i]), 24))
	}
	for i, u := range users {
		var s string
		switch {
		case u.LastChange == "":
			s = "no last-change date"
		case u.AgeDays != nil:
			s = plural(*u.AgeDays, "day") + " (changed " + clean(u.LastChange) + ")"
		default:
			s = "changed " + clean(u.LastChange)
		}
		if u.Locked {
			s += ", locked"
		}
		if u.NoPassword {
			s += ", NO PASSWORD"
		}
		if u.MustChange {
			s += ", must change at next login"
		}
		pad := max(width-utf8.RuneCountInString(names[i]), 0)
		lines = append(lines, indent+names[i]+strings.Repeat(" ", pad)+"  "+s)
	}
	return lines, true
}

// heartbeatLines is one line: the figures an operator looks at first.
// Heartbeats carry them as attributes (agent/heartbeat.go); one missing is
// left out.
func heartbeatLines(r *store.Record) []string {
	a := attrMap(r)
	var parts []string
	add := func(format string, keys ...string) {
		vals := make([]any, len(keys))
		for i, k := range keys {
			v, ok := a[k]
			if !ok || v == "" {
				return
			}
			vals[i] = clean(v)
		}
		parts = append(parts, fmt.Sprintf(format, vals...))
	}
	add("agent %s", "agent_version")
	if s, ok := seconds(a["agent_uptime_s"]); ok {
		parts = append(parts, "agent up "+s)
	}
	if s, ok := seconds(a["host_uptime_s"]); ok {
		parts = append(parts, "host up "+s)
	}
	if v, err := strconv.ParseInt(a["queue_bytes"], 10, 64); err == nil {
		parts = append(parts, "queue "+byteSize(v))
	}
	add("sent %s records in %s batches", "sent_records", "sent_batches")
	if d, ok := a["dropped_records"]; ok {
		s := "dropped " + clean(d) + " records"
		if b, err := strconv.ParseInt(a["dropped_bytes"], 10, 64); err == nil && b > 0 {
			s += " (" + byteSize(b) + ")"
		}
		parts = append(parts, s)
	}
	add("load %s %s %s", "load1", "load5", "load15")
	avail, err1 := strconv.ParseInt(a["mem_available_bytes"], 10, 64)
	total, err2 := strconv.ParseInt(a["mem_total_bytes"], 10, 64)
	if err1 == nil && err2 == nil {
		parts = append(parts, "mem "+byteSize(avail)+" free of "+byteSize(total))
	}
	if v, err := strconv.ParseInt(a["agent_rss_bytes"], 10, 64); err == nil {
		parts = append(parts, "rss "+byteSize(v))
	}
	if off, err := strconv.ParseInt(a["clock_offset_ns"], 10, 64); err == nil {
		s := "clock " + signed(time.Duration(off))
		if eb, err := strconv.ParseInt(a["clock_error_bound_ns"], 10, 64); err == nil {
			s += " ± " + time.Duration(eb).String()
		}
		parts = append(parts, s)
	} else if a["clock_ok"] == "false" {
		parts = append(parts, "clock not measured")
	}
	add("unavailable: %s", "unavailable")
	what := strings.Join(parts, ", ")
	if what == "" {
		what = "no figures"
	}
	return []string{head(r, what)}
}

func bootLines(r *store.Record) ([]string, bool) {
	var b bootBody
	if json.Unmarshal(r.GetBody(), &b) != nil {
		return nil, false
	}
	orUnknown := func(v, source string) string {
		if v == "" {
			return "unknown"
		}
		if source != "" {
			return clean(v) + " (" + clean(source) + ")"
		}
		return clean(v)
	}
	lines := []string{head(r, "firmware "+orUnknown(b.FirmwareVersion, b.FirmwareSource)+", model "+orUnknown(b.Model, b.ModelSource)+
		", kernel "+orUnknown(b.KernelRelease, ""))}
	var more []string
	if b.OS != nil && b.OS.PrettyName != "" {
		more = append(more, "os "+clean(b.OS.PrettyName))
	}
	if b.BootTime != "" {
		more = append(more, "booted "+clean(b.BootTime))
	}
	if b.SecureBoot.State != "" {
		more = append(more, "secure boot "+clean(b.SecureBoot.State))
	}
	if t := b.KernelTaint; t != nil && t.Value != 0 {
		more = append(more, "kernel tainted "+clean(t.Letters))
	}
	if p := b.Pstore; p != nil && p.HasRecords {
		more = append(more, fmt.Sprintf("pstore holds %d crash records", p.Count))
	}
	if len(more) > 0 {
		lines = append(lines, indent+strings.Join(more, ", "))
	}
	for _, u := range b.Unavailable {
		lines = append(lines, indent+"unavailable: "+clean(u.Source)+": "+clean(u.Reason))
	}
	return lines, true
}

func attrMap(r *store.Record) map[string]string {
	m := make(map[string]string, len(r.GetAttrs()))
	for _, a := range r.GetAttrs() {
		m[a.GetKey()] = a.GetValue()
	}
	return m
}

// seconds writes a count of seconds as "3d4h5m", "4h5m" or "5m7s".
func seconds(v string) (string, bool) {
	s, err := strconv.ParseInt(v, 10, 64)
	if err != nil || s < 0 {
		return "", false
	}
	d, h, m := s/86400, s%86400/3600, s%3600/60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd%dh%dm", d, h, m), true
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m), true
	}
	return fmt.Sprintf("%dm%ds", m, s%60), true
}

// byteSize writes n bytes in the largest binary unit that keeps it >= 1.
func byteSize(n int64) string {
	if n < 1024 && n > -1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"} {
		v, unit = v/1024, u
		if v < 1024 && v > -1024 {
			break
		}
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

func signed(d time.Duration) string {
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}

// clean makes a value from the device safe to print on a terminal: text of
// printable characters (and tabs) is written as it is; anything else (ESC,
// CR, NUL, bidirectional overrides, invalid UTF-8) makes it a quoted Go
// string, as Text does with a body, so the escape shows and does nothing.
func clean(s string) string {
	if printable([]byte(s)) {
		return s
	}
	return strconv.Quote(s)
}

// Escape is what every value from a device goes through before it is
// printed: s itself when it is printable text, else s as a quoted Go string
// (for the dashboard, which shows config diffs the same way).
func Escape(s string) string { return clean(s) }

// ConfigDiff is the diff a config_change body carries, one line each (each
// passed through Escape), and whether the agent cut it; nil when the body
// holds none or does not decode.
func ConfigDiff(body []byte) (lines []string, truncated bool) {
	var b changeBody
	if json.Unmarshal(body, &b) != nil || b.Diff == "" {
		return nil, false
	}
	for _, l := range strings.Split(strings.TrimSuffix(b.Diff, "\n"), "\n") {
		lines = append(lines, clean(l))
	}
	return lines, b.DiffTruncated != nil && *b.DiffTruncated
}
