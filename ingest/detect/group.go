package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"
)

// Grouping (see the package doc): an occurrence joins the open alert of the
// same kind, device and key, or opens a new one; the number of open groups
// and their evidence stay within the Config bounds.

// raise adds an occurrence. a is the alert as it would be if new (Count and
// Evidence covering everything that caused it, First when the earliest
// cause precedes at); if an open group of the same
// kind, device and key has its last occurrence within GroupWindow of at,
// that group grows by inc and incEvidence instead. It returns a copy of the
// alert as it now stands.
func (e *Engine) raise(a Alert, at, seen time.Time, inc int, incEvidence []Ref, labels map[string]string) Alert {
	k := groupKey{a.Kind, a.Device, a.Key}
	return e.raiseIn(k, e.openGroup(k, at, seen), a, at, seen, inc, incEvidence, labels)
}

// raiseIn is raise once the group is looked up: g is openGroup(k, at,
// seen), the group a joins, or nil to open one (one map lookup a raise,
// not one each in raiseLazy, raise and isOpen).
func (e *Engine) raiseIn(k groupKey, g *group, a Alert, at, seen time.Time, inc int, incEvidence []Ref, labels map[string]string) Alert {
	if g == nil {
		if len(e.groups) >= e.cfg.MaxOpenAlerts {
			e.evictGroups(seen)
		}
		if a.Count < 1 {
			a.Count = 1
		}
		if a.First.IsZero() || a.First.After(at) {
			a.First = at
		}
		a.Last = at
		a.FirstReceived, a.LastReceived = seen, seen
		a.ID = groupID(a.Kind, a.Device, a.Key, a.First)
		a.Labels = labels
		a.Evidence = e.capEvidence(nil, a.Evidence)
		ng := &group{a: a, touched: seen}
		e.groups[k] = ng
		if e.collectRaise(ng, true, false) {
			return a // dropped by Observe
		}
		out := cloneAlert(a)
		out.Opened = true
		return out
	}
	g.a.Count += inc
	if at.After(g.a.Last) {
		g.a.Last = at
	}
	if at.Before(g.a.First) {
		g.a.First = at
	}
	if seen.After(g.a.LastReceived) {
		g.a.LastReceived = seen
	}
	if seen.Before(g.a.FirstReceived) {
		g.a.FirstReceived = seen
	}
	escalated := severityRank(a.Severity) > severityRank(g.a.Severity)
	if escalated {
		g.a.Severity = a.Severity
	}
	g.a.Summary, g.a.Fields = a.Summary, a.Fields
	g.text = nil // raiseLazy sets it again when it is the text's occurrence
	if labels != nil {
		g.a.Labels = labels
	}
	g.a.Evidence = e.capEvidence(g.a.Evidence, incEvidence)
	g.touched = seen
	if e.collectRaise(g, false, escalated) {
		return g.a // dropped by Observe
	}
	out := cloneAlert(g.a)
	out.Escalated = escalated
	return out
}

// raiseLazy is raise for an alert whose Summary and Fields text builds:
// while collecting, an occurrence that grows a group leaves them to be
// built when the round's alerts are collected, so only the last of a
// round's occurrences builds them. text must hold values, not pointers
// to state that later occurrences change.
func (e *Engine) raiseLazy(a Alert, text alertText, at, seen time.Time, inc int, incEvidence []Ref, labels map[string]string) Alert {
	k := groupKey{a.Kind, a.Device, a.Key}
	g := e.openGroup(k, at, seen)
	if e.collect != nil && e.observing && g != nil {
		out := e.raiseIn(k, g, a, at, seen, inc, incEvidence, labels)
		g.text = text
		return out
	}
	filled := a // a itself stays on the stack: only this path hands out its address
	text.fill(&filled)
	return e.raiseIn(k, g, filled, at, seen, inc, incEvidence, labels)
}

// alertText builds an occurrence's Summary and Fields into a.
type alertText interface{ fill(a *Alert) }

// isOpen reports whether an alert of kind, device and key would group an
// occurrence at at, received at seen, so callers can skip building a new
// alert's evidence. An occurrence groups when either its device time or
// its receive time is within GroupWindow of the group's: a device that
// dates each of a burst of records an hour apart gets one alert for the
// burst, not one per record.
func (e *Engine) isOpen(kind, device, key string, at, seen time.Time) bool {
	return e.openGroup(groupKey{kind, device, key}, at, seen) != nil
}

// openGroup is the group of k that an occurrence at at, received at seen,
// joins (isOpen), or nil.
func (e *Engine) openGroup(k groupKey, at, seen time.Time) *group {
	g := e.groups[k]
	if g == nil {
		return nil
	}
	w := e.cfg.GroupWindow
	if (at.Sub(g.a.Last) <= w && g.a.First.Sub(at) <= w) ||
		(seen.Sub(g.a.LastReceived) <= w && g.a.FirstReceived.Sub(seen) <= w) {
		return g
	}
	return nil
}

// raiseOne is raise for an occurrence counted once with its own evidence.
func (e *Engine) raiseOne(a Alert, at, seen time.Time, labels map[string]string) Alert {
	a.Count = 1
	return e.raise(a, at, seen, 1, a.Evidence, labels)
}

func (e *Engine) capEvidence(have, add []Ref) []Ref {
	room := e.cfg.MaxEvidence - len(have)
	if room < len(add) {
		e.stats.DroppedEvidence += len(add) - max(room, 0)
		add = add[:max(room, 0)]
	}
	return append(have, add...)
}

// groupID is an alert group's identity: the same inputs always give the
// same ID, so a replay after a restart upserts the rows it wrote before.
func groupID(kind, device, key string, first time.Time) string {
	h := sha256.New()
	for _, s := range []string{kind, device, key, strconv.FormatInt(first.UnixNano(), 10)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func severityRank(s string) int {
	switch s {
	case SeverityCritical:
		return 2
	case SeverityWarning:
		return 1
	}
	return 0
}

func cloneAlert(a Alert) Alert {
	a.Fields = maps.Clone(a.Fields)
	a.Labels = maps.Clone(a.Labels)
	a.Evidence = slices.Clone(a.Evidence)
	return a
}

// evictGroups makes room in a full group table: groups untouched for a
// GroupWindow are closed; if that frees nothing, the oldest eighth goes.
func (e *Engine) evictGroups(seen time.Time) {
	for k, g := range e.groups {
		if seen.Sub(g.touched) > e.cfg.GroupWindow {
			delete(e.groups, k)
		}
	}
	if len(e.groups) < e.cfg.MaxOpenAlerts {
		return
	}
	n := evictOldest(e.groups, func(g *group) time.Time { return g.touched }, e.cfg.MaxOpenAlerts-e.cfg.MaxOpenAlerts/8-1)
	e.stats.EvictedAlerts += n
}

// evictOldest deletes the least recently touched entries of m until at most
// keep remain, and returns how many it deleted.
func evictOldest[K comparable, V any](m map[K]V, touched func(V) time.Time, keep int) int {
	if len(m) <= keep {
		return 0
	}
	type kt struct {
		k K
		t time.Time
	}
	all := make([]kt, 0, len(m))
	for k, v := range m {
		all = append(all, kt{k, touched(v)})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t.Before(all[j].t) })
	n := len(m) - max(keep, 0)
	for _, x := range all[:n] {
		delete(m, x.k)
	}
	return n
}

// GroupWindow is how long an alert group stays open (Config.GroupWindow
// with its default).
func (e *Engine) GroupWindow() time.Duration { return e.cfg.GroupWindow }

// Reopen puts back a saved alert as an open group, as it stood when saved,
// so that what follows a restart (or a failed save, whose round is read
// again) grows it: forgotten, the next occurrence would open a new alert,
// or, at the same first time, one with the same id and a smaller count
// that would overwrite it. An engine that already holds a group as recent
// keeps its own.
func (e *Engine) Reopen(a Alert) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := groupKey{a.Kind, a.Device, a.Key}
	if g := e.groups[k]; g != nil && !g.touched.Before(a.LastReceived) {
		return
	}
	if len(e.groups) >= e.cfg.MaxOpenAlerts {
		e.evictGroups(a.LastReceived)
	}
	a.Opened, a.Escalated = false, false
	a.Evidence = e.capEvidence(nil, a.Evidence)
	e.groups[k] = &group{a: a, touched: a.LastReceived}
}
