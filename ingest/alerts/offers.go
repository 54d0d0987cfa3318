package alerts

import (
	"context"
	"time"

	"github.com/offbox/offbox/ingest/detect"
)

// Batches are taken as the server offered them at commit (Offer), and read
// back from the store only when they were not: see nextBatches.

// nextBatches returns up to Limit batches after row: those offered, as long
// as they follow on from row one by one, else read from the store.
func (r *Runner) nextBatches(ctx context.Context, row int64) ([]pending, error) {
	out := r.takeOffered(row)
	if len(out) > 0 {
		return out, nil
	}
	// Only the rows not offered: at 2,000 agents sending one-line batches
	// a row is often offered just after the ones that follow it, and
	// reading a whole Limit back each time was a tenth of the collector.
	// When later rows are offered, the next one most likely is being
	// offered now by its stream (committed in the same group): wait for
	// it a moment before reading it back.
	// A wait that ends without the row (it was stored by another
	// collector sharing the engine, or its offer was refused) turns the
	// waits off for a second: with several writers, gaps are the rule.
	missing := r.offered.Missing(row, r.cfg.Limit)
	if missing < r.cfg.Limit && time.Now().After(r.noGraceUntil) {
		if out := r.awaitOffer(ctx, row); len(out) > 0 {
			return out, nil
		}
		r.noGraceUntil = time.Now().Add(time.Second)
		missing = r.offered.Missing(row, r.cfg.Limit)
	}
	// Caught up with what was offered, and nothing refused since the
	// store was last read to its end: asking it again finds only what was
	// committed but not offered yet, which its offer brings (at 2,000
	// agents, nine reads in ten found nothing, most of the rest a row
	// whose offer was on its way).
	refused := r.refused.Load()
	if !r.mustRead && r.drained && refused == r.drainedRefused && r.offered.Highest() <= row {
		return nil, nil
	}
	want := max(1, missing)
	stored, err := r.cfg.Store.BatchesAfter(ctx, row, want)
	if err != nil {
		return nil, err
	}
	r.mustRead = false
	r.drained, r.drainedRefused = len(stored) < want, refused
	for _, b := range stored {
		out = append(out, pending{Row: b.Row, Seq: b.Seq, Device: b.Device, Received: b.Received, BootID: b.BootID,
			SessionID: detect.SessionIDString(b.SessionID), bytes: b.Bytes, Segments: b.Segments})
	}
	return out, nil
}

// takeOffered returns the offered batches after row, up to Limit, as long
// as they follow on from row one by one.
func (r *Runner) takeOffered(row int64) []pending {
	var out []pending
	for len(out) < r.cfg.Limit {
		b := r.offered.Get(row + 1)
		if b == nil {
			break
		}
		row++
		h := b.Decoded.GetHeader()
		out = append(out, pending{Row: row, Seq: h.GetSeq(), Device: b.Device, Received: b.Received, BootID: h.GetBootId(),
			SessionID: detect.SessionIDString(h.GetSessionId()), records: b.Decoded.GetRecords(), Segments: b.Segments})
	}
	return out
}

// offerGrace is the default of how long nextBatches waits for a row to be offered when
// the rows after it are: the streams of one group commit offer their
// batches as each is scheduled, in any order. Reading the row back instead
// costs a query and a decode.
const offerGrace = 2 * time.Millisecond

// awaitOffer waits up to OfferGrace for row+1 to be offered and returns
// what takeOffered then does (nothing if it was not).
func (r *Runner) awaitOffer(ctx context.Context, row int64) []pending {
	select { // an offer from before: row+1 was not among them
	case <-r.added:
	default:
	}
	if out := r.takeOffered(row); len(out) > 0 {
		return out
	}
	t := time.NewTimer(r.cfg.OfferGrace)
	defer t.Stop()
	for {
		select {
		case <-r.added:
			if out := r.takeOffered(row); len(out) > 0 {
				return out
			}
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
