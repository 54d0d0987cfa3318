package detect

import "time"

// deviceState is what the rules remember of one device.
type deviceState struct {
	labels   map[string]string
	lastSeen time.Time     // collector clock of the latest record
	missing  bool          // heartbeat_missing raised, no record since
	interval time.Duration // reported by the latest HEARTBEAT; 0: not reported

	// The latest BOOT record.
	haveBoot                            bool
	bootID, firmware, fwSource, model   string
	crashDigest                         string      // of the pstore records it carried (bootBody.crashDigest)
	reboots                             []time.Time // recent reboots, device time, at most 2×RebootLoopCount
	rebootRefs                          []Ref
	session, sessionBoot, restartReport string        // agent session, its boot id, the session an agent_restart was raised for
	lineFW                              *lineFirmware // named by the latest restart line (restart.go); nil: none heard

	// The latest CLOCK offset (true minus local: positive when the device
	// clock is behind).
	haveOffset bool
	offset     time.Duration

	fails map[string]*failWindow // by source ("user=…" when the line names no source)
	all   failWindow             // every failure against the device

	pwAges map[string]*pwAge // by user, from the latest PASSWORD_AGE record

	sources map[string]*quietSource // by record source, for source_quiet (quiet.go)
	back    time.Time               // collector clock of its return after a silence of its own (quiet.go)
	// quietNext is when a source of the device may next be due: no later
	// than its earliest deadline (zero: look now). Tick skips the device
	// until then (quiet.go).
	quietNext time.Time
}

// failWindow is the recent authentication failures of one key.
type failWindow struct {
	entries []failEntry
	sum     int       // the entries' n, kept as they come and go (total)
	touched time.Time // collector clock
	// keys counts the entries by source key, when the window keeps it
	// (the device-wide one: its brute_force alert names how many sources,
	// on nearly every failure of a busy device).
	keys map[string]int
}

type failEntry struct {
	at   time.Time
	n    int
	key  string // source key
	user string
	ref  Ref
}

type pwAge struct {
	days    int64     // as reported
	seen    time.Time // collector clock of the report
	ref     Ref
	alerted bool // password_too_old raised and not yet cleared
}

// device returns the state of name, creating it (and making room) if new.
func (e *Engine) device(name string, seen time.Time) *deviceState {
	if d := e.devices[name]; d != nil {
		return d
	}
	if len(e.devices) >= e.cfg.MaxDevices {
		keep := e.cfg.MaxDevices - e.cfg.MaxDevices/8 - 1
		e.stats.EvictedDevices += evictOldest(e.devices, func(d *deviceState) time.Time { return d.lastSeen }, keep)
		e.quietSources = 0
		for _, d := range e.devices {
			e.quietSources += len(d.sources)
		}
	}
	d := &deviceState{lastSeen: seen, fails: map[string]*failWindow{}, all: failWindow{keys: map[string]int{}}}
	e.devices[name] = d
	return d
}

// add appends a failure, forgetting those older than window before at and
// keeping at most limit entries (the oldest go first; counts then err low).
func (w *failWindow) add(f failEntry, window time.Duration, limit int, seen time.Time) {
	w.expire(f.at, window)
	w.entries = append(w.entries, f)
	w.sum += f.n
	if w.keys != nil {
		w.keys[f.key]++
	}
	if len(w.entries) > limit {
		w.drop(len(w.entries) - limit)
	}
	w.touched = seen
}

func (w *failWindow) expire(at time.Time, window time.Duration) {
	i := 0
	for i < len(w.entries) && at.Sub(w.entries[i].at) > window {
		i++
	}
	w.drop(i)
}

// drop forgets the n oldest entries by reslicing, not by moving the rest
// down: the next append that outgrows the array copies the live entries
// once, so a full window costs one copy per add, not one per entry.
func (w *failWindow) drop(n int) {
	for _, f := range w.entries[:n] {
		w.sum -= f.n
		if w.keys != nil {
			if w.keys[f.key]--; w.keys[f.key] <= 0 {
				delete(w.keys, f.key)
			}
		}
	}
	w.entries = w.entries[n:]
}

// distinct is the number of source keys in the window.
func (w *failWindow) distinct() int {
	if w.keys != nil {
		return len(w.keys)
	}
	return distinctKeys(w.entries)
}

// total is the failures the window counts (an entry may stand for
// several: "message repeated N times", PAM's "N more authentication
// failures"). Kept as entries come and go: summing the window on every
// failure was a tenth of detection's time on the realistic mix.
func (w *failWindow) total() int { return w.sum }

func (w *failWindow) refs() []Ref {
	r := make([]Ref, len(w.entries))
	for i, f := range w.entries {
		r[i] = f.ref
	}
	return r
}

// prune drops windows that no record can extend any more.
func (d *deviceState) prune(now time.Time, cfg Config) {
	stale := cfg.BruteForceWindow + cfg.GroupWindow
	for k, w := range d.fails {
		if now.Sub(w.touched) > stale {
			delete(d.fails, k)
		}
	}
	if now.Sub(d.all.touched) > stale {
		d.all.entries, d.all.sum = nil, 0
		clear(d.all.keys)
	}
}
