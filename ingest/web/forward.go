package web

import (
	"context"
	"time"
)

// forwardLine is one forward sink's lag, on the fleet page.
type forwardLine struct {
	Sink             string
	Batches, Records int64
	Lag              time.Duration // how long the oldest record not sent has waited
	Updated          time.Time     // when the sink's cursor last moved
}

// forwardLines reads every forward sink's cursor and what is stored past
// it (ingest/forward keeps them in the store).
func (h *handler) forwardLines(ctx context.Context, now time.Time) ([]forwardLine, error) {
	if h.cfg.Forward == nil {
		return nil, nil
	}
	cs, err := h.cfg.Forward.ForwardCursors(ctx)
	if err != nil {
		return nil, err
	}
	var out []forwardLine
	for _, c := range cs {
		b, err := h.cfg.Forward.ForwardBacklog(ctx, c)
		if err != nil {
			return nil, err
		}
		l := forwardLine{Sink: c.Sink, Batches: b.Batches, Records: b.Records, Updated: c.Updated}
		if !b.Oldest.IsZero() {
			l.Lag = max(0, now.Sub(b.Oldest)).Round(time.Second)
		}
		out = append(out, l)
	}
	return out, nil
}
