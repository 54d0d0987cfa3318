package agent

// Key rotation: the sender moves to a renewed key at a batch boundary, so
// that every batch is sealed by the key of the certificate its session
// authenticated with.

// rotation is a move to a new key that the sender carries out at a batch
// boundary: every batch up to and including last (which announces the new
// key) is sealed by the old key; once all of them are acknowledged, install
// puts the new key and certificate in place and the session ends, so the
// next one connects with the new certificate and seals with the new key.
type rotation struct {
	last    *batch
	install func() error
	done    chan error // receives install's result, or why the rotation was abandoned
}

// keyRotation is the rotation under way, if any.
type keyRotation struct {
	rotating  *rotation // under way
	rotSealed bool      // its last old-key batch is sealed: seal nothing more until it is installed
}

// rotationCh is where rotation requests come from, nil while one is under way.
func (s *sender) rotationCh() <-chan *rotation {
	if s.rotating != nil {
		return nil
	}
	return s.rotations
}

// install finishes the rotation under way: every old-key batch is
// acknowledged, so the new key and certificate go in place and the session
// ends (errRotated). If installing fails the old key stays in use.
func (s *sender) install() error {
	r := s.rotating
	s.rotating, s.rotSealed = nil, false
	err := r.install()
	r.done <- err
	if err != nil {
		s.log.Error("installing the renewed certificate failed; the old one stays in use", "err", err)
		return nil
	}
	return errRotated
}

// abandonRotation ends the rotation under way without installing: its
// announcement was lost.
func (s *sender) abandonRotation(why error) {
	if r := s.rotating; r != nil {
		s.rotating, s.rotSealed = nil, false
		r.done <- why
	}
}
