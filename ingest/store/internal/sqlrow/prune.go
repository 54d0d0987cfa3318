package sqlrow

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/offbox/offbox/ingest/store"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
	"github.com/offbox/offbox/transport/seal"
)

// LastFileRecord is, for one source, the last record a removal takes
// that moved the source's checkpoint: the last record of the source's
// last segment with a file among the removed batches (segments hold only
// the records the index did not skip as duplicates), with the file and
// end the segment gives for it.
type LastFileRecord struct {
	Source string
	Seq    uint64
	Index  int
	File   store.FileID // File.FP nil: the segment predates fingerprints
	End    int64
}

// LastFileRecords keeps the first row per source of segment rows read in
// descending (batch_seq, first_index) order: the rows a removal's
// checkpoints come from.
type LastFileRecords struct {
	seen map[string]bool
	list []LastFileRecord
}

// Add offers the next row.
func (l *LastFileRecords) Add(r LastFileRecord) {
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	if !l.seen[r.Source] {
		l.seen[r.Source] = true
		l.list = append(l.list, r)
	}
}

// List is the rows kept, one per source.
func (l *LastFileRecords) List() []LastFileRecord { return l.list }

// PrunedCheckpoints are a device's checkpoints after a removal: prev (those
// kept by its previous removal, encoded; nil for none) with each source in
// last moved to the file and end of its last record. Those come from the
// segment, or, when it predates fingerprints, from the batch bytes, which
// batchBytes reads. It returns them sorted by source, and their encoding
// for the pruned row.
func PrunedCheckpoints(prev []byte, last []LastFileRecord, batchBytes func(seq uint64) ([]byte, error)) (
	[]store.Checkpoint, []byte, error) {
	cps, err := DecodeCheckpoints(prev)
	if err != nil {
		return nil, nil, err
	}
	bySource := map[string]store.Checkpoint{}
	for _, cp := range cps {
		bySource[cp.Source] = cp
	}
	opened := map[uint64]*offboxv1.Batch{}
	for _, l := range last {
		if l.File.FP != nil {
			bySource[l.Source] = store.Checkpoint{Source: l.Source, File: l.File, Offset: l.End}
			continue
		}
		b, ok := opened[l.Seq]
		if !ok {
			raw, err := batchBytes(l.Seq)
			if err != nil {
				return nil, nil, fmt.Errorf("checkpoints: batch %d: %w", l.Seq, err)
			}
			if b, err = seal.Open(raw); err != nil {
				return nil, nil, fmt.Errorf("checkpoints: batch %d: %w", l.Seq, err)
			}
			opened[l.Seq] = b
		}
		recs := b.GetRecords()
		if l.Index < 0 || l.Index >= len(recs) || recs[l.Index].GetFile() == nil || recs[l.Index].GetSource() != l.Source {
			return nil, nil, fmt.Errorf("checkpoints: batch %d has no file record %d of %q, as its index says", l.Seq, l.Index, l.Source)
		}
		f := recs[l.Index].GetFile()
		id := f.GetFile()
		bySource[l.Source] = store.Checkpoint{Source: l.Source, Offset: f.GetEnd(),
			File: store.FileID{Dev: id.GetDev(), Inode: id.GetInode(), FPLen: id.GetFingerprintLen(), FP: id.GetFingerprint()}}
	}
	out := make([]store.Checkpoint, 0, len(bySource))
	for _, cp := range bySource {
		out = append(out, cp)
	}
	slices.SortFunc(out, func(a, b store.Checkpoint) int { return cmp.Compare(a.Source, b.Source) })
	enc, err := EncodeCheckpoints(out)
	return out, enc, err
}

// checkpointRow is a checkpoint as stored in a pruned row. Sources are
// bytes, not JSON strings, so one that is not UTF-8 comes back unchanged.
type checkpointRow struct {
	Source []byte `json:"source"`
	Dev    uint64 `json:"dev"`
	Inode  uint64 `json:"inode"`
	FPLen  uint32 `json:"fp_len"`
	FP     []byte `json:"fp"`
	Offset int64  `json:"offset"`
}

// EncodeCheckpoints is the pruned row's encoding of cps.
func EncodeCheckpoints(cps []store.Checkpoint) ([]byte, error) {
	rows := make([]checkpointRow, len(cps))
	for i, cp := range cps {
		rows[i] = checkpointRow{Source: []byte(cp.Source), Dev: cp.File.Dev, Inode: cp.File.Inode,
			FPLen: cp.File.FPLen, FP: cp.File.FP, Offset: cp.Offset}
	}
	return json.Marshal(rows)
}

// DecodeCheckpoints reads a pruned row's checkpoints; nil (a removal
// recorded before they were kept) is none.
func DecodeCheckpoints(b []byte) ([]store.Checkpoint, error) {
	if b == nil {
		return nil, nil
	}
	var rows []checkpointRow
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("stored checkpoints of a removal: %w", err)
	}
	cps := make([]store.Checkpoint, len(rows))
	for i, r := range rows {
		cps[i] = store.Checkpoint{Source: string(r.Source), Offset: r.Offset,
			File: store.FileID{Dev: r.Dev, Inode: r.Inode, FPLen: r.FPLen, FP: r.FP}}
	}
	return cps, nil
}
