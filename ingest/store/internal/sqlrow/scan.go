package sqlrow

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// The Scan functions below each read one row of a SELECT whose columns
// are listed in their comment, in that order; the engines write the
// SELECT.

// ScanDevice scans name, first_seen_ns, last_seen_ns, head_seq, head_hash.
func ScanDevice(r Scanner) (store.Device, error) {
	var d store.Device
	var first, last, seq int64
	if err := r.Scan(&d.Name, &first, &last, &seq, &d.Head.Hash); err != nil {
		return d, err
	}
	d.FirstSeen, d.LastSeen, d.Head.Seq = NsTime(first), NsTime(last), uint64(seq)
	return d, nil
}

// ScanKey scans key_id, cert_der, first_seen_ns (Device left to the caller).
func ScanKey(r Scanner) (store.Key, error) {
	var k store.Key
	var seen int64
	if err := r.Scan(&k.KeyID, &k.CertDER, &seen); err != nil {
		return k, err
	}
	k.FirstSeen = NsTime(seen)
	return k, nil
}

// ScanEvent scans id, device name, time_ns, kind, seq, detail, boot_id.
func ScanEvent(r Scanner) (store.IntegrityEvent, error) {
	var e store.IntegrityEvent
	var t, seq int64
	if err := r.Scan(&e.ID, &e.Device, &t, &e.Kind, &seq, &e.Detail, &e.BootID); err != nil {
		return e, err
	}
	e.Time, e.Seq = NsTime(t), uint64(seq)
	return e, nil
}

// ScanAccess scans id, time_ns, who, via, remote, what.
func ScanAccess(r Scanner) (store.Access, error) {
	var a store.Access
	var t int64
	if err := r.Scan(&a.ID, &t, &a.Who, &a.Via, &a.Remote, &a.What); err != nil {
		return a, err
	}
	a.Time = NsTime(t)
	return a, nil
}

// ScanDelivery scans sink, state, attempts, next_ns, last_error,
// delivered_ns, escalation (0 or 1) and then the alert's columns
// (ScanAlert).
func ScanDelivery(r Scanner) (store.Delivery, error) {
	var d store.Delivery
	var next, delivered, escalation int64
	if err := ScanAlert(r, &d.Alert, &d.Sink, &d.State, &d.Attempts, &next, &d.LastError, &delivered, &escalation); err != nil {
		return d, err
	}
	d.Escalation = escalation == 1
	d.AlertID, d.NextAttempt, d.Delivered, d.Queued = d.Alert.ID, TimeNs(next), TimeNs(delivered), TimeNs(next)
	return d, nil
}

// ScanAlertRow is ScanAlert for Collect.
func ScanAlertRow(r Scanner) (a store.Alert, err error) {
	err = ScanAlert(r, &a)
	return a, err
}

// ScanRevocation scans device, time_ns, key_ids, reason, by.
func ScanRevocation(r Scanner) (store.Revocation, error) {
	var v store.Revocation
	var ns int64
	var keys string
	if err := r.Scan(&v.Device, &ns, &keys, &v.Reason, &v.By); err != nil {
		return v, err
	}
	var err error
	if v.KeyIDs, err = DecodeKeyIDs(v.Device, keys); err != nil {
		return v, err
	}
	v.Time = TimeNs(ns)
	return v, nil
}

// ScanSegment scans first_index, count, source, kind, min_time_ns,
// max_time_ns, received_ns, file_dev, file_inode, file_start, file_end,
// file_fp_len, file_fp; the file columns are NULL for a segment without a
// file.
func ScanSegment(r Scanner) (store.Segment, error) {
	var g store.Segment
	var kind int64
	var fdev, fino, fstart, fend, fplen *int64
	var fp []byte
	if err := r.Scan(&g.First, &g.Count, &g.Source, &kind, &g.MinTimeNs, &g.MaxTimeNs, &g.ReceivedNs,
		&fdev, &fino, &fstart, &fend, &fplen, &fp); err != nil {
		return g, err
	}
	g.Kind = offboxv1.Kind(kind)
	if fdev != nil || fino != nil || fstart != nil || fend != nil {
		g.File = &store.FileSpan{Dev: uint64(deref(fdev)), Inode: uint64(deref(fino)), Start: deref(fstart), End: deref(fend),
			FPLen: uint32(deref(fplen)), FP: fp}
	}
	return g, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// ScanCursor scans batch_row, event_id, access_id, saves; no row is the
// zero cursor.
func ScanCursor(r Scanner) (store.Cursor, error) {
	var c store.Cursor
	err := r.Scan(&c.BatchRow, &c.EventID, &c.AccessID, &c.Saves)
	if errors.Is(err, ErrNoRows) {
		return store.Cursor{}, nil
	}
	if err != nil {
		return store.Cursor{}, fmt.Errorf("store: detect cursor: %w", err)
	}
	return c, nil
}

// Head reads a device's chain head: query selects head_seq, head_hash of
// the device named by its one argument; an unknown device has the zero
// head.
func Head(ctx context.Context, db DB, query, device string) (store.Head, error) {
	var seq int64
	var hash []byte
	err := db.QueryRow(ctx, query, device).Scan(&seq, &hash)
	if errors.Is(err, ErrNoRows) {
		return store.Head{}, nil
	}
	if err != nil {
		return store.Head{}, fmt.Errorf("store: head of %s: %w", device, err)
	}
	return store.Head{Seq: uint64(seq), Hash: hash}, nil
}

// Digest reads the digest of batch seq of device: query selects it by
// (device name, seq).
func Digest(ctx context.Context, db DB, query, device string, seq uint64) ([32]byte, bool, error) {
	var out [32]byte
	if seq > math.MaxInt64 {
		return out, false, nil
	}
	var d []byte
	err := db.QueryRow(ctx, query, device, int64(seq)).Scan(&d)
	if errors.Is(err, ErrNoRows) {
		return out, false, nil
	}
	if err != nil {
		return out, false, fmt.Errorf("store: digest of %s seq %d: %w", device, seq, err)
	}
	if len(d) != len(out) {
		return out, false, fmt.Errorf("store: digest of %s seq %d has %d bytes", device, seq, len(d))
	}
	copy(out[:], d)
	return out, true, nil
}

// OperatorToken looks an operator token up by hash: query selects name,
// created_ns, expires_ns by hash.
func OperatorToken(ctx context.Context, db DB, query string, hash []byte) (store.OperatorToken, bool, error) {
	var t store.OperatorToken
	var created, expires int64
	err := db.QueryRow(ctx, query, NotNull(hash)).Scan(&t.Name, &created, &expires)
	if errors.Is(err, ErrNoRows) {
		return t, false, nil
	}
	if err != nil {
		return t, false, fmt.Errorf("store: operator token: %w", err)
	}
	t.Hash, t.Created, t.Expires = hash, TimeNs(created), TimeNs(expires)
	return t, true, nil
}

// ScanPruned scans device name, first_seq, last_seq, batches, records,
// last_digest, oldest and newest received (ns), cutoff_ns, at_ns,
// checkpoints (EncodeCheckpoints; NULL in rows made before they were
// kept).
func ScanPruned(r Scanner) (store.Pruned, error) {
	var p store.Pruned
	var first, last, oldest, newest, cut, at int64
	var cps []byte
	if err := r.Scan(&p.Device, &first, &last, &p.Batches, &p.Records, &p.LastDigest, &oldest, &newest, &cut, &at, &cps); err != nil {
		return p, err
	}
	var err error
	if p.Checkpoints, err = DecodeCheckpoints(cps); err != nil {
		return p, fmt.Errorf("%s: %w", p.Device, err)
	}
	p.FirstSeq, p.LastSeq = uint64(first), uint64(last)
	p.OldestReceived, p.NewestReceived, p.Cutoff, p.At = NsTime(oldest), NsTime(newest), NsTime(cut), NsTime(at)
	return p, nil
}
