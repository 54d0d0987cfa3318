package agent

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/offbox/offbox/collectors"
	"github.com/offbox/offbox/transport/seal"
)

// The chain: the sender seals each batch as the next link of the device's
// chain, keeps the sealed batches until the collector acknowledges them,
// and, after a reconnect to a head it did not expect or a rejected batch,
// seals the unacknowledged ones again from the collector's head.

// link is a position in the chain: a batch's sequence number and digest.
type link struct {
	seq  uint64
	hash []byte
}

func (l link) equal(o link) bool { return l.seq == o.seq && bytes.Equal(l.hash, o.hash) }

// reconcile brings the unacknowledged batches in line with the collector's
// head, as docs/PROTOCOL.md says: batches up to a head the agent knows (the
// last one stored, or one in flight) are done and the rest go out
// unchanged; after any other head (the store was replaced, something else
// wrote this device's chain) or a rejected batch, every unacknowledged batch
// is sealed again under new headers continuing from the head.
func (s *sender) reconcile(head link) error {
	if !s.welcomed {
		// Nothing is sealed before the first Welcome: the chain simply
		// continues from the collector's head.
		s.welcomed = true
		s.stored, s.tail = head, head
		if len(s.unacked) == 0 {
			return nil
		}
	}
	if s.knows(head) {
		s.ackThrough(head.seq)
		s.stored = head
		if !s.resealAll && s.sealedByCurrent() {
			return nil
		}
	} else {
		s.log.Warn("collector head is not one this agent sealed; sealing unacknowledged batches again from it",
			"head_seq", head.seq, "last_stored_seq", s.stored.seq, "batches", len(s.unacked))
		s.stored = head
	}
	return s.resealFrom(head)
}

// knows reports whether head is the last batch known stored or one sealed
// and not yet acknowledged.
func (s *sender) knows(head link) bool {
	if head.equal(s.stored) {
		return true
	}
	for _, b := range s.unacked {
		if b.seq() == head.seq && bytes.Equal(b.sealed.Digest[:], head.hash) {
			return true
		}
	}
	return false
}

// ackThrough treats every unacknowledged batch up to seq as stored.
func (s *sender) ackThrough(seq uint64) {
	for len(s.unacked) > 0 && s.unacked[0].seq() <= seq {
		s.stored = s.popStored()
	}
}

// sealedByCurrent reports whether every unacknowledged batch was sealed by
// the current identity; after a certificate change the collector would
// refuse the old key id.
func (s *sender) sealedByCurrent() bool {
	if len(s.unacked) == 0 {
		return true
	}
	id, err := s.identity()
	if err != nil {
		return true // resending unchanged is the best we can do
	}
	for _, b := range s.unacked {
		if b.deviceID != id.DeviceID || !bytes.Equal(b.keyID, id.KeyID) {
			return false
		}
	}
	return true
}

// resealFrom seals every unacknowledged batch again, continuing from head.
// The record bytes stay; only the headers are new.
func (s *sender) resealFrom(head link) error {
	s.tail = head
	s.resealAll = false
	for _, b := range s.unacked {
		if err := s.seal(b); err != nil {
			s.resealAll = true // the chain is half rebuilt: rebuild it all next time
			return err
		}
	}
	return nil
}

// chain is the sender's part of the device's chain.
type chain struct {
	unacked   []*batch // sealed, not acknowledged, oldest first
	sent      int      // how many of unacked went out in this session
	tail      link     // the last batch sealed: the next one chains to it
	stored    link     // the last batch the collector said it holds
	welcomed  bool     // a Welcome arrived at least once
	resealAll bool     // a batch was rejected: what follows is sealed again from the head
}

// seal signs b as the next batch of the chain.
func (s *sender) seal(b *batch) error {
	id, err := s.identity()
	if err != nil {
		return err
	}
	h := s.header
	h.DeviceID, h.KeyID, h.Relay = id.DeviceID, id.KeyID, id.Relay
	h.Seq, h.PrevHash = s.tail.seq+1, s.tail.hash
	h.RecordCount = uint32(b.count)
	h.DroppedRecords, h.DroppedBytes = b.dropRecords, b.dropBytes
	h.SealedNs = s.now().UnixNano()
	sl, copied, err := seal.SealInPlace(id.Signer, &h, b.buf, b.recs)
	if err != nil {
		return fmt.Errorf("seal batch %d: %w", h.Seq, err)
	}
	if copied { // the sealed copy holds the records now
		s.q.recycle(b.buf)
		b.buf, b.recs = nil, sl.Bytes[len(sl.Bytes)-len(b.recs):]
	}
	b.sealed, b.deviceID, b.keyID = sl, id.DeviceID, id.KeyID
	s.tail = link{seq: sl.Seq, hash: sl.Digest[:]}
	return nil
}

// popStored removes the oldest unacknowledged batch as stored: its budget is
// freed and its file checkpoints reported. It returns its chain link.
func (s *sender) popStored() link {
	b := s.pop()
	if s.onAcked != nil && len(b.marks) > 0 {
		s.onAcked(b.marks)
	}
	return link{seq: b.seq(), hash: b.sealed.Digest[:]}
}

// pop removes the oldest unacknowledged batch and frees its budget and
// buffer (its bytes are not referred to once acknowledged or lost; the
// batch keeps its count, marks and digest).
func (s *sender) pop() *batch {
	b := s.unacked[0]
	s.unacked[0] = nil
	s.unacked = s.unacked[1:]
	s.q.release(b.size())
	s.q.recycle(b.buf)
	b.buf, b.recs = nil, nil
	return b
}

// dropRejected gives up the oldest batch: its records are lost, counted
// into the next header and recorded, and what follows is sealed again from
// the head after the reconnect.
func (s *sender) dropRejected(reason string) {
	b := s.pop()
	b.lost = true
	s.sent--
	l := loss{records: uint64(b.count), bytes: b.bodyBytes}
	if len(s.unacked) > 0 {
		next := s.unacked[0] // sealed again before it goes out, with the new counts
		next.dropRecords += l.records
		next.dropBytes += l.bytes
		s.q.countTotal(l)
	} else {
		s.q.addLoss(l)
	}
	s.resealAll = true
	s.log.Error("collector rejected a batch; its records are lost", "seq", b.seq(), "records", b.count, "reason", reason)
	if s.rotating != nil && b == s.rotating.last {
		s.abandonRotation(fmt.Errorf("the batch announcing the new key was rejected: %s", reason))
	}
	if s.onLoss != nil {
		s.onLoss(b, reason)
	}
}

func rejectedAttrs(b *batch, reason string) []collectors.Attr {
	return []collectors.Attr{
		{Key: "seq", Value: strconv.FormatUint(b.seq(), 10)},
		{Key: "reason", Value: reason},
		{Key: "dropped_records", Value: strconv.Itoa(b.count)},
		{Key: "dropped_bytes", Value: strconv.FormatUint(b.bodyBytes, 10)},
	}
}
