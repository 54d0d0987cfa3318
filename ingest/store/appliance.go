package store

import (
	"context"
	"errors"
	"time"
)

// EventApplianceRefused: a relay named an appliance it is not authorised
// for (unknown, another relay's, an agent host); stored as the relay's.
const EventApplianceRefused = "appliance_refused"

// Errors of ApplianceStore.
var (
	// ErrApplianceExists: an appliance of that name is already authorised
	// (for this relay or another: a name speaks through one relay).
	ErrApplianceExists = errors.New("store: appliance already authorised")
	// ErrApplianceUnknown: no appliance of that name is authorised.
	ErrApplianceUnknown = errors.New("store: no such appliance")
)

// ApplianceStore holds which relay may speak for which appliance: an
// appliance (a router, switch or firewall that only speaks syslog) is a
// device of its own whose records a relay agent carries and signs. The
// collector admits a relay's stream for an appliance only if this list
// names that relay for it (docs/ARCHITECTURE.md, "A relay speaks for an
// appliance only because the collector says so").
type ApplianceStore interface {
	// AddAppliance authorises a.Relay to speak for a.Name; ErrApplianceExists
	// if a.Name is authorised already (for any relay).
	AddAppliance(ctx context.Context, a Appliance) error
	// RemoveAppliance withdraws the authorisation of name;
	// ErrApplianceUnknown if there is none. What was stored stays.
	RemoveAppliance(ctx context.Context, name string) error
	// Appliance returns the authorisation of name; ok is false if none.
	Appliance(ctx context.Context, name string) (a Appliance, ok bool, err error)
	// Appliances returns every authorised appliance, by name.
	Appliances(ctx context.Context) ([]Appliance, error)
}

// Appliance is one authorisation: Relay (a device id) speaks for Name.
type Appliance struct {
	Name   string
	Relay  string
	Labels map[string]string // given to the appliance's alerts, as a device's certificate labels are
	Added  time.Time         // collector clock; zero on add: now
	By     string            // the operator who added it
}
