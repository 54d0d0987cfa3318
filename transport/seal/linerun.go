package seal

// LineRun adds the lines of one read of a file to a Builder: the checks
// AddLine makes of each record are made once, when the run starts, and
// each line is given by what changes from one to the next.
type LineRun struct {
	b   *Builder
	gen uint64 // b.gen when the run started
	c   lineFields
}

// Run starts a run of records like r, which must be a record AddLine takes
// (its Body, Flags and File's range do not matter); ok is false if it is
// not.
func (b *Builder) Run(r *WireRecord) (run LineRun, ok bool) {
	if !b.isLine(r) {
		return LineRun{}, false
	}
	return LineRun{b: b, gen: b.gen, c: lineFields{timeNs: r.TimeNs, kind: r.Kind, sourceRef: b.lastSourceRef, fileRef: b.lastFileRef}}, true
}

// Add adds a line of the run, the bytes AddLine would add for the run's
// record with body, flags and the file range [start, end), and returns the
// bytes the batch grew by (Undo takes it back as it would an Add). ok is
// false, and nothing added, once the Builder started a new batch or undid a
// table entry since the run started: start a new run.
func (run *LineRun) Add(body []byte, flags uint32, start, end int64) (grew int, ok bool) {
	b := run.b
	if b == nil || b.gen != run.gen {
		return 0, false
	}
	return b.addLine(&run.c, body, flags, start, end), true
}

// LineOverheadMax bounds the bytes LineRun.Add writes besides the body:
// tags, lengths, time, kind, file range, flags and refs.
const LineOverheadMax = 96
