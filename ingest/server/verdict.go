package server

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// identity is who the connection's certificate says the peer is. Nothing
// the peer sends overrides it.
type identity struct {
	device  string
	keyID   []byte
	pub     crypto.PublicKey
	certDER []byte
	cert    *x509.Certificate // what revocations are judged against; nil in tests of the verdict alone
	relay   string            // set: device is an appliance this relay (the certificate's device) speaks for

	expanded *voied.ExpandedPublicKey // an Ed25519 pub, expanded at the first verify (sigverify.go)
}

// rejection is a batch the collector does not store, and the integrity
// event it raises.
type rejection struct {
	kind   string // store.Event*
	detail string
}

// examine runs the checks of docs/PROTOCOL.md that need no stored state,
// in the table's order: identity (whenever a header can be read), then
// structure, then signature. It returns the decoded batch and its digest,
// or why it is refused. It is the whole decode/verify path of the server,
// and FuzzBatchBytes feeds it arbitrary bytes.
func examine(id *identity, raw, sig []byte) (*offboxv1.Batch, [32]byte, *rejection) {
	var digest [32]byte
	b, err := seal.Open(raw)
	h := b.GetHeader()
	if err != nil {
		h = seal.PeekHeader(raw) // a batch that names another device is that, first
	}
	if h != nil && (h.GetDeviceId() != id.device || !bytes.Equal(h.GetKeyId(), id.keyID)) {
		return nil, digest, &rejection{store.EventIdentityMismatch, fmt.Sprintf(
			"batch seq %d names device %q key %x; the connection's certificate is device %q key %x",
			h.GetSeq(), h.GetDeviceId(), h.GetKeyId(), id.device, id.keyID)}
	}
	if h != nil && h.GetRelay() != id.relay {
		return nil, digest, &rejection{store.EventIdentityMismatch, fmt.Sprintf(
			"batch seq %d of %q names relay %q; the stream is relay %q's", h.GetSeq(), h.GetDeviceId(), h.GetRelay(), id.relay)}
	}
	if err != nil {
		return nil, digest, &rejection{store.EventMalformed, err.Error()}
	}
	if h.GetSeq() > math.MaxInt64 {
		return nil, digest, &rejection{store.EventMalformed, fmt.Sprintf("sequence %d out of range", h.GetSeq())}
	}
	digest = seal.Digest(raw)
	if err := id.verifyDigest(digest, sig); err != nil {
		detail := "signature does not verify with the connection's certificate key"
		if !errors.Is(err, seal.ErrBadSignature) {
			detail = err.Error()
		}
		return nil, digest, &rejection{store.EventBadSignature, fmt.Sprintf("seq %d: %s", h.GetSeq(), detail)}
	}
	return b, digest, nil
}

// placement is where an authentic batch falls relative to the stored head.
type placement int

const (
	inOrder  placement = iota // seq = H+1, prev_hash = hash_H
	forkNext                  // seq = H+1, prev_hash ≠ hash_H: stored, fork
	gapAhead                  // seq > H+1: stored, gap
	behind                    // seq ≤ H: replay or fork, by the stored digest
)

func place(head store.Head, h *offboxv1.BatchHeader) placement {
	switch seq := h.GetSeq(); {
	case seq <= head.Seq:
		return behind
	case seq > head.Seq+1:
		return gapAhead
	case !bytes.Equal(h.GetPrevHash(), head.Hash):
		return forkNext
	default:
		return inOrder
	}
}

// chainEvent is the integrity event of a stored batch that breaks the
// chain, or nil.
func chainEvent(p placement, head store.Head, h *offboxv1.BatchHeader) *rejection {
	switch p {
	case forkNext:
		return &rejection{store.EventFork, fmt.Sprintf("seq %d: prev_hash %x is not the digest %x of stored seq %d",
			h.GetSeq(), h.GetPrevHash(), head.Hash, head.Seq)}
	case gapAhead:
		return &rejection{store.EventGap, fmt.Sprintf("seq %d after stored head %d: seqs %d..%d missing",
			h.GetSeq(), head.Seq, head.Seq+1, h.GetSeq()-1)}
	}
	return nil
}

// behindVerdict judges a batch at or below the head against what is
// stored for its seq: the same bytes are a replay; a new first batch (seq
// 1, no prev_hash) is a chain restart, the agent having begun its chain
// afresh; anything else is a fork (seq taken, or inside a gap where a late
// batch would reorder the chain).
func behindVerdict(h *offboxv1.BatchHeader, head store.Head, digest, stored [32]byte, found bool) (offboxv1.Ack_Status, *rejection) {
	seq := h.GetSeq()
	switch {
	case found && stored == digest:
		return offboxv1.Ack_STATUS_DUPLICATE, &rejection{store.EventReplay, fmt.Sprintf("seq %d is already stored with the same digest", seq)}
	case seq == 1 && len(h.GetPrevHash()) == 0:
		return offboxv1.Ack_STATUS_REJECTED, &rejection{store.EventChainRestart, fmt.Sprintf(
			"a new chain from seq 1 (boot id %s) while the stored head is seq %d", h.GetBootId(), head.Seq)}
	case found:
		return offboxv1.Ack_STATUS_REJECTED, &rejection{store.EventFork, fmt.Sprintf("seq %d is stored with digest %x; received digest %x", seq, stored, digest)}
	default:
		return offboxv1.Ack_STATUS_REJECTED, &rejection{store.EventFork, fmt.Sprintf("seq %d is at or below the head but was never stored (inside a gap); received digest %x", seq, digest)}
	}
}
