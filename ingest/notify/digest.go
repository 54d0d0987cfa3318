package notify

// Delivery to email sinks in digests: the deliveries that become due
// within one sink's digest window of the first go out as one message, and
// are finished together, so a burst of alerts is one mail rather than a
// mail storm. Like every sink, a failed message is retried with backoff
// and nothing is dropped: the store's outbox holds the deliveries until
// the message that carries them is accepted.

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// digestOf is the part of due (pending deliveries to one email sink, due
// at now, oldest first) to send now as one message, or nil to wait for
// more: everything, once the oldest has waited window, or the message is
// full, or one of them is a retry of a failed message (which waited its
// backoff already, and takes what has come since along).
func digestOf(due []store.Delivery, now time.Time, window time.Duration, retrying map[int64]bool) []store.Delivery {
	if len(due) == 0 {
		return nil
	}
	if len(due) > maxDigest {
		due = due[:maxDigest]
	}
	if len(due) == maxDigest {
		return due
	}
	oldest := due[0].NextAttempt
	for _, d := range due {
		if retrying[d.AlertID] {
			return due
		}
		if d.NextAttempt.Before(oldest) {
			oldest = d.NextAttempt
		}
	}
	if now.Sub(oldest) >= window {
		return due
	}
	return nil
}

// mailRound sends one digest of s's due deliveries, if it is time to. It
// reports whether to go on at once: a full message went out and more may
// be due.
func (d *Dispatcher) mailRound(ctx context.Context, s *sink) bool {
	now := d.now()
	due, err := d.outbox.DueDeliveries(ctx, s.cfg.Name, now, maxDigest)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("notify: reading due deliveries", "sink", s.cfg.Name, "err", err)
		}
		return false
	}
	batch := digestOf(due, now, s.mail.window, s.retrying)
	if len(batch) == 0 {
		return false
	}
	return d.deliverDigest(ctx, s, batch) && len(batch) == maxDigest
}

// deliverDigest sends batch as one message and records the outcome of
// every delivery in it alike: delivered, or pending after one backoff.
func (d *Dispatcher) deliverDigest(ctx context.Context, s *sink, batch []store.Delivery) bool {
	alerts := make([]store.Alert, len(batch))
	escalation := make([]bool, len(batch))
	attempts := 0
	for i, dl := range batch {
		alerts[i] = dl.Alert
		escalation[i] = dl.Escalation
		attempts = max(attempts, dl.Attempts)
	}
	msg, err := buildMarkedMessage(s.mail.header(d.now()), alerts, escalation, d.origin)
	if err == nil {
		err = s.mail.send(ctx, msg)
	}
	if err != nil && ctx.Err() != nil {
		return false // shutting down: the attempt does not count
	}
	log := d.log.With("sink", s.cfg.Name, "alerts", len(batch), "attempts", attempts+1)
	var wait time.Duration
	if err == nil {
		s.sent.Add(uint64(len(batch)))
		s.messages.Add(1)
		log.Debug("notify: email sent", "bytes", len(msg))
	} else {
		s.failed.Add(uint64(len(batch)))
		wait = backoff(attempts+1, d.maxBackoff, rand.Float64())
		log.Warn("notify: email failed", "err", err, "retry_in", wait)
	}
	now := d.now()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	for _, dl := range batch {
		dl.Attempts++
		if err == nil {
			delete(s.retrying, dl.AlertID)
			dl.State, dl.Delivered, dl.LastError = store.DeliveryDelivered, now, ""
		} else {
			s.retrying[dl.AlertID] = true
			dl.State, dl.NextAttempt, dl.LastError = store.DeliveryPending, now.Add(wait), errSnippet([]byte(err.Error()))
		}
		if ferr := d.outbox.FinishDelivery(fctx, dl); ferr != nil {
			// The delivery stays as stored (pending): it is sent again.
			log.Error("notify: recording delivery outcome", "alert", dl.AlertID, "state", dl.State, "err", ferr)
		}
	}
	return err == nil
}
