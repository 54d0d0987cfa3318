// Package detect turns stored records, integrity events and the passing of
// time into the alerts a security team reads. It is pure: the caller passes
// every record (Observe), every integrity event (Integrity) and the
// collector's clock (Tick), and gets back the alerts raised or updated. It
// never reads the clock, never does I/O, never stores or delivers an alert,
// and never imports the agent or the collectors (a record's kind is its name
// from internal/recordkind, the one list both sides share).
//
// # Grouping
//
// Alerts of the same kind, device and key whose device times, or whose
// receive times, are within Config.GroupWindow of each other are one
// alert (a device cannot split a burst into an alert per record by
// dating the records apart): each further occurrence
// returns the same alert with Count grown, Last moved and the new evidence
// appended. An alert is identified by (Kind, Device, Key, First); the caller
// upserts on that.
//
// # Time
//
// Record-driven rules (windows, grouping, working hours) use the record's
// device time (DeviceTime, or ReceivedTime when DeviceTime is zero): it is
// an absolute instant, unlike many log-line stamps, which carry no zone.
// Liveness (heartbeat_missing) and the eviction of state use the collector's
// clock: Input.ReceivedTime and the now passed to Tick. Every alert carries
// both: First and Last in the rules' time, FirstReceived and LastReceived
// in the collector's, which is what anyone listing alerts orders by.
//
// # State
//
// All state is in memory and bounded: at most Config.MaxDevices devices
// (least recently heard evicted first), per device at most
// Config.MaxSourcesPerDevice failure windows and Config.MaxUsersPerDevice
// password ages, at most Config.MaxOpenAlerts open groups and
// Config.MaxEvidence references per alert. Tick drops windows and groups
// that can no longer change. Whatever is evicted while still live is counted
// in Stats, never dropped silently. After a restart the engine knows
// nothing: replay each device's latest BOOT, CLOCK and PASSWORD_AGE records
// through Observe (discarding the alerts) to restore the baselines that
// reboot, firmware, timestamp and password rules compare against, or
// Restore saved snapshots; Reopen puts back the alert groups still open
// (ingest/alerts does both). Failure windows are not kept: a brute force
// in progress across a restart counts again from the restart.
//
// An Engine is safe for concurrent use.
package detect

import (
	"sort"
	"sync"
	"time"

	"github.com/offbox/offbox/internal/recordkind"
)

// Severities, lowest first.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert kinds, with their severity.
const (
	AlertAuthFailure          = "auth_failure"           // info; Key user+source; Count = attempts
	AlertAuthSuccess          = "auth_success"           // info, warning with Fields["off_hours"]="true"
	AlertBruteForce           = "brute_force"            // warning; ≥ BruteForceThreshold failures from one source (Key "source=…") or against the device from several (Key "device")
	AlertSuccessAfterFailures = "success_after_failures" // warning; critical when the failures reached BruteForceThreshold
	AlertDeviceReboot         = "device_reboot"          // info; a BOOT record with a new boot_id
	AlertRebootLoop           = "reboot_loop"            // critical; ≥ RebootLoopCount reboots within RebootLoopWindow
	AlertFirmwareChanged      = "firmware_changed"       // warning; firmware_version differs from the previous BOOT's
	AlertFirmwareDowngrade    = "firmware_downgrade"     // critical; older version, same model and firmware_source (raised with firmware_changed)
	AlertFirmwareNotApproved  = "firmware_not_approved"  // warning; version not in Config.ApprovedFirmware[model]
	AlertAgentRestart         = "agent_restart"          // warning; a new agent session or BOOT record with an unchanged boot_id
	AlertHeartbeatMissing     = "heartbeat_missing"      // warning; nothing heard for > (HeartbeatMisses + ½) × interval (Tick)
	AlertHeartbeatResumed     = "heartbeat_resumed"      // info; the first record after heartbeat_missing
	AlertTimestampMismatch    = "timestamp_mismatch"     // warning (cause device_clock), critical from TimestampCritical or with no device time; info (cause delivery_delay)
	AlertClockOffset          = "clock_offset"           // warning ≥ ClockOffsetWarning or no majority, critical ≥ ClockOffsetCritical
	AlertNTPUnreachable       = "ntp_unreachable"        // warning; Key server; Fields["reason"] unreachable or refused
	AlertNTPFalseticker       = "ntp_falseticker"        // warning; Key server
	AlertConfigChange         = "config_change"          // warning; Key path: a watched file, or an appliance line's configuration path ("running-config" when it names none)
	AlertPasswordChange       = "password_change"        // warning, critical when the account has no password; Key user
	AlertPasswordTooOld       = "password_too_old"       // warning; Key user; raised once while it stays too old
	AlertAccountAdded         = "account_added"          // warning, critical for uid 0; Key user
	AlertAccountRemoved       = "account_removed"        // warning; Key user
	AlertAccountUID0          = "account_uid0"           // critical; an existing account's uid changed to 0; Key user
	AlertLogAccess            = "log_access"             // info; see LogAccess
	AlertSourceQuiet          = "source_quiet"           // warning; Key source; silent for SourceQuietMultiple of its usual gap while its device is heard (Tick; quiet.go)
	AlertSourceResumed        = "source_resumed"         // info; Key source; its first record after source_quiet

	// Integrity event kinds (ingest/store Event* and EventChainRestart).
	AlertBadSignature      = "bad_signature"      // critical
	AlertIdentityMismatch  = "identity_mismatch"  // critical
	AlertGap               = "gap"                // warning
	AlertFork              = "fork"               // critical
	AlertReplay            = "replay"             // warning
	AlertConcurrentSession = "concurrent_session" // critical
	AlertMalformed         = "malformed"          // warning
	AlertChainRestart      = "chain_restart"      // critical without a reboot, warning after one
	AlertIntegrityOther    = "integrity_event"    // warning; an integrity kind this package does not know, in Fields["event"]
)

// Ref locates a stored record: the batch (device, seq) and its index.
type Ref struct {
	Device string
	Seq    uint64
	Index  int
}

// Input is one stored record.
type Input struct {
	Device       string
	Labels       map[string]string // the device's labels; copied onto its alerts
	Kind         string            // a record kind's name: "log", "boot" ... (recordkind.Kind.String)
	Source       string
	Attrs        map[string]string
	Body         []byte
	DeviceTime   time.Time // the record's time, device clock
	ReceivedTime time.Time // when the collector received the batch, collector clock
	Seq          uint64    // batch sequence
	Index        int       // record index in the batch

	// The batch header's agent session and boot id, when the caller has
	// them (store.StoredBatch SessionID, BootID). A new SessionID with the
	// BootID of the previous session raises agent_restart. Leave both empty
	// if unknown: a BOOT record repeating the last boot_id still does.
	SessionID string
	BootID    string
}

func (in *Input) ref() Ref { return Ref{in.Device, in.Seq, in.Index} }

// at is the time record rules use; seen is the collector's clock.
func (in *Input) at() time.Time {
	if in.DeviceTime.IsZero() {
		return in.ReceivedTime
	}
	return in.DeviceTime
}

func (in *Input) seen() time.Time {
	if in.ReceivedTime.IsZero() {
		return in.DeviceTime
	}
	return in.ReceivedTime
}

// Alert is one raised alert, possibly grouping several occurrences.
type Alert struct {
	ID       string // the group's identity, fixed when it opens: what the caller upserts on
	Kind     string
	Severity string // Severity*; the highest of its occurrences
	Device   string // "" for alerts about the collector itself (log_access)
	Key      string // what groups occurrences beside kind and device
	Summary  string
	Fields   map[string]string // the latest occurrence's fields
	Labels   map[string]string // the device's labels
	First    time.Time         // the earliest occurrence's time (a record's device time; see Time)
	Last     time.Time         // and the latest's
	Count    int
	Evidence []Ref // the records that caused it, the first Config.MaxEvidence

	// The collector's clock when the first and the latest occurrence were
	// received (Input.ReceivedTime, the Tick or integrity event time).
	// Lists, time windows and sorting use these, never First and Last: a
	// device's clock is its own to set, and one dated 50 years ahead must
	// not push every other device's alerts out of view.
	FirstReceived time.Time
	LastReceived  time.Time

	// What this occurrence did to the group: opened it, or raised its
	// severity. A caller notifies people on either, and only stores the
	// alert otherwise (a growing count is not news).
	Opened, Escalated bool
}

// Config holds thresholds. The zero value of every field is its default.
type Config struct {
	GroupWindow time.Duration // occurrences this close are one alert; default 5 min

	BruteForceThreshold int           // failures; default 5
	BruteForceWindow    time.Duration // default 5 min; also the success_after_failures window

	WorkStart, WorkEnd time.Duration  // time of day; both zero: 07:00–19:00
	WorkDays           []time.Weekday // nil: Monday to Friday
	Location           *time.Location // of the working window; nil: UTC

	RebootLoopCount  int           // reboots; default 3
	RebootLoopWindow time.Duration // default 30 min

	// ApprovedFirmware lists, by model (the BOOT model attr), the
	// firmware_version strings allowed. A model not listed is not checked.
	ApprovedFirmware map[string][]string

	// A device's heartbeat interval is, first found: IntervalOf(device),
	// the heartbeat_interval its latest HEARTBEAT record reports, then
	// HeartbeatInterval. heartbeat_missing is raised once the device has
	// been silent for (HeartbeatMisses + ½) intervals: it missed that many
	// heartbeats, with half an interval's slack for delivery. With the
	// default 2 the alert comes within 3 intervals of the device falling
	// silent, whenever in its cycle that happened.
	HeartbeatInterval time.Duration                     // default 15 s
	IntervalOf        func(device string) time.Duration // by device; nil or 0: not set
	HeartbeatMisses   int                               // missed heartbeats before heartbeat_missing; default 2

	TimestampSkew time.Duration // |received − device time| that raises timestamp_mismatch; default 2 min
	// TimestampCritical is the |received − device time| from which a
	// device_clock timestamp_mismatch is critical; default 24 h. A device
	// time at or before the Unix epoch always is.
	TimestampCritical time.Duration
	// MaxDeliveryDelay is the longest a record can plausibly have waited
	// between the agent and the collector (the agent keeps batches in
	// memory only); a record older on arrival has a wrong device clock.
	// Default 7 days.
	MaxDeliveryDelay time.Duration

	ClockOffsetWarning  time.Duration // default 100 ms
	ClockOffsetCritical time.Duration // default 1 s

	PasswordMaxAgeDays int // password_too_old above this; default 365

	// source_quiet (quiet.go): a source silent for SourceQuietMultiple of
	// its learned usual gap, and at least SourceQuietMinSilence, once
	// SourceQuietMinSamples gaps were learned.
	SourceQuietMultiple   float64       // default 10
	SourceQuietMinSamples int           // default 20
	SourceQuietMinSilence time.Duration // default 10 min
	MaxQuietSources       int           // sources tracked over all devices; default 100000

	MaxDevices          int // default 10000
	MaxSourcesPerDevice int // failure windows per device; default 1024
	MaxUsersPerDevice   int // password ages kept per device; default 1024
	MaxOpenAlerts       int // groups kept open for merging; default 50000
	MaxEvidence         int // references kept per alert; default 64
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&c.GroupWindow, 5*time.Minute)
	defInt(&c.BruteForceThreshold, 5)
	def(&c.BruteForceWindow, 5*time.Minute)
	if c.WorkStart == 0 && c.WorkEnd == 0 {
		c.WorkStart, c.WorkEnd = 7*time.Hour, 19*time.Hour
	}
	if c.WorkDays == nil {
		c.WorkDays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	defInt(&c.RebootLoopCount, 3)
	def(&c.RebootLoopWindow, 30*time.Minute)
	def(&c.HeartbeatInterval, 15*time.Second)
	defInt(&c.HeartbeatMisses, 2)
	def(&c.TimestampSkew, 2*time.Minute)
	def(&c.TimestampCritical, 24*time.Hour)
	def(&c.MaxDeliveryDelay, 7*24*time.Hour)
	def(&c.ClockOffsetWarning, 100*time.Millisecond)
	def(&c.ClockOffsetCritical, time.Second)
	defInt(&c.PasswordMaxAgeDays, 365)
	if c.SourceQuietMultiple <= 0 {
		c.SourceQuietMultiple = 10
	}
	defInt(&c.SourceQuietMinSamples, 20)
	def(&c.SourceQuietMinSilence, 10*time.Minute)
	defInt(&c.MaxQuietSources, 100000)
	defInt(&c.MaxDevices, 10000)
	defInt(&c.MaxSourcesPerDevice, 1024)
	defInt(&c.MaxUsersPerDevice, 1024)
	defInt(&c.MaxOpenAlerts, 50000)
	defInt(&c.MaxEvidence, 64)
	return c
}

// Stats counts what the bounds made the engine forget.
type Stats struct {
	Devices, OpenAlerts int // held now
	EvictedDevices      int // devices forgotten while the table was full
	EvictedWindows      int // failure windows forgotten while a device's table was full
	EvictedAlerts       int // open groups closed early while the table was full
	DroppedEvidence     int // references not kept because an alert had MaxEvidence
	QuietSources        int // sources source_quiet tracks now
	UntrackedSources    int // new sources not tracked because MaxQuietSources were
}

// Engine holds the rules' state.
type Engine struct {
	mu      sync.Mutex
	cfg     Config
	devices map[string]*deviceState
	groups  map[groupKey]*group
	stats   Stats

	quietSources int // sources tracked over all devices (quiet.go)

	collect   *collected // while collecting (collect.go), else nil
	observing bool       // in Observe: what raise collects
}

type groupKey struct{ kind, device, key string }

type group struct {
	a       Alert
	touched time.Time // collector clock of the last update
	text    alertText // while collecting: a's Summary and Fields, not built yet (raiseLazy)
}

// built is g's alert with its text built.
func (g *group) built() *Alert {
	if g.text != nil {
		g.text.fill(&g.a)
		g.text = nil
	}
	return &g.a
}

// New returns an engine with cfg's thresholds (zero fields: defaults).
func New(cfg Config) *Engine {
	return &Engine{cfg: cfg.withDefaults(), devices: map[string]*deviceState{}, groups: map[groupKey]*group{}}
}

// Stats reports the engine's size and what its bounds evicted.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Devices, s.OpenAlerts = len(e.devices), len(e.groups)
	s.QuietSources = e.quietSources
	return s
}

// Observe runs the record-driven rules over one record and returns the
// alerts it raised or updated (none while collecting: see Collect).
func (e *Engine) Observe(in Input) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observing = true
	defer func() { e.observing = false }()
	var out []Alert
	if e.collect != nil {
		out = e.collect.scratch[:0] // raise remembers; out is dropped
	}
	d := e.device(in.Device, in.seen())
	if in.Labels != nil {
		d.labels = in.Labels
	}
	if d.missing {
		out = append(out, e.resumed(d, &in))
	}
	e.deviceBack(d, &in)
	if in.seen().After(d.lastSeen) {
		d.lastSeen = in.seen()
	}
	out = e.session(out, d, &in)
	switch k, _ := recordkind.Parse(in.Kind); k {
	case recordkind.Heartbeat:
		learnInterval(d, &in)
	case recordkind.Log:
		out = e.sourceSeen(out, d, &in)
		out = e.authLine(out, d, &in)
	case recordkind.Boot:
		out = e.boot(out, d, &in)
	case recordkind.Clock:
		out = e.clock(out, d, &in)
	case recordkind.ConfigChange:
		out = e.configChange(out, d, &in)
	case recordkind.PasswordChange:
		out = e.passwordChange(out, d, &in)
	case recordkind.AccountChange:
		out = e.accountChange(out, d, &in)
	case recordkind.PasswordAge:
		out = e.passwordAge(out, d, &in)
	}
	out = e.timestamp(out, d, &in)
	if e.collect != nil {
		clear(out) // hold no group's state past the call
		e.collect.scratch = out[:0]
		return nil // remembered by raise
	}
	return out
}

// Tick runs the timer-driven rules at now (the collector's clock):
// heartbeat_missing for devices silent too long and password_too_old for
// passwords that aged past the limit since their last PASSWORD_AGE record.
// It also drops state that can no longer change an alert. Call it every few
// seconds; alerts come back ordered by device.
func (e *Engine) Tick(now time.Time) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Alert
	for name, d := range e.devices {
		out = e.heartbeat(out, name, d, now)
		out = e.sourcesTick(out, name, d, now)
		out = e.passwordAgeTick(out, name, d, now)
		d.prune(now, e.cfg)
	}
	for k, g := range e.groups {
		if now.Sub(g.touched) > e.cfg.GroupWindow {
			delete(e.groups, k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out
}

// LogAccess is the alert for one read of the collector's data (an API
// or CLI query) on its own: who asked, what for, when. Engine.Access
// groups reads into it.
func LogAccess(who, what string, at time.Time) Alert {
	return Alert{
		ID:       groupID(AlertLogAccess, who+"\x00"+what, "", at),
		Kind:     AlertLogAccess,
		Severity: SeverityInfo,
		Key:      who,
		Summary:  who + " read " + what,
		Fields:   map[string]string{"who": who, "what": what},
		First:    at,
		Last:     at,
		Count:    1,
		Opened:   true,

		FirstReceived: at,
		LastReceived:  at,
	}
}
