package agent

import (
	"context"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/transport/seal"
)

var _ collectors.LinesEmitter = (*queue)(nil)

// EmitLines queues a run of lines of one file under one hold of the lock,
// waiting for room as Emit does. Lines go through a seal.LineRun while the
// open batch and the budget have room for them for sure; any other line
// (the first of a batch, one near a limit, one after a loss) goes through
// admit, and a new run starts after it.
func (q *queue) EmitLines(ctx context.Context, r collectors.Record, data []byte, lines []collectors.Line) (int, error) {
	f := *r.File
	r.File = &f
	start, off := f.Start, 0
	var run seal.LineRun
	q.mu.Lock()
	for i, l := range lines {
		r.Body, r.Flags = data[off:off+l.Len], l.Flags
		f.Start = start + int64(off)
		f.End = f.Start + int64(l.N)
		off += l.N
		if q.addToRun(&run, &r) {
			continue
		}
		if err := q.admitHeld(ctx, &r); err != nil {
			return i, err
		}
		run = q.startRun(&r)
	}
	q.mu.Unlock()
	return len(lines), nil
}

// startRun starts a run of lines like r in the open batch; the zero run,
// which adds nothing, if the batch's last record is not of r's file.
func (q *queue) startRun(r *collectors.Record) seal.LineRun {
	f := r.File
	var wf seal.WireFileRange
	wf.Dev, wf.Inode, wf.FPLen, wf.FP = f.ID.Dev, f.ID.Inode, f.ID.FPLen, f.ID.FP[:]
	var wr seal.WireRecord
	wr.TimeNs, wr.Kind, wr.Source, wr.File = q.timeNs(r), uint32(r.Kind), r.Source, &wf
	run, _ := q.bld.Run(&wr)
	return run
}

// addToRun adds r, a line of run, to the open batch if the batch and the
// budget have room for it whatever its encoded size, and reports whether it
// did. The caller holds q.mu.
func (q *queue) addToRun(run *seal.LineRun, r *collectors.Record) bool {
	b := q.open
	upper := len(r.Body) + seal.LineOverheadMax
	if q.lost.records > 0 || b.count == 0 || q.bld.Len()+upper > q.cfg.maxBytes || !q.fits(int64(upper)) {
		return false
	}
	n, ok := run.Add(r.Body, r.Flags, r.File.Start, r.File.End)
	if !ok {
		return false
	}
	q.added(b, int64(n), r.Source, r.File, len(r.Body))
	return true
}

// admitLine is admit for the record that fills most batches, a line of the
// file the record before it came from, encoded by seal.Builder.AddLine
// from a wire record on the stack (load's scratch record is written through
// the heap, which cost a tenth of the per-line path). ok is false, nothing
// done, when r is not such a line or might take the batch past its max
// bytes: admit's general path takes it then.
func (q *queue) admitLine(r *collectors.Record) (added, ok bool) {
	b := q.open
	if b.count == 0 || q.bld.Len()+maxRecordSize(r)+seal.RefsMax > q.cfg.maxBytes {
		return false, false
	}
	f := r.File
	// Field by field: a composite literal is built in a temporary and
	// copied, which stalls on the copy.
	var wf seal.WireFileRange
	wf.Dev, wf.Inode, wf.FPLen, wf.FP, wf.Start, wf.End = f.ID.Dev, f.ID.Inode, f.ID.FPLen, f.ID.FP[:], f.Start, f.End
	var wr seal.WireRecord
	wr.TimeNs, wr.Kind, wr.Source, wr.Body, wr.Flags, wr.File = q.timeNs(r), uint32(r.Kind), r.Source, r.Body, r.Flags, &wf
	n, ok := q.bld.AddLine(&wr)
	if !ok {
		return false, false
	}
	if !q.fits(int64(n)) {
		q.bld.Undo()
		return false, true
	}
	q.added(b, int64(n), r.Source, f, len(r.Body))
	return true, true
}

// timeNs is r's time, or now for a record without one.
func (q *queue) timeNs(r *collectors.Record) int64 {
	if r.Time.IsZero() {
		return q.cfg.now().UnixNano()
	}
	return r.Time.UnixNano()
}
