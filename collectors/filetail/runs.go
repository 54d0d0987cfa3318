package filetail

import (
	"context"

	"github.com/offbox/offbox/collectors"
)

// runMax bounds the lines given to a LinesEmitter in one call (the agent's
// queue holds its lock for the call): 6 KiB of run per follower.
const runMax = 256

// emitRuns is emitLines for an emitter that takes runs of lines: data is
// cut into lines as emitLines cuts it, and handed over up to runMax at a
// time. What was not emitted when an emit fails is kept, as emitLines
// keeps it.
func (fl *follower) emitRuns(ctx context.Context, data []byte, final bool) error {
	if fl.cut == nil {
		fl.cut = make([]collectors.Line, runMax)
	}
	base := fl.cur.pos - int64(len(data))
	fl.rng.ID = fl.cur.id
	off := 0 // data[:off] is emitted
	for {
		n, end := 0, off
		for n < len(fl.cut) {
			body, size, flags, ok := nextLine(data[end:], fl.t.maxLine, final)
			if !ok {
				break
			}
			fl.cut[n] = collectors.Line{Len: len(body), N: size, Flags: flags}
			n++
			end += size
		}
		if n == 0 {
			break
		}
		fl.rng.Start = base + int64(off)
		done, err := fl.lines.EmitLines(ctx, fl.rec, data[off:end], fl.cut[:n])
		if err != nil {
			for _, l := range fl.cut[:done] {
				off += l.N
			}
			fl.pend = copy(fl.buf, data[off:])
			return err
		}
		off = end
	}
	fl.pend = copy(fl.buf, data[off:])
	return nil
}
