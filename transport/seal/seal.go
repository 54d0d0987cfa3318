// Package seal turns records into signed, hash-chained batches and checks
// them. It owns the exact bytes: the agent serialises a batch once and signs
// those bytes; the collector verifies the bytes it received and never
// re-serialises (protobuf encoding is not canonical).
//
// A batch's digest is SHA-256 over its bytes. The digest is both the chain
// link (the next batch's prev_hash) and what is signed: the signature covers
// SigningPrefix followed by the digest, so every byte of the batch is covered
// while the batch is hashed only once. Ed25519 signs that message directly;
// ECDSA P-256 signs its SHA-256, as ECDSA always does.
package seal

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// SigningPrefix separates offbox batch signatures from any other use of a key.
const SigningPrefix = "offbox/v1 batch\x00"

// Header is a batch header; field numbers follow offbox.v1.BatchHeader.
type Header struct {
	DeviceID       string
	KeyID          []byte
	BootID         string
	SessionID      []byte
	Seq            uint64
	PrevHash       []byte
	RecordCount    uint32
	DroppedRecords uint64
	DroppedBytes   uint64
	SealedNs       int64
	AgentVersion   string
	Relay          string // an appliance's batch: the relay that signs it (DeviceID is the appliance)
}

// AppendHeader appends h as field 1 (header) of an offbox.v1.Batch,
// without allocating when dst has room.
func AppendHeader(dst []byte, h *Header) []byte {
	n := headerSize(h)
	dst = slices.Grow(dst, 1+bytesSize(n))
	dst = append(dst, tag(1, wireBytes))
	dst = appendVarint(dst, uint64(n))
	dst = appendString(dst, 1, h.DeviceID)
	dst = appendBytes(dst, 2, h.KeyID)
	dst = appendString(dst, 3, h.BootID)
	dst = appendBytes(dst, 4, h.SessionID)
	dst = appendUint(dst, 5, h.Seq)
	dst = appendBytes(dst, 6, h.PrevHash)
	dst = appendUint(dst, 7, uint64(h.RecordCount))
	dst = appendUint(dst, 8, h.DroppedRecords)
	dst = appendUint(dst, 9, h.DroppedBytes)
	dst = appendUint(dst, 10, uint64(h.SealedNs))
	dst = appendString(dst, 11, h.AgentVersion)
	return appendString(dst, 12, h.Relay)
}

// HeaderSize is the number of bytes AppendHeader adds for h.
func HeaderSize(h *Header) int { return 1 + bytesSize(headerSize(h)) }

// headerSize is the size of h's BatchHeader message.
func headerSize(h *Header) int {
	return strSize(len(h.DeviceID)) + strSize(len(h.KeyID)) + strSize(len(h.BootID)) + strSize(len(h.SessionID)) +
		uintSize(h.Seq) + strSize(len(h.PrevHash)) + uintSize(uint64(h.RecordCount)) + uintSize(h.DroppedRecords) +
		uintSize(h.DroppedBytes) + uintSize(uint64(h.SealedNs)) + strSize(len(h.AgentVersion)) +
		strSize(len(h.Relay))
}

// Digest is the SHA-256 of a batch's signed bytes: its chain hash.
func Digest(batch []byte) [32]byte { return sha256.Sum256(batch) }

// KeyID is the SHA-256 of a public key's PKIX SubjectPublicKeyInfo.
func KeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("seal: key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:], nil
}

// SignedMessage is what a batch signature signs: SigningPrefix, then the
// digest (an array, so a verifier need not allocate it).
func SignedMessage(digest [32]byte) [len(SigningPrefix) + 32]byte {
	var m [len(SigningPrefix) + 32]byte
	copy(m[copy(m[:], SigningPrefix):], digest[:])
	return m
}

func message(digest [32]byte) []byte {
	m := SignedMessage(digest)
	return m[:]
}

// SignDigest signs a batch digest with an Ed25519 or ECDSA P-256 key (a
// crypto.Signer, so keys held in hardware work too).
func SignDigest(signer crypto.Signer, digest [32]byte) ([]byte, error) {
	msg := message(digest)
	switch pub := signer.Public().(type) {
	case ed25519.PublicKey:
		return signer.Sign(rand.Reader, msg, crypto.Hash(0))
	case *ecdsa.PublicKey:
		if pub.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("seal: ECDSA curve %s not supported, use P-256", pub.Curve.Params().Name)
		}
		h := sha256.Sum256(msg)
		return signer.Sign(rand.Reader, h[:], crypto.SHA256)
	default:
		return nil, fmt.Errorf("seal: key type %T not supported, use Ed25519 or ECDSA P-256", pub)
	}
}

// Errors from Verify and Open; callers map them to integrity events.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrMalformed    = errors.New("malformed batch")
)

// Verify checks sig over batch with pub.
func Verify(pub crypto.PublicKey, batch, sig []byte) error {
	return VerifyDigest(pub, Digest(batch), sig)
}

// VerifyDigest checks sig over a batch whose digest is already known.
func VerifyDigest(pub crypto.PublicKey, digest [32]byte, sig []byte) error {
	msg := message(digest)
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, msg, sig) {
			return ErrBadSignature
		}
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(k, h[:], sig) {
			return ErrBadSignature
		}
	default:
		return fmt.Errorf("seal: key type %T not supported", pub)
	}
	return nil
}

// Sealed is a batch ready to send: its bytes, signature and digest.
type Sealed struct {
	Seq    uint64
	Bytes  []byte
	Sig    []byte
	Digest [32]byte
}

// Seal encodes h followed by the already-encoded records (a run of Batch
// field 2 entries, see AppendRecord, then the tables they refer to, see
// AppendSource and AppendFile) and signs the result.
func Seal(signer crypto.Signer, h *Header, records []byte) (*Sealed, error) {
	buf := make([]byte, 0, len(records)+256)
	buf = AppendHeader(buf, h)
	buf = append(buf, records...)
	d := Digest(buf)
	sig, err := SignDigest(signer, d)
	if err != nil {
		return nil, err
	}
	return &Sealed{Seq: h.Seq, Bytes: buf, Sig: sig, Digest: d}, nil
}

// HeaderRoom is the space a batch buffer keeps in front of its body (its
// records and tables, see Builder) for the header, so that SealInPlace needs
// no copy of the body. A header is about 200 bytes; a longer one (a very
// long agent version) is sealed by copying.
const HeaderRoom = 512

// SealInPlace is Seal without its copy, for a body that sits in buf right
// after HeaderRoom bytes of room (as Builder leaves it): the header is
// encoded at the end of the room, so a 1 MiB batch is neither allocated nor
// copied again, and the sealed bytes are a slice of buf. A header larger
// than the room, or a body elsewhere (a record larger than the buffer moved
// it out), is sealed by Seal, into memory of its own: copied then reports
// that buf is no longer referred to by the result.
//
// Sealing again in place (a new header for the same body) overwrites the
// previous header's bytes: the previous Sealed is void then.
func SealInPlace(signer crypto.Signer, h *Header, buf, body []byte) (s *Sealed, copied bool, err error) {
	n := HeaderSize(h)
	if n > HeaderRoom || !inRoom(buf, body) {
		s, err := Seal(signer, h, body)
		return s, err == nil, err
	}
	start := HeaderRoom - n
	AppendHeader(buf[start:start], h)
	raw := buf[start : HeaderRoom+len(body)]
	d := Digest(raw)
	sig, err := SignDigest(signer, d)
	if err != nil {
		return nil, false, err
	}
	return &Sealed{Seq: h.Seq, Bytes: raw, Sig: sig, Digest: d}, false, nil
}

// inRoom reports whether body starts in buf right after the header room.
func inRoom(buf, body []byte) bool {
	return len(buf) > HeaderRoom && len(body) > 0 && len(body) <= len(buf)-HeaderRoom && &body[0] == &buf[HeaderRoom]
}

// Open decodes batch bytes and checks their structure: a header, a sequence
// number, a record count that matches, table references in range. It
// resolves the references (see Resolve), so every record it returns carries
// its source and file identity itself. It does not check the signature.
//
// It decodes as proto.Unmarshal would, but the byte fields of what it
// returns (bodies, fingerprints, key id, session id, prev_hash) alias batch
// rather than copy it: batch must not be modified afterwards, and every
// record keeps all of batch in memory. The collector never modifies batch
// bytes once received, nor decoded bytes fields.
func Open(batch []byte) (*offboxv1.Batch, error) {
	var b offboxv1.Batch
	if err := decodeBatch(batch, &b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	h := b.GetHeader()
	switch {
	case h == nil:
		return nil, fmt.Errorf("%w: no header", ErrMalformed)
	case h.GetSeq() == 0:
		return nil, fmt.Errorf("%w: sequence 0", ErrMalformed)
	case int(h.GetRecordCount()) != len(b.GetRecords()):
		return nil, fmt.Errorf("%w: header says %d records, batch has %d", ErrMalformed, h.GetRecordCount(), len(b.GetRecords()))
	case len(h.GetPrevHash()) != 0 && len(h.GetPrevHash()) != sha256.Size:
		return nil, fmt.Errorf("%w: prev_hash of %d bytes", ErrMalformed, len(h.GetPrevHash()))
	}
	if err := Resolve(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Resolve fills in the source and file identity of every record of b that
// refers to b's tables (Record.source_ref, FileRange.file_ref) and clears
// the references, so that the records read as if each spelled everything
// out. Records resolved to the same file share its FileIdentity: treat it
// as read-only. A reference out of range, or one beside an inline value, is
// ErrMalformed.
func Resolve(b *offboxv1.Batch) error {
	for i, r := range b.GetRecords() {
		if ref := r.GetSourceRef(); ref != 0 {
			if uint64(ref) > uint64(len(b.Sources)) || r.Source != "" {
				return fmt.Errorf("%w: record %d: source_ref %d (%d sources, source %q)", ErrMalformed, i, ref, len(b.Sources), r.Source)
			}
			r.Source, r.SourceRef = b.Sources[ref-1], 0
		}
		if f := r.GetFile(); f.GetFileRef() != 0 {
			ref := f.GetFileRef()
			if uint64(ref) > uint64(len(b.Files)) || f.File != nil {
				return fmt.Errorf("%w: record %d: file_ref %d (%d files, file set: %t)", ErrMalformed, i, ref, len(b.Files), f.File != nil)
			}
			f.File, f.FileRef = b.Files[ref-1], 0
		}
	}
	return nil
}
