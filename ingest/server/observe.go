package server

import (
	"time"

	"github.com/offbox/offbox/ingest/store"
)

// Observer is told what the server does, for metrics (ingest/metrics).
// Its methods are called on the ingest path, once per batch or event:
// they must not block, take a lock or allocate.
type Observer interface {
	// Committed: b (Row set) is durably stored; its commit took commit.
	Committed(b *store.Batch, commit time.Duration)
	// BatchRefused: a batch was received and not stored, for reason
	// (the kind of its integrity event; replay for a duplicate).
	BatchRefused(reason string)
	// Finding: an integrity event of kind was found (stored, or counted
	// past the device's budget).
	Finding(kind string)
}

// nopObserver is the Observer of a Server configured without one.
type nopObserver struct{}

func (nopObserver) Committed(*store.Batch, time.Duration) {}
func (nopObserver) BatchRefused(string)                   {}
func (nopObserver) Finding(string)                        {}

// Connected is the number of devices with an open stream to this server.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open)
}
