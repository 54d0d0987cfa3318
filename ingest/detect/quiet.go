package detect

import (
	"math"
	"strconv"
	"time"
)

// source_quiet: a source of a device (a tailed file, a listener, the
// syslog of a relayed appliance: a log record's Source) that logged at a
// rhythm of its own and has been silent for SourceQuietMultiple of its
// usual gap, and at least SourceQuietMinSilence, while its device is still
// heard. Nothing is configured per source: each (device, source) learns its
// usual gap from the collector-clock gaps between its records.
//
// The usual gap is the longest recent gap: a longer gap raises it at once
// (to at most twice what it was, once learned, so that one outage does not
// teach the rule to wait for the next: a source whose rhythm really slowed
// is relearned after a few alerts), a shorter one lowers it by a sixteenth
// of the difference. A source is judged once SourceQuietMinSamples gaps
// have been learned.
//
// Device silence is heartbeat_missing's, not this rule's: a source is only
// found quiet while its device was heard within the source's own limit
// (a heartbeat, another source), and never while heartbeat_missing stands.
// When a device comes back after an absence (a silence past its
// heartbeat_missing limit: it was offline, or the collector was), its
// sources' silences count from its return, and the gaps that spanned the
// absence are not learned. The rule needs the device heard more often
// than a source's limit, as the agent's heartbeats (15 s by default) are.
//
// State is bounded: at most Config.MaxQuietSources sources over all
// devices; a new source past that is not tracked and is counted in
// Stats.UntrackedSources. A source not heard for quietForget is forgotten.

// quietForget is how long a source unheard is remembered.
const quietForget = 30 * 24 * time.Hour

// quietSource is what the rule knows of one source of a device.
type quietSource struct {
	last    time.Time     // collector clock of its latest record
	gap     time.Duration // the usual gap
	samples int           // gaps learned, counted up to SourceQuietMinSamples
	quiet   bool          // source_quiet raised, not yet resumed
	ref     Ref           // its latest record
}

// limit is how long s may be silent.
func (e *Engine) quietLimit(s *quietSource) time.Duration {
	l := time.Duration(float64(s.gap) * e.cfg.SourceQuietMultiple)
	return max(l, e.cfg.SourceQuietMinSilence)
}

// deviceBack notes that a device is heard again after an absence: a
// silence past its heartbeat_missing limit (whether or not the alert was
// raised: the collector may have been down too). Call it before lastSeen
// moves.
func (e *Engine) deviceBack(d *deviceState, in *Input) {
	iv := e.interval(in.Device, d)
	absent := time.Duration(e.cfg.HeartbeatMisses)*iv + iv/2
	if d.missing || !d.lastSeen.IsZero() && in.seen().Sub(d.lastSeen) > absent {
		d.back = in.seen()
	}
}

// sourceSeen learns from a LOG record of in.Source and raises
// source_resumed if the source was quiet.
func (e *Engine) sourceSeen(out []Alert, d *deviceState, in *Input) []Alert {
	if in.Source == "" {
		return out
	}
	now := in.seen()
	s := d.sources[in.Source]
	if s == nil {
		if e.quietSources >= e.cfg.MaxQuietSources {
			e.stats.UntrackedSources++
			return out
		}
		if d.sources == nil {
			d.sources = map[string]*quietSource{}
		}
		d.sources[in.Source] = &quietSource{last: now, ref: in.ref()}
		e.quietSources++
		return out
	}
	if s.quiet {
		s.quiet = false
		silent := now.Sub(s.last)
		out = append(out, e.raiseOne(Alert{Kind: AlertSourceResumed, Severity: SeverityInfo, Device: in.Device, Key: in.Source,
			Summary: "source " + in.Source + " heard again after " + silent.Round(time.Second).String(),
			Fields: map[string]string{"source": in.Source, "last_seen": s.last.UTC().Format(time.RFC3339Nano),
				"silent_for": silent.String()},
			Evidence: []Ref{in.ref()}}, now, now, d.labels))
	}
	if now.After(s.last) {
		if !d.back.After(s.last) { // the device was not away meanwhile
			e.learnGap(s, now.Sub(s.last))
		}
		s.last = now
	}
	s.ref = in.ref()
	if s.samples >= e.cfg.SourceQuietMinSamples {
		// A shorter gap or a newly learned source can bring its deadline
		// before the device's next check.
		// A zero quietNext already means "look at the next Tick".
		if due := s.last.Add(e.quietLimit(s)); due.Before(d.quietNext) {
			d.quietNext = due
		}
	}
	return out
}

func (e *Engine) learnGap(s *quietSource, g time.Duration) {
	learned := s.samples >= e.cfg.SourceQuietMinSamples
	switch {
	case s.samples == 0 || g >= s.gap && !learned:
		s.gap = max(s.gap, g)
	case g > s.gap:
		s.gap = min(g, 2*s.gap)
	default:
		s.gap -= (s.gap - g) / 16
	}
	if !learned {
		s.samples++
	}
}

// sourcesTick raises source_quiet for the device's sources silent past
// their limit, and forgets those unheard for quietForget. It runs after
// the heartbeat rule, whose alert covers a silent device.
func (e *Engine) sourcesTick(out []Alert, name string, d *deviceState, now time.Time) []Alert {
	if len(d.sources) == 0 || now.Before(d.quietNext) {
		return out
	}
	if d.missing {
		// heartbeat_missing covers the device; its sources go with it
		// once it has been gone for quietForget.
		if now.Sub(d.lastSeen) > quietForget {
			e.forgetSources(d)
			d.sources = nil
		}
		return out
	}
	next := now.Add(quietForget)
	due := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	defer func() { d.quietNext = next }()
	for src, s := range d.sources {
		if now.Sub(s.last) > quietForget {
			delete(d.sources, src)
			e.quietSources--
			continue
		}
		due(s.last.Add(quietForget))
		if s.quiet || s.samples < e.cfg.SourceQuietMinSamples {
			continue // judged again once it speaks (sourceSeen sets quietNext)
		}
		limit := e.quietLimit(s)
		since := s.last
		if d.back.After(since) {
			since = d.back
		}
		silent := now.Sub(since)
		if silent <= limit {
			due(since.Add(limit).Add(time.Nanosecond))
			continue // still within its rhythm
		}
		if now.Sub(d.lastSeen) > limit {
			next = now // the whole device is silent: look again at each tick
			continue
		}
		s.quiet = true
		out = append(out, e.raiseOne(Alert{Kind: AlertSourceQuiet, Severity: SeverityWarning, Device: name, Key: src,
			Summary: "source " + src + " silent for " + silent.Round(time.Second).String() +
				" (usually every " + s.gap.Round(time.Millisecond).String() + ")",
			Fields: map[string]string{"source": src, "last_seen": s.last.UTC().Format(time.RFC3339Nano),
				"silent_for": silent.String(), "usual_gap": s.gap.String(), "limit": limit.String(),
				"samples": strconv.Itoa(s.samples)},
			Evidence: s.evidence()}, now, now, d.labels))
	}
	return out
}

// evidence is the source's latest record, if known (a source restored
// from a baseline is not, until it is heard).
func (s *quietSource) evidence() []Ref {
	if s.ref.Device == "" {
		return nil
	}
	return []Ref{s.ref}
}

// forgetSources drops a device's sources from the count (the device is
// being evicted or replaced).
func (e *Engine) forgetSources(d *deviceState) {
	e.quietSources -= len(d.sources)
}

// quietRecord is a source's state in the device's baseline. Times and gaps
// are coarsened so that the baseline's bytes, which are saved whenever they
// change, change a few times per SourceQuietMinSilence at most, not with
// every record: Last is truncated to a quarter of the minimum silence
// (restored as the end of that quarter: the rule can only be late by that
// much, never early), Gap up to the next eighth of an octave (at most 9 %
// longer).
type quietRecord struct {
	Last    time.Time `json:"last"`
	Gap     int       `json:"gap_step"` // Gap = 2^(step/8) ms
	Samples int       `json:"samples"`
	Quiet   bool      `json:"quiet,omitempty"`
	Ref     Ref       `json:"ref"`
}

func (e *Engine) quietGrain() time.Duration {
	return max(e.cfg.SourceQuietMinSilence/4, time.Millisecond)
}

func gapStep(g time.Duration) int {
	ms := float64(g) / float64(time.Millisecond)
	if ms < 1 {
		return 0
	}
	return int(math.Ceil(8 * math.Log2(ms))) // up: a restored gap is never shorter, the rule never earlier
}

func stepGap(step int) time.Duration {
	return time.Duration(math.Exp2(float64(step)/8) * float64(time.Millisecond))
}

func (e *Engine) quietSnapshot(d *deviceState) map[string]quietRecord {
	if len(d.sources) == 0 {
		return nil
	}
	out := make(map[string]quietRecord, len(d.sources))
	g := e.quietGrain()
	for src, s := range d.sources {
		r := quietRecord{Last: s.last.Truncate(g), Gap: gapStep(s.gap), Samples: s.samples, Quiet: s.quiet}
		if s.quiet {
			r.Ref = s.ref // the evidence of a standing alert; otherwise it moves with every record
		}
		out[src] = r
	}
	return out
}

func (e *Engine) quietRestore(d *deviceState, recs map[string]quietRecord, back time.Time) {
	e.forgetSources(d)
	d.sources = nil
	d.back = back
	g := e.quietGrain()
	for src, r := range recs {
		if e.quietSources >= e.cfg.MaxQuietSources {
			e.stats.UntrackedSources++
			continue
		}
		last := r.Last.Add(g)
		if !d.lastSeen.IsZero() && last.After(d.lastSeen) {
			last = d.lastSeen
		}
		if d.sources == nil {
			d.sources = map[string]*quietSource{}
		}
		s := &quietSource{last: last, samples: r.Samples, quiet: r.Quiet, ref: r.Ref}
		if r.Samples > 0 {
			s.gap = stepGap(r.Gap)
		}
		d.sources[src] = s
		e.quietSources++
	}
}
