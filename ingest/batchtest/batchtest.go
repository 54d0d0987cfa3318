// Package batchtest makes real sealed batches for the collector's tests,
// the way an agent does: records encoded with seal.AppendRecord, a header
// prepended by seal.Seal, signed with the device's key, chained by digest
// (Device, File, Heartbeat); the store.Batch a server would commit for one
// (Commit); and Client, a minimal agent side of the gRPC stream, written from
// docs/PROTOCOL.md, for tests that drive a real collector over mutual TLS.
// Test code only: no program links it, and it never opens a store.
package batchtest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/transport/seal"
)

// WireRecord is seal.WireRecord, so callers need not import seal.
type WireRecord = seal.WireRecord

// WireAttr is seal.WireAttr, a WireRecord's attribute.
type WireAttr = seal.WireAttr

// Device is an agent's sealing state: its identity, key and chain position.
type Device struct {
	Name    string
	Key     crypto.Signer
	KeyID   []byte
	BootID  string
	Session []byte
	Seq     uint64 // last sealed
	Prev    []byte // digest of the last sealed batch
}

// NewDevice makes a device with a fresh Ed25519 key.
func NewDevice(name string) *Device {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return WithKey(name, k)
}

// WithKey makes a device that signs with key (a certificate's key).
func WithKey(name string, key crypto.Signer) *Device {
	id, err := seal.KeyID(key.Public())
	if err != nil {
		panic(err)
	}
	return &Device{Name: name, Key: key, KeyID: id, BootID: "boot-" + name, Session: []byte("session-" + name)}
}

// Next seals recs as the next batch of the chain.
func (d *Device) Next(recs ...seal.WireRecord) *seal.Sealed {
	s := d.Seal(d.Seq+1, d.Prev, recs...)
	d.Seq, d.Prev = s.Seq, s.Digest[:]
	return s
}

// Seal seals recs under seq and prev without moving the chain.
func (d *Device) Seal(seq uint64, prev []byte, recs ...seal.WireRecord) *seal.Sealed {
	return d.SealHeader(d.Header(seq, prev, len(recs)), recs...)
}

// Header is the header Seal uses.
func (d *Device) Header(seq uint64, prev []byte, n int) *seal.Header {
	return &seal.Header{DeviceID: d.Name, KeyID: d.KeyID, BootID: d.BootID, SessionID: d.Session,
		Seq: seq, PrevHash: prev, RecordCount: uint32(n), SealedNs: 1_700_000_000_000_000_000 + int64(seq),
		AgentVersion: "test"}
}

// SealHeader seals recs under h as given.
func (d *Device) SealHeader(h *seal.Header, recs ...seal.WireRecord) *seal.Sealed {
	var b []byte
	for i := range recs {
		b = seal.AppendRecord(b, &recs[i])
	}
	s, err := seal.Seal(d.Key, h, b)
	if err != nil {
		panic(err)
	}
	return s
}

// Commit is the store.Batch the collector commits for s, judged against
// head expect.
func Commit(device string, s *seal.Sealed, expect uint64) *store.Batch {
	dec, err := seal.Open(s.Bytes)
	if err != nil {
		panic(err)
	}
	return &store.Batch{Device: device, Bytes: s.Bytes, Signature: s.Sig, Digest: s.Digest, Decoded: dec, ExpectHead: expect}
}

// File is a log file being appended to, for making file-line records.
type File struct {
	Source     string
	Dev, Inode uint64
	Offset     int64 // end of the last line made
	Time       int64 // device time of the next line, ns; advances 1 ms a line
	fp         []byte
}

// NewFile starts a file at offset 0.
func NewFile(source string, dev, inode uint64) *File {
	fp := sha256.Sum256([]byte(source))
	return &File{Source: source, Dev: dev, Inode: inode, Time: 1_700_000_000_000_000_000, fp: fp[:]}
}

// Lines makes the next n lines, each size bytes long plus its newline.
func (f *File) Lines(n, size int) []seal.WireRecord {
	out := make([]seal.WireRecord, n)
	for i := range out {
		body := fmt.Appendf(nil, "%s line at %d ", f.Source, f.Offset)
		for len(body) < size {
			body = append(body, 'x')
		}
		body = body[:size]
		end := f.Offset + int64(size) + 1
		out[i] = seal.WireRecord{TimeNs: f.Time, Kind: 1, Source: f.Source, Body: body,
			File: &seal.WireFileRange{Dev: f.Dev, Inode: f.Inode, FPLen: 1024, FP: f.fp, Start: f.Offset, End: end}}
		f.Offset, f.Time = end, f.Time+1_000_000
	}
	return out
}

// Rewind moves the file back to offset (to remake lines already made).
func (f *File) Rewind(offset int64) { f.Offset = offset }

// Heartbeat is a heartbeat record at device time ns.
func Heartbeat(ns int64) seal.WireRecord {
	return seal.WireRecord{TimeNs: ns, Kind: 3, Source: "agent", Attrs: []seal.WireAttr{{Key: "uptime_s", Value: "12"}}}
}
