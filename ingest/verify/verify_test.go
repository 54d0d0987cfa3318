package verify

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offbox/offbox/ingest/batchtest"
	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/ingest/store/sqlite"
	"github.com/offbox/offbox/ingest/store/storetest"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
	"github.com/offbox/offbox/transport/tlsconf"
)

var ctx = context.Background()

// fixture is a store holding a device's chain of five batches of file
// lines, committed as the server commits them, with its certificate.
type fixture struct {
	path string
	dev  *batchtest.Device
}

func newFixture(t *testing.T, name string) *fixture {
	t.Helper()
	return newFixtureAt(t, name, nil)
}

// newFixtureAt is newFixture with batch i received at received(i) (nil:
// now).
func newFixtureAt(t *testing.T, name string, received func(i int) time.Time) *fixture {
	t.Helper()
	return newFixtureWith(t, name, received, nil)
}

// newFixtureWith is newFixtureAt with a hook that may change the file
// before batch i takes its lines (nil: none).
func newFixtureWith(t *testing.T, name string, received func(i int) time.Time, before func(i int, f *batchtest.File)) *fixture {
	t.Helper()
	ca, err := tlsconf.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := tlsconf.GenerateKey(tlsconf.Ed25519)
	cert, err := ca.Issue(name, key.Public(), nil, true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{path: filepath.Join(t.TempDir(), "v.db"), dev: batchtest.WithKey(name, key)}
	s, err := sqlite.Open(fx.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.PutKey(ctx, store.Key{Device: name, KeyID: fx.dev.KeyID, CertDER: cert.Raw}); err != nil {
		t.Fatal(err)
	}
	f := batchtest.NewFile("file:/var/log/auth.log", 3, 4)
	for i := range 5 {
		if before != nil {
			before(i, f)
		}
		recs := append(f.Lines(20, 100), batchtest.Heartbeat(f.Time))
		b := batchtest.Commit(name, fx.dev.Next(recs...), uint64(i))
		if received != nil {
			b.Received = received(i)
		}
		if err := s.CommitBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

func (fx *fixture) verify(t *testing.T, device string) *Report {
	t.Helper()
	s, err := sqlite.OpenReadOnly(fx.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := Run(ctx, s, device)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// tamper changes the database behind the store's back.
func (fx *fixture) tamper(t *testing.T, query string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", fx.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s changed nothing", query)
	}
}

func (fx *fixture) batchBytes(t *testing.T, seq int) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", fx.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b []byte
	if err := db.QueryRow(`SELECT bytes FROM batches WHERE seq = ?`, seq).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIntactChainVerifies(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "router-1")
	rep := fx.verify(t, "")
	if !rep.OK() {
		t.Fatalf("findings on an intact store: %v", rep.Findings)
	}
	if len(rep.Devices) != 1 || rep.Devices[0].Batches != 5 || rep.Devices[0].Records != 105 {
		t.Errorf("summary = %+v, want 5 batches, 105 records", rep.Devices)
	}
	var out bytes.Buffer
	rep.Write(&out)
	if got := out.String(); got != "device=router-1 batches=5 records=105 OK\n" {
		t.Errorf("report = %q", got)
	}
}

// TestTamperingFound: every kind of change made directly in the SQLite
// file is found and named by device and seq.
func TestTamperingFound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(t *testing.T, fx *fixture)
		want   string // a finding line contains this
	}{
		{"a record's body bytes", func(t *testing.T, fx *fixture) {
			b := fx.batchBytes(t, 3)
			i := bytes.LastIndex(b, []byte("xxxx"))
			b[i] = 'X'
			fx.tamper(t, `UPDATE batches SET bytes = ? WHERE seq = 3`, b)
		}, "device=router-1 seq=3: stored digest"},
		{"body and digest together", func(t *testing.T, fx *fixture) {
			b := fx.batchBytes(t, 3)
			b[bytes.LastIndex(b, []byte("xxxx"))] = 'X'
			d := sha256Sum(b)
			fx.tamper(t, `UPDATE batches SET bytes = ?, digest = ? WHERE seq = 3`, b, d)
		}, "device=router-1 seq=3: signature does not verify"},
		{"the next link after rewriting", func(t *testing.T, fx *fixture) {
			b := fx.batchBytes(t, 3)
			b[bytes.LastIndex(b, []byte("xxxx"))] = 'X'
			fx.tamper(t, `UPDATE batches SET bytes = ?, digest = ? WHERE seq = 3`, b, sha256Sum(b))
		}, "device=router-1 seq=4: prev_hash"},
		{"a segment's count", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE segments SET count = count - 1 WHERE batch_seq = 2 AND first_index = 0`)
		}, "device=router-1 seq=2: index segment 0 disagrees"},
		{"a segment's time", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE segments SET min_time_ns = 5 WHERE batch_seq = 4 AND first_index = 0`)
		}, "device=router-1 seq=4: index segment 0 disagrees"},
		{"a segment's source", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE segments SET source = 'file:/elsewhere' WHERE batch_seq = 1 AND first_index = 0`)
		}, "device=router-1 seq=1: index segment 0"},
		{"a segment's fingerprint", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE segments SET file_fp = zeroblob(32) WHERE batch_seq = 3 AND first_index = 0`)
		}, "device=router-1 seq=3: index segment 0 disagrees"},
		{"a segment deleted", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `DELETE FROM segments WHERE batch_seq = 5 AND first_index = 20`)
		}, "device=router-1 seq=5: index lacks"},
		{"a batch deleted", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `DELETE FROM segments WHERE batch_seq = 2`)
			fx.tamper(t, `DELETE FROM batches WHERE seq = 2`)
		}, "device=router-1 seq=3: gap: seqs 2..2 missing"},
		{"the header's row", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE batches SET dropped_records = 0 + 9 WHERE seq = 2`)
		}, "device=router-1 seq=2: signed header says dropped records 0, the stored row 9"},
		{"the head", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE devices SET head_seq = 4`)
		}, "device=router-1 seq=4: stored head"},
		{"a checkpoint", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE checkpoints SET offset = offset + 101`)
		}, "device=router-1 seq=5: checkpoint of file:/var/log/auth.log"},
		{"the certificate", func(t *testing.T, fx *fixture) {
			fx.tamper(t, `UPDATE keys SET cert_der = x'3000'`)
		}, "device=router-1 seq=1: no stored certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := newFixture(t, "router-1")
			tt.tamper(t, fx)
			rep := fx.verify(t, "router-1")
			var out bytes.Buffer
			rep.Write(&out)
			if rep.OK() || !strings.Contains(out.String(), tt.want) {
				t.Errorf("after tampering with %s, report:\n%s\nwant a line containing %q", tt.name, out.String(), tt.want)
			}
			if !strings.Contains(out.String(), "FAILED") {
				t.Errorf("summary does not say FAILED:\n%s", out.String())
			}
		})
	}
}

// TestRecordedBreaksAreReported: a gap the collector recorded at ingest is
// still a break of the chain, and verify says it was recorded.
func TestRecordedBreaksAreReported(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "d")
	s, err := sqlite.Open(fx.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	late := fx.dev.Seal(9, fx.dev.Prev, batchtest.Heartbeat(1))
	b := batchtest.Commit("d", late, 5)
	b.Events = []store.IntegrityEvent{{Device: "d", Kind: store.EventGap, Seq: 9, Detail: "seqs 6..8 missing"}}
	if err := s.CommitBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	s.Close()
	rep := fx.verify(t, "")
	if len(rep.Findings) != 1 || rep.Findings[0].String() != "device=d seq=9: gap: seqs 6..8 missing (recorded at ingest as gap)" {
		t.Errorf("findings = %v", rep.Findings)
	}
}

func TestUnknownDevice(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, "d")
	s, _ := sqlite.OpenReadOnly(fx.path, sqlite.Options{})
	defer s.Close()
	if _, err := Run(ctx, s, "nope"); err == nil {
		t.Error("verify of an unknown device succeeded")
	}
}

func sha256Sum(b []byte) []byte {
	d := seal.Digest(b)
	return d[:]
}

// A key change announced by the old key (a renewal) verifies and is
// counted; the same change without the announcement is a finding.
func TestKeyChange(t *testing.T) {
	t.Parallel()
	for _, announce := range []bool{true, false} {
		t.Run(fmt.Sprintf("announced=%v", announce), func(t *testing.T) {
			fx := newFixture(t, "sw9")
			ca, _ := tlsconf.NewCA("test CA", time.Hour)
			key, _ := tlsconf.GenerateKey(tlsconf.ECDSAP256)
			cert, err := ca.Issue("sw9", key.Public(), nil, true, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			newDev := batchtest.WithKey("sw9", key)
			s, err := sqlite.Open(fx.path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rot := seal.WireRecord{TimeNs: 1, Kind: uint32(offboxv1.Kind_KIND_AGENT_STATUS), Source: "agent",
				Attrs: []seal.WireAttr{{Key: "event", Value: "key_rotation"}, {Key: "new_key_id", Value: hex.EncodeToString(newDev.KeyID)}}}
			if !announce {
				rot = batchtest.Heartbeat(1)
			}
			if err := s.CommitBatch(ctx, batchtest.Commit("sw9", fx.dev.Next(rot), 5)); err != nil {
				t.Fatal(err)
			}
			if err := s.PutKey(ctx, store.Key{Device: "sw9", KeyID: newDev.KeyID, CertDER: cert.Raw}); err != nil {
				t.Fatal(err)
			}
			newDev.Seq, newDev.Prev = fx.dev.Seq, fx.dev.Prev
			if err := s.CommitBatch(ctx, batchtest.Commit("sw9", newDev.Next(batchtest.Heartbeat(2)), 6)); err != nil {
				t.Fatal(err)
			}
			s.Close()
			rep := fx.verify(t, "")
			switch {
			case announce && (!rep.OK() || rep.Devices[0].KeyRotations != 1):
				t.Errorf("announced rotation: findings %v, summary %+v", rep.Findings, rep.Devices)
			case !announce && (len(rep.Findings) != 1 || rep.Findings[0].Seq != 7 || !strings.Contains(rep.Findings[0].What, "without a key_rotation record")):
				t.Errorf("unannounced key change: findings %v, want one at seq 7", rep.Findings)
			}
		})
	}
}

// TestPrunedChainVerifies: retention removed the first three batches; the
// chain is checked to go on from the digest the removal kept, and the
// report says what was removed and when. A kept digest that the next batch
// does not link to is a fork.
func TestPrunedChainVerifies(t *testing.T) {
	now := time.Now()
	fx := newFixtureAt(t, "gw", func(i int) time.Time {
		if i < 3 {
			return now.Add(-72 * time.Hour)
		}
		return now
	})
	s, err := sqlite.Open(fx.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.CaughtUp(t, s)
	removed, err := s.Prune(ctx, now.Add(-24*time.Hour), now)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].FirstSeq != 1 || removed[0].LastSeq != 3 {
		t.Fatalf("Prune removed %+v, want seqs 1..3 of gw", removed)
	}
	rep := fx.verify(t, "gw")
	if !rep.OK() {
		t.Fatalf("pruned chain: findings %v", rep.Findings)
	}
	sum := rep.Devices[0]
	if sum.Batches != 2 || len(sum.Pruned) != 1 {
		t.Fatalf("summary %+v, want 2 batches and one removal", sum)
	}
	if line := sum.String(); !strings.Contains(line, "removed=seqs 1..3 (3 batches, 63 records") || !strings.HasSuffix(line, " OK") {
		t.Errorf("summary line %q does not say what was removed", line)
	}
	fx.tamper(t, `UPDATE pruned SET last_digest = ?`, make([]byte, 32))
	rep = fx.verify(t, "gw")
	if len(rep.Findings) != 1 || rep.Findings[0].Seq != 4 || !strings.Contains(rep.Findings[0].What, "prev_hash") {
		t.Fatalf("a kept digest the next batch does not link to: findings %v, want one fork at seq 4", rep.Findings)
	}
}

// TestPrunedResendVerifies: the first batch kept after retention resends
// the last lines of the last batch removed (as an agent does when an ack
// was lost), which the store indexed as duplicates. Verification replays
// the index from the checkpoints the removal kept, so this is no finding;
// a removal that kept none (made before they were kept) would give one.
func TestPrunedResendVerifies(t *testing.T) {
	now := time.Now()
	fx := newFixtureWith(t, "gw", func(i int) time.Time {
		if i < 3 {
			return now.Add(-72 * time.Hour)
		}
		return now
	}, func(i int, f *batchtest.File) {
		if i == 3 {
			f.Rewind(f.Offset - 5*101)
		}
	})
	s, err := sqlite.Open(fx.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	storetest.CaughtUp(t, s)
	removed, err := s.Prune(ctx, now.Add(-24*time.Hour), now)
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0].LastSeq != 3 || len(removed[0].Checkpoints) != 1 || removed[0].Checkpoints[0].Offset != 60*101 {
		t.Fatalf("Prune removed %+v, want seqs 1..3 of gw with the file's checkpoint at %d", removed, 60*101)
	}
	if b := storedBatch(t, fx, 4); len(b.Segments) == 0 || b.Segments[0].First != 5 {
		t.Fatalf("seq 4's index %+v: the store did not skip the 5 resent lines", b.Segments)
	}
	if rep := fx.verify(t, "gw"); !rep.OK() {
		t.Fatalf("a resend across the cut: findings %v", rep.Findings)
	}
	fx.tamper(t, `UPDATE pruned SET checkpoints = NULL`)
	rep := fx.verify(t, "gw")
	if len(rep.Findings) != 1 || rep.Findings[0].Seq != 4 || !strings.Contains(rep.Findings[0].What, "index") {
		t.Fatalf("without the kept checkpoints: findings %v, want one index finding at seq 4", rep.Findings)
	}
}

// storedBatch reads the device gw's batch seq from the fixture's store.
func storedBatch(t *testing.T, fx *fixture, seq uint64) *store.StoredBatch {
	t.Helper()
	s, err := sqlite.OpenReadOnly(fx.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for b, err := range s.Batches(ctx, "gw") {
		if err != nil {
			t.Fatal(err)
		}
		if b.Seq == seq {
			return b
		}
	}
	t.Fatalf("gw has no batch %d", seq)
	return nil
}

// TestSegmentsWithoutFingerprints: segments stored before the store kept
// their file's fingerprint are checked on everything else, not reported.
func TestSegmentsWithoutFingerprints(t *testing.T) {
	fx := newFixture(t, "old")
	fx.tamper(t, `UPDATE segments SET file_fp = NULL, file_fp_len = NULL`)
	if rep := fx.verify(t, "old"); !rep.OK() {
		t.Fatalf("segments without fingerprints: findings %v", rep.Findings)
	}
	fx.tamper(t, `UPDATE segments SET file_end = file_end + 1 WHERE batch_seq = 2 AND first_index = 0`)
	if rep := fx.verify(t, "old"); len(rep.Findings) != 1 || rep.Findings[0].Seq != 2 {
		t.Fatalf("a bad end in a segment without fingerprint: findings %v, want one at seq 2", rep.Findings)
	}
}
