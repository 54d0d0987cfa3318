package detect

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/recordkind"
)

// EventChainRestart is the integrity event kind for a device whose agent
// began a new chain (sequence 1, empty prev_hash) although the collector
// holds a head for it; the event carries the batch's boot id so the engine
// can tell whether the device rebooted.
const EventChainRestart = store.EventChainRestart

// IntegrityInput is one integrity event (store.IntegrityEvent).
type IntegrityInput struct {
	Device string
	Kind   string    // store.Event* or EventChainRestart
	Time   time.Time // collector clock
	Seq    uint64    // the batch concerned, 0 if none
	Detail string
	BootID string // the batch's boot id, for chain_restart; "" if unknown
}

var integritySeverity = map[string]string{
	store.EventBadSignature:      SeverityCritical,
	store.EventIdentityMismatch:  SeverityCritical,
	store.EventFork:              SeverityCritical,
	store.EventConcurrentSession: SeverityCritical,
	store.EventRevoked:           SeverityCritical,
	store.EventGap:               SeverityWarning,
	store.EventReplay:            SeverityWarning,
	store.EventMalformed:         SeverityWarning,
	EventChainRestart:            SeverityCritical,
	store.EventApplianceRefused:  SeverityCritical, // a relay named an appliance it may not speak for
}

// Integrity turns an integrity event into its alert (of the same kind name,
// Key ""). An integrity event does not count as hearing from the device: a
// device whose batches all fail still goes heartbeat_missing. A chain_restart
// whose BootID matches the device's last BOOT is critical (the agent lost its
// chain without a reboot); after a reboot it is a warning.
func (e *Engine) Integrity(ev IntegrityInput) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	kind, sev := ev.Kind, integritySeverity[ev.Kind]
	f := map[string]string{"detail": ev.Detail, "seq": strconv.FormatUint(ev.Seq, 10)}
	summary := strings.ReplaceAll(ev.Kind, "_", " ")
	if sev == "" {
		kind, sev = AlertIntegrityOther, SeverityWarning
		f["event"] = ev.Kind
		summary = "integrity event " + quote(ev.Kind)
	}
	var labels map[string]string
	if d := e.devices[ev.Device]; d != nil {
		labels = d.labels
		if ev.Kind == EventChainRestart {
			rebooted := ev.BootID != "" && d.bootID != "" && ev.BootID != d.bootID
			f["rebooted"], f["boot_id"] = strconv.FormatBool(rebooted), ev.BootID
			if rebooted {
				sev = SeverityWarning
				summary = "chain restart after a reboot"
			} else {
				summary = "chain restart without a reboot"
			}
		}
	}
	if ev.Detail != "" {
		summary += ": " + ev.Detail
	}
	a := Alert{Kind: kind, Severity: sev, Device: ev.Device, Summary: summary, Fields: f}
	if ev.Seq != 0 {
		a.Evidence = []Ref{{Device: ev.Device, Seq: ev.Seq, Index: -1}}
	}
	return []Alert{e.raiseOne(a, ev.Time, ev.Time, labels)}
}

// FromIntegrityEvent is the input for a stored integrity event.
func FromIntegrityEvent(ev store.IntegrityEvent) IntegrityInput {
	return IntegrityInput{Device: ev.Device, Kind: ev.Kind, Time: ev.Time, Seq: ev.Seq, Detail: ev.Detail, BootID: ev.BootID}
}

// FromRecord is the input for a stored record. The caller adds Labels and,
// from the record's batch (store.StoredBatch), SessionID and BootID.
func FromRecord(r store.Record) Input {
	in := Input{Device: r.Device, Seq: r.Seq, Index: r.Index, ReceivedTime: r.Received}
	if r.Record == nil {
		return in
	}
	in.Kind = recordkind.WireName(int32(r.GetKind()))
	in.Source, in.Body = r.GetSource(), r.GetBody()
	if ns := r.GetTimeNs(); ns != 0 {
		in.DeviceTime = time.Unix(0, ns)
	}
	if attrs := r.GetAttrs(); len(attrs) > 0 {
		in.Attrs = make(map[string]string, len(attrs))
		for _, a := range attrs {
			in.Attrs[a.GetKey()] = a.GetValue()
		}
	}
	return in
}

// SessionIDString is how Input.SessionID spells a batch's session id.
func SessionIDString(id []byte) string { return hex.EncodeToString(id) }
