package detect

import "slices"

// Collecting: a caller that saves alerts in rounds (ingest/alerts) needs
// each group once per round, as it stands at the round's end, not a copy
// per occurrence. On an auth-heavy log most lines grow a group, and
// copying the group's fields, labels and up to MaxEvidence references on
// each was a tenth of the engine's time (BenchmarkRunnerRealistic).

// collected is what raise remembers while collecting: the groups raised
// or updated, in the order first raised, and what the occurrences did.
type collected struct {
	order   []*group
	flags   map[*group]*collectFlags
	scratch []Alert // Observe's out while collecting, reused: what it holds is dropped
}

type collectFlags struct{ opened, escalated bool }

// Collect makes Observe, until Collected is called, return no alerts and
// remember instead each alert group it raises or updates. Integrity,
// Access and Tick go on returning theirs.
func (e *Engine) Collect() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.collect = &collected{flags: map[*group]*collectFlags{}}
}

// Collected ends collecting and returns each group raised or updated since
// Collect once, as it stands now, in the order first raised: Opened if
// any of its occurrences opened it, Escalated if any raised its severity.
// So it is what Observe would have returned, with every version of a
// group but its last left out. A group closed meanwhile (evicted, or
// replaced by a new group for the same kind, device and key) is returned
// as it was when closed; of groups with the same ID (closed and opened
// again at the same time) the latest. The alerts are copies the caller may keep or
// change, except Evidence: it is shared with the engine and read-only. A
// group only ever appends to its evidence (capEvidence), never rewrites a
// reference, so what the caller holds stays as it was; the slice is
// clipped, so an append reallocates. (A round's thousands of groups hold
// up to MaxEvidence references each; copying them was the largest
// allocation of a realistic round, and the runner converts them at once.)
func (e *Engine) Collected() []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.collect
	e.collect = nil
	if c == nil {
		return nil
	}
	out := make([]Alert, 0, len(c.order))
	byID := make(map[string]int, len(c.order))
	for _, g := range c.order {
		f := c.flags[g]
		opened, escalated := f.opened, f.escalated
		// A group closed and opened again at the same time has the
		// same ID: one alert, the later group's.
		i, ok := byID[g.a.ID]
		if !ok {
			i = len(out)
			byID[g.a.ID] = i
			out = append(out, Alert{})
		} else {
			opened, escalated = opened || out[i].Opened, escalated || out[i].Escalated
		}
		a := *g.built()
		ev := slices.Clip(a.Evidence)
		a.Evidence = nil
		out[i] = cloneAlert(a)
		out[i].Evidence = ev
		out[i].Opened, out[i].Escalated = opened, escalated
	}
	return out
}

// collectRaise records an occurrence that opened or grew g while
// collecting; it reports false when not collecting.
func (e *Engine) collectRaise(g *group, opened, escalated bool) bool {
	c := e.collect
	if c == nil || !e.observing {
		return false
	}
	f := c.flags[g]
	if f == nil {
		f = &collectFlags{}
		c.flags[g] = f
		c.order = append(c.order, g)
	}
	f.opened = f.opened || opened
	f.escalated = f.escalated || escalated
	return true
}

// Latest keeps the last version of each alert of raised (one group may be
// updated many times in a round), in the order each group was first
// raised; Opened and Escalated carry over from any version.
func Latest(raised []Alert) []Alert {
	idx := map[string]int{}
	var out []Alert
	for _, a := range raised {
		i, ok := idx[a.ID]
		if !ok {
			idx[a.ID] = len(out)
			out = append(out, a)
			continue
		}
		opened, escalated := out[i].Opened || a.Opened, out[i].Escalated || a.Escalated
		out[i] = a
		out[i].Opened, out[i].Escalated = opened, escalated
	}
	return out
}
