// Package verify re-checks what a store holds from the bytes it kept, the
// way an auditor would, trusting none of the derived columns: each batch's
// digest against its bytes, its signature against the stored certificate,
// its header against its row, its chain link to the batch before, the
// continuity of sequence numbers, the record index (rebuilt from the bytes
// and compared row by row), and finally the head and the file checkpoints.
// It only reads; it never repairs.
package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

// Finding is one thing wrong with a stored chain.
type Finding struct {
	Device string
	Seq    uint64
	What   string
}

func (f Finding) String() string { return fmt.Sprintf("device=%s seq=%d: %s", f.Device, f.Seq, f.What) }

// Summary is what was checked for one device.
type Summary struct {
	Device       string
	Batches      int
	Records      int
	KeyRotations int // key changes announced by the old key
	Findings     int
	// Pruned is what retention removed before the stored batches, oldest
	// first: the chain is checked to continue from its last digest.
	Pruned []store.Pruned
}

func (s Summary) String() string {
	verdict := "OK"
	if s.Findings > 0 {
		verdict = fmt.Sprintf("FAILED (%d findings)", s.Findings)
	}
	rot := ""
	if s.KeyRotations > 0 {
		rot = fmt.Sprintf(" key_rotations=%d", s.KeyRotations)
	}
	return fmt.Sprintf("device=%s batches=%d records=%d%s%s %s", s.Device, s.Batches, s.Records, rot, prunedString(s.Pruned), verdict)
}

// prunedString says what retention removed: the sequence range, how much,
// and when the last removal was.
func prunedString(ps []store.Pruned) string {
	if len(ps) == 0 {
		return ""
	}
	var batches, records int64
	for _, p := range ps {
		batches += p.Batches
		records += p.Records
	}
	first, last := ps[0], ps[len(ps)-1]
	return fmt.Sprintf(" removed=seqs %d..%d (%d batches, %d records, received %s..%s; %d removals, last at %s)",
		first.FirstSeq, last.LastSeq, batches, records, first.OldestReceived.UTC().Format(time.RFC3339),
		last.NewestReceived.UTC().Format(time.RFC3339), len(ps), last.At.UTC().Format(time.RFC3339))
}

// Report is the result of a verification.
type Report struct {
	Devices  []Summary
	Findings []Finding
}

// OK reports whether nothing was found.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// Write prints one line per finding, then one summary line per device.
func (r *Report) Write(w io.Writer) error {
	for _, f := range r.Findings {
		if _, err := fmt.Fprintln(w, f); err != nil {
			return err
		}
	}
	for _, s := range r.Devices {
		if _, err := fmt.Fprintln(w, s); err != nil {
			return err
		}
	}
	return nil
}

// Store is what verification reads: the stored batches and what retention
// removed.
type Store interface {
	store.Reader
	Pruned(ctx context.Context, device string) ([]store.Pruned, error)
}

// Run verifies one device, or every device when device is "". An error is
// a failure to read the store, not a finding.
func Run(ctx context.Context, r Store, device string) (*Report, error) {
	devs, err := r.Devices(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	found := false
	for _, d := range devs {
		if device != "" && d.Name != device {
			continue
		}
		found = true
		sum, findings, err := verifyDevice(ctx, r, d)
		if err != nil {
			return nil, err
		}
		rep.Devices = append(rep.Devices, sum)
		rep.Findings = append(rep.Findings, findings...)
	}
	if device != "" && !found {
		return nil, fmt.Errorf("device %q is not in the store", device)
	}
	return rep, nil
}

// chainState is what verifying a device carries from batch to batch.
type chainState struct {
	device   store.Device
	keys     map[string]crypto.PublicKey // by key id
	relayOf  map[string]string           // key id → the relay whose certificate it is (an appliance's chain)
	recorded map[uint64][]string         // integrity event kinds by seq, to say a break was seen at ingest
	cps      map[string]store.Checkpoint // replayed from empty, as the store built them
	pruned   bool                        // retention removed the device's first batches
	prevSeq  uint64
	prevHash []byte // digest recomputed from the previous batch's bytes
	findings []Finding

	key       []byte          // the key id of the previous batch
	announced map[string]bool // new key ids announced (key_rotation) by batches signed with key
	rotations int             // announced key changes seen
}

func (c *chainState) find(seq uint64, format string, args ...any) {
	c.findings = append(c.findings, Finding{Device: c.device.Name, Seq: seq, What: fmt.Sprintf(format, args...)})
}

// findBreak reports a chain break, saying whether ingest recorded it.
func (c *chainState) findBreak(seq uint64, kind, format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	if slices.Contains(c.recorded[seq], kind) {
		what += fmt.Sprintf(" (recorded at ingest as %s)", kind)
	}
	c.find(seq, "%s", what)
}

func verifyDevice(ctx context.Context, r Store, d store.Device) (Summary, []Finding, error) {
	c := &chainState{device: d, keys: map[string]crypto.PublicKey{}, recorded: map[uint64][]string{}, cps: map[string]store.Checkpoint{}}
	if err := c.loadKeys(ctx, r); err != nil {
		return Summary{}, nil, err
	}
	pruned, err := r.Pruned(ctx, d.Name)
	if err != nil {
		return Summary{}, nil, err
	}
	if len(pruned) > 0 {
		// The chain goes on from the last batch removed, whose digest the
		// removal kept.
		last := pruned[len(pruned)-1]
		c.pruned, c.prevSeq, c.prevHash = true, last.LastSeq, last.LastDigest
		// And the index from the checkpoints it kept: a kept batch that
		// resends removed lines was indexed without them.
		for _, cp := range last.Checkpoints {
			c.cps[cp.Source] = cp
		}
	}
	evs, err := r.IntegrityEvents(ctx, store.EventQuery{Device: d.Name})
	if err != nil {
		return Summary{}, nil, err
	}
	for _, e := range evs {
		c.recorded[e.Seq] = append(c.recorded[e.Seq], e.Kind)
	}
	sum := Summary{Device: d.Name, Pruned: pruned}
	for b, err := range r.Batches(ctx, d.Name) {
		if err != nil {
			return Summary{}, nil, err
		}
		sum.Batches++
		sum.Records += b.RecordCount
		c.checkBatch(b)
	}
	if err := c.checkEnd(ctx, r); err != nil {
		return Summary{}, nil, err
	}
	sum.Findings, sum.KeyRotations = len(c.findings), c.rotations
	return sum, c.findings, nil
}

// loadKeys parses the stored certificates, checking that each is the key
// its id names and belongs to the device.
func (c *chainState) loadKeys(ctx context.Context, r store.Reader) error {
	keys, err := r.Keys(ctx, c.device.Name)
	if err != nil {
		return err
	}
	for _, k := range keys {
		cert, err := x509.ParseCertificate(k.CertDER)
		if err != nil {
			c.find(0, "stored certificate for key %x does not parse: %v", k.KeyID, err)
			continue
		}
		dev, id, err := tlsconf.Identity(cert)
		switch {
		case err != nil:
			c.find(0, "stored certificate for key %x: %v", k.KeyID, err)
		case dev != c.device.Name && bytes.Equal(id, k.KeyID):
			// A relay's certificate, stored for the appliance it speaks
			// for: each batch it signed must name that relay (checkHeader).
			if c.relayOf == nil {
				c.relayOf = map[string]string{}
			}
			c.relayOf[string(k.KeyID)] = dev
			c.keys[string(k.KeyID)] = cert.PublicKey
		case dev != c.device.Name || !bytes.Equal(id, k.KeyID):
			c.find(0, "stored certificate for key %x is device %q key %x", k.KeyID, dev, id)
		default:
			c.keys[string(k.KeyID)] = cert.PublicKey
		}
	}
	return nil
}

func (c *chainState) checkBatch(b *store.StoredBatch) {
	digest := seal.Digest(b.Bytes)
	defer func() { c.prevSeq, c.prevHash = b.Seq, digest[:] }()
	if !bytes.Equal(digest[:], b.Digest) {
		c.find(b.Seq, "stored digest %s is not the SHA-256 %s of the stored bytes", short(b.Digest), short(digest[:]))
	}
	c.checkSignature(b, digest)
	dec, err := seal.Open(b.Bytes)
	if err != nil {
		c.find(b.Seq, "stored bytes do not decode: %v", err)
		c.checkLinkFromRow(b)
		return
	}
	c.checkHeader(b, dec.GetHeader())
	c.checkLink(b.Seq, dec.GetHeader().GetPrevHash())
	c.checkIndex(b, dec.GetRecords())
	c.checkKey(b, dec.GetRecords())
}

// checkKey follows the device's signing key along the chain. When it
// changes, a batch signed by the old key must have announced the new one
// (an agent_status record, event key_rotation, new_key_id): that is how a
// renewal hands the chain over. A change nobody announced is a finding: a
// re-enrolled device, or a key that is not the device's.
func (c *chainState) checkKey(b *store.StoredBatch, recs []*offboxv1.Record) {
	if c.key != nil && !bytes.Equal(b.KeyID, c.key) {
		if c.announced[hex.EncodeToString(b.KeyID)] {
			c.rotations++
		} else if r := c.relayOf[string(c.key)]; r != "" && r == c.relayOf[string(b.KeyID)] {
			// An appliance's chain: its relay's certificate was renewed
			// (announced in the relay's own chain, verified there).
			c.rotations++
		} else {
			c.find(b.Seq, "signing key changed from %s to %s without a key_rotation record signed by the old key (re-enrolled?)",
				short(c.key), short(b.KeyID))
		}
		c.announced = nil
	}
	c.key = b.KeyID
	for _, r := range recs {
		if r.GetKind() != offboxv1.Kind_KIND_AGENT_STATUS {
			continue
		}
		var event, newKey string
		for _, a := range r.GetAttrs() {
			switch a.GetKey() {
			case "event":
				event = a.GetValue()
			case "new_key_id":
				newKey = a.GetValue()
			}
		}
		if event == "key_rotation" && newKey != "" {
			if c.announced == nil {
				c.announced = map[string]bool{}
			}
			c.announced[newKey] = true
		}
	}
}

func (c *chainState) checkSignature(b *store.StoredBatch, digest [32]byte) {
	pub, ok := c.keys[string(b.KeyID)]
	if !ok {
		c.find(b.Seq, "no stored certificate for key id %x", b.KeyID)
		return
	}
	if err := seal.VerifyDigest(pub, digest, b.Signature); err != nil {
		c.find(b.Seq, "signature does not verify over the stored bytes with key %s", short(b.KeyID))
	}
}

// checkHeader compares the signed header with the row's columns.
func (c *chainState) checkHeader(b *store.StoredBatch, h *offboxv1.BatchHeader) {
	type field struct {
		name      string
		got, want any
	}
	for _, f := range []field{
		{"device id", h.GetDeviceId(), c.device.Name},
		{"seq", h.GetSeq(), b.Seq},
		{"key id", hex.EncodeToString(h.GetKeyId()), hex.EncodeToString(b.KeyID)},
		{"prev_hash", hex.EncodeToString(h.GetPrevHash()), hex.EncodeToString(b.PrevHash)},
		{"record count", int(h.GetRecordCount()), b.RecordCount},
		{"boot id", h.GetBootId(), b.BootID},
		{"session id", hex.EncodeToString(h.GetSessionId()), hex.EncodeToString(b.SessionID)},
		{"sealed time", h.GetSealedNs(), b.SealedNs},
		{"dropped records", h.GetDroppedRecords(), b.DroppedRecords},
		{"dropped bytes", h.GetDroppedBytes(), b.DroppedBytes},
		{"relay", h.GetRelay(), c.relayOf[string(b.KeyID)]}, // "" for a device's own key
	} {
		if f.got != f.want {
			c.find(b.Seq, "signed header says %s %v, the stored row %v", f.name, f.got, f.want)
		}
	}
}

// checkLink checks sequence continuity and that prev_hash is the digest of
// the batch before, recomputed from its bytes.
func (c *chainState) checkLink(seq uint64, prevHash []byte) {
	switch {
	case c.prevHash == nil && seq > 1:
		c.findBreak(seq, store.EventGap, "gap: seqs 1..%d missing before the first stored batch", seq-1)
	case c.prevHash == nil && len(prevHash) != 0:
		c.findBreak(seq, store.EventFork, "first batch has a prev_hash %s", short(prevHash))
	case c.prevHash != nil && seq != c.prevSeq+1:
		c.findBreak(seq, store.EventGap, "gap: seqs %d..%d missing", c.prevSeq+1, seq-1)
	case c.prevHash != nil && !bytes.Equal(prevHash, c.prevHash):
		c.findBreak(seq, store.EventFork, "prev_hash %s does not link to seq %d (digest %s)", short(prevHash), c.prevSeq, short(c.prevHash))
	}
}

// checkLinkFromRow checks the link with the row's prev_hash when the
// bytes cannot be read.
func (c *chainState) checkLinkFromRow(b *store.StoredBatch) { c.checkLink(b.Seq, b.PrevHash) }

// checkIndex rebuilds the batch's segment rows from its records, with the
// checkpoints replayed from every earlier batch, and compares.
func (c *chainState) checkIndex(b *store.StoredBatch, recs []*offboxv1.Record) {
	want, _ := store.Index(recs, c.cps)
	for i := range want {
		want[i].ReceivedNs = b.Received.UnixNano()
	}
	got := b.Segments
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			c.find(b.Seq, "index lacks the segment for records %d..%d (%s)", want[i].First, want[i].First+want[i].Count-1, describe(&want[i]))
		case i >= len(want):
			c.find(b.Seq, "index has a segment for records %d..%d the batch does not give (%s)", got[i].First, got[i].First+got[i].Count-1, describe(&got[i]))
		case !sameSegment(&got[i], &want[i]):
			c.find(b.Seq, "index segment %d disagrees with the batch bytes: stored %s, from the bytes %s", i, describe(&got[i]), describe(&want[i]))
		default:
			continue
		}
		return // one finding per batch: the rest would repeat it
	}
}

func sameSegment(a, b *store.Segment) bool {
	if a.First != b.First || a.Count != b.Count || a.Source != b.Source || a.Kind != b.Kind ||
		a.MinTimeNs != b.MinTimeNs || a.MaxTimeNs != b.MaxTimeNs || a.ReceivedNs != b.ReceivedNs || (a.File == nil) != (b.File == nil) {
		return false
	}
	if a.File == nil {
		return true
	}
	f, g := a.File, b.File
	return f.Dev == g.Dev && f.Inode == g.Inode && f.Start == g.Start && f.End == g.End && sameFingerprint(f, g)
}

// sameFingerprint compares a stored segment's fingerprint with the one
// rebuilt from the bytes; a segment stored before the store kept it has
// none to compare.
func sameFingerprint(stored, rebuilt *store.FileSpan) bool {
	return stored.FP == nil || (stored.FPLen == rebuilt.FPLen && bytes.Equal(stored.FP, rebuilt.FP))
}

func describe(s *store.Segment) string {
	d := fmt.Sprintf("first %d count %d source %q kind %d time %d..%d received %d", s.First, s.Count, s.Source, s.Kind, s.MinTimeNs, s.MaxTimeNs, s.ReceivedNs)
	if f := s.File; f != nil {
		d += fmt.Sprintf(" file %d:%d bytes %d..%d", f.Dev, f.Inode, f.Start, f.End)
		if f.FP != nil {
			d += fmt.Sprintf(" fingerprint %s/%d", short(f.FP), f.FPLen)
		}
	}
	return d
}

// checkEnd compares the stored head and checkpoints with the chain.
func (c *chainState) checkEnd(ctx context.Context, r store.Reader) error {
	h := c.device.Head
	if h.Seq != c.prevSeq || !bytes.Equal(h.Hash, c.prevHash) {
		c.find(h.Seq, "stored head is seq %d %s; the last stored batch is seq %d %s", h.Seq, short(h.Hash), c.prevSeq, short(c.prevHash))
	}
	stored, err := r.Checkpoints(ctx, c.device.Name)
	if err != nil {
		return err
	}
	got := map[string]store.Checkpoint{}
	for _, cp := range stored {
		got[cp.Source] = cp
	}
	for _, src := range slices.Sorted(maps.Keys(c.cps)) {
		want, ok := got[src]
		if !ok || !store.SameFile(want.File, c.cps[src].File) || want.Offset != c.cps[src].Offset {
			c.find(c.prevSeq, "checkpoint of %s is %s; the batches give %s", src, cpString(want, ok), cpString(c.cps[src], true))
		}
		delete(got, src)
	}
	for _, src := range slices.Sorted(maps.Keys(got)) {
		if c.pruned {
			continue // its batches were removed by retention
		}
		c.find(c.prevSeq, "checkpoint of %s at offset %d has no batch behind it", src, got[src].Offset)
	}
	return nil
}

func cpString(cp store.Checkpoint, ok bool) string {
	if !ok {
		return "missing"
	}
	return fmt.Sprintf("file %d:%d fingerprint %s/%d offset %d", cp.File.Dev, cp.File.Inode, short(cp.File.FP), cp.File.FPLen, cp.Offset)
}

func short(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	if len(b) > 8 {
		b = b[:8]
	}
	return hex.EncodeToString(b) + "…"
}
