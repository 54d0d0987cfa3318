package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/yamlconf"
)

// EscalateRule is one alerting.escalate entry: an alert of at least
// MinSeverity still open and unacknowledged After its opening is
// delivered once more to Sink, marked as an escalation.
type EscalateRule struct {
	After       time.Duration `yaml:"after"`        // since the alert opened (collector clock); > 0
	MinSeverity string        `yaml:"min_severity"` // info (default), warning or critical
	Sink        string        `yaml:"sink"`         // the name of a configured sink
}

// Rule is r as the store takes it.
func (r EscalateRule) Rule() store.EscalationRule {
	sev := r.MinSeverity
	if sev == "" {
		sev = store.SeverityInfo
	}
	return store.EscalationRule{After: r.After, MinSeverity: sev, Sink: r.Sink}
}

// Escalator queues escalations (store.TriageStore's Escalate).
type Escalator interface {
	Escalate(ctx context.Context, r store.EscalationRule, now time.Time) (int, error)
}

var _ Escalator = store.TriageStore(nil)

// CheckEscalate reports every problem of rules, given the configured
// sinks, each under its key (alerting.escalate[i].after ...).
func CheckEscalate(rules []EscalateRule, sinks []SinkConfig) error {
	var errs []error
	names := make(map[string]bool, len(sinks))
	for _, s := range sinks {
		names[s.Name] = true
	}
	for i, r := range rules {
		at := fmt.Sprintf("[%d]", i)
		if r.After <= 0 {
			errs = append(errs, yamlconf.Fieldf(at+".after", "alerting.escalate%s.after %s: must be positive (such as 15m)", at, r.After))
		}
		switch r.MinSeverity {
		case "", store.SeverityInfo, store.SeverityWarning, store.SeverityCritical:
		default:
			errs = append(errs, yamlconf.Fieldf(at+".min_severity", "alerting.escalate%s.min_severity %q: want info, warning or critical", at, r.MinSeverity))
		}
		switch {
		case r.Sink == "":
			errs = append(errs, yamlconf.Fieldf(at+".sink", "alerting.escalate%s.sink: required (the name of one of alerting.sinks)", at))
		case !names[r.Sink]:
			errs = append(errs, yamlconf.Fieldf(at+".sink", "alerting.escalate%s.sink %q: no sink of that name in alerting.sinks", at, r.Sink))
		}
	}
	return errors.Join(errs...)
}

// runEscalate queues due escalations every poll until ctx ends, and
// wakes the sinks when it queued some. It runs where deliveries run, so
// only on the leader; the store makes each escalation happen once even
// if two collectors ran it.
func (d *Dispatcher) runEscalate(ctx context.Context) {
	t := time.NewTicker(d.poll)
	defer t.Stop()
	failing := false
	for {
		queued := 0
		var firstErr error
		for _, r := range d.escalate {
			n, err := d.escalator.Escalate(ctx, r, d.now())
			if err != nil && ctx.Err() == nil && firstErr == nil {
				firstErr = err
			}
			queued += n
		}
		switch {
		case firstErr != nil && !failing:
			// Logged once until it works again: a store outage is one line.
			d.log.Warn("notify: escalating", "err", firstErr)
			failing = true
		case firstErr == nil && failing:
			d.log.Info("notify: escalating again")
			failing = false
		}
		if queued > 0 {
			d.log.Info("notify: escalations queued", "count", queued)
			d.Kick()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
