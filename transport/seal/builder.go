package seal

// Builder encodes the records of one batch, each once, as it is added, into
// a buffer that keeps HeaderRoom bytes in front for SealInPlace. Each
// distinct source and file identity is written once per batch, in the
// batch's tables (Batch fields 3 and 4, after the records), and every record
// refers to it by its 1-based position (Record.source_ref,
// FileRange.file_ref), instead of repeating a source string and a 50-byte
// file identity per line. Adding a record allocates nothing once the
// tables have seen its source and file.
//
// The zero Builder is ready for Reset. It is not safe for concurrent use.
type Builder struct {
	base    []byte // the buffer of Reset, nil before
	recs    []byte // the encoded records, normally base[HeaderRoom:]
	count   int    // records
	tabs    []byte // the encoded table entries, in ref order per table
	sources map[string]uint32
	files   map[fileKey]uint32

	// The last ref looked up in each table: lines come in runs from one file.
	lastSource    string
	lastSourceRef uint32 // 0: none
	lastFile      fileKey
	lastFileRef   uint32 // 0: none

	undo undo     // what the last Add did, for Undo
	head lineHead // AddLine's last time and kind fields
	gen  uint64   // counts the changes that void a LineRun: a new batch, an entry undone
}

// fileKey is a file identity as the file table keys it. A fingerprint
// longer than fpMax is not tabled: its records carry their identity inline.
type fileKey struct {
	dev, inode uint64
	fpLen      uint32
	fpN        uint8 // bytes of fp used
	fp         [fpMax]byte
}

// fpMax is the fingerprint size the table keys: a SHA-256.
const fpMax = 32

// undo is what Undo needs to take back the last Add: the lengths before
// it, and whether it added the last source and file looked up (which the
// last* fields then name).
type undo struct {
	ok                 bool
	recs, tabs         int
	newSource, newFile bool
}

// RefsMax bounds the bytes that a record's two ref fields (source_ref,
// file_ref) add to its encoding: tag and 5-byte varint each.
const RefsMax = 2 * 6

// Reset starts a new batch whose records go into buf after its first
// HeaderRoom bytes. The tables are emptied, keeping their memory.
func (b *Builder) Reset(buf []byte) {
	b.base = buf
	b.recs = nil
	if len(buf) >= HeaderRoom {
		b.recs = buf[HeaderRoom:HeaderRoom]
	}
	b.count = 0
	b.tabs = b.tabs[:0]
	clear(b.sources)
	clear(b.files)
	b.lastSourceRef, b.lastFileRef = 0, 0
	b.undo = undo{}
	b.gen++
}

// Len is the number of bytes of the batch body so far: records and tables.
func (b *Builder) Len() int { return len(b.recs) + len(b.tabs) }

// Count is the number of records added since Reset.
func (b *Builder) Count() int { return b.count }

func keyOf(f *WireFileRange) (k fileKey, ok bool) {
	if len(f.FP) > fpMax {
		return k, false
	}
	k = fileKey{dev: f.Dev, inode: f.Inode, fpLen: f.FPLen, fpN: uint8(len(f.FP))}
	copy(k.fp[:], f.FP)
	return k, true
}

func (b *Builder) sourceRef(s string) uint32 {
	if b.lastSourceRef != 0 && s == b.lastSource {
		return b.lastSourceRef
	}
	return b.sources[s]
}

func (b *Builder) fileRef(k *fileKey) uint32 {
	if b.lastFileRef != 0 && *k == b.lastFile {
		return b.lastFileRef
	}
	return b.files[*k]
}

// isLastFile reports whether f has the identity of the last file looked up,
// without building its key: the per-line case.
func (b *Builder) isLastFile(f *WireFileRange) bool {
	l := &b.lastFile
	return b.lastFileRef != 0 && f.Inode == l.inode && f.Dev == l.dev && f.FPLen == l.fpLen &&
		len(f.FP) == int(l.fpN) && string(f.FP) == string(l.fp[:l.fpN])
}

// Grow returns the number of bytes Add(r) would add (the record with its
// refs, and the table entries it would add), changing nothing.
func (b *Builder) Grow(r *WireRecord) int {
	wr := *r
	growth := 0
	if wr.Source != "" {
		ref := b.sourceRef(wr.Source)
		if ref == 0 {
			ref = uint32(len(b.sources) + 1)
			growth += SourceSize(wr.Source)
		}
		wr.Source, wr.SourceRef = "", ref
	}
	if wr.File != nil {
		if k, ok := keyOf(wr.File); ok {
			f := *wr.File
			f.FileRef = b.fileRef(&k)
			if f.FileRef == 0 {
				f.FileRef = uint32(len(b.files) + 1)
				growth += FileSize(&f)
			}
			wr.File = &f
		}
	}
	return RecordSize(&wr) + growth
}

// Add encodes r as the next record of the batch, referring to the tables
// for its source and file identity (adding the entries they lack), and
// returns the number of bytes the batch grew by. r (and its File) is
// changed during the call and restored before it returns.
func (b *Builder) Add(r *WireRecord) int {
	if b.sources == nil {
		b.sources, b.files = map[string]uint32{}, map[fileKey]uint32{}
	}
	u := undo{ok: true, recs: len(b.recs), tabs: len(b.tabs)}
	var sourceRef uint32
	if s := r.Source; s != "" {
		sourceRef = b.sourceRef(s)
		if sourceRef == 0 {
			sourceRef = uint32(len(b.sources) + 1)
			b.sources[s] = sourceRef
			b.tabs = AppendSource(b.tabs, s)
			u.newSource = true
		}
		b.lastSource, b.lastSourceRef = s, sourceRef
	}
	var fileRef uint32
	if f := r.File; f != nil {
		if b.isLastFile(f) {
			fileRef = b.lastFileRef
		} else if k, ok := keyOf(f); ok {
			fileRef = b.files[k]
			if fileRef == 0 {
				fileRef = uint32(len(b.files) + 1)
				b.files[k] = fileRef
				b.tabs = AppendFile(b.tabs, f)
				u.newFile = true
			}
			b.lastFile, b.lastFileRef = k, fileRef
		}
	}
	// The record is encoded referring to the tables by setting its ref
	// fields for the call, not by copying it: this is the per-line path.
	source, srcRef := r.Source, r.SourceRef
	if sourceRef != 0 {
		r.Source, r.SourceRef = "", sourceRef
	}
	var fref uint32
	if fileRef != 0 {
		fref = r.File.FileRef
		r.File.FileRef = fileRef
	}
	b.recs = AppendRecord(b.recs, r)
	r.Source, r.SourceRef = source, srcRef
	if fileRef != 0 {
		r.File.FileRef = fref
	}
	b.count++
	b.undo = u
	return len(b.recs) - u.recs + len(b.tabs) - u.tabs
}

// AddLine is Add for the record that fills most batches: a line of the
// file the line before it came from. When r carries no attributes and no
// refs, and its source and file identity are the last ones Add looked up,
// it is encoded referring to them, without the table lookups, and AddLine
// returns the bytes the batch grew by (Undo takes it back as it would an
// Add). Otherwise it adds nothing and ok is false: use Add. r is not
// changed.
func (b *Builder) AddLine(r *WireRecord) (grew int, ok bool) {
	if !b.isLine(r) {
		return 0, false
	}
	c := lineFields{timeNs: r.TimeNs, kind: r.Kind, sourceRef: b.lastSourceRef, fileRef: b.lastFileRef}
	return b.addLine(&c, r.Body, r.Flags, r.File.Start, r.File.End), true
}

// isLine reports whether AddLine takes r.
func (b *Builder) isLine(r *WireRecord) bool {
	f := r.File
	return f != nil && len(r.Attrs) == 0 && r.SourceRef == 0 && f.FileRef == 0 && b.lastSourceRef != 0 &&
		r.Source == b.lastSource && b.isLastFile(f)
}

func (b *Builder) addLine(c *lineFields, body []byte, flags uint32, start, end int64) int {
	n := len(b.recs)
	b.recs = appendLine(b.recs, c, &b.head, body, flags, start, end)
	b.count++
	b.undo = undo{ok: true, recs: n, tabs: len(b.tabs)}
	return len(b.recs) - n
}

// Undo takes back the last Add (once): its record and the table entries it
// added.
func (b *Builder) Undo() {
	u := b.undo
	if !u.ok {
		return
	}
	b.undo = undo{}
	if u.newSource || u.newFile {
		b.gen++
	}
	if u.newSource {
		delete(b.sources, b.lastSource)
		b.lastSourceRef = 0
	}
	if u.newFile {
		delete(b.files, b.lastFile)
		b.lastFileRef = 0
	}
	b.tabs = b.tabs[:u.tabs]
	b.recs = b.recs[:u.recs]
	if u.recs == 0 && len(b.base) >= HeaderRoom {
		b.recs = b.base[HeaderRoom:HeaderRoom] // an oversized record may have moved recs out of base
	}
	b.count--
}

// Close ends the batch: it appends the tables to the records (inside the
// buffer: a caller that cuts batches by Len leaves room for them) and
// returns the body, ready for SealInPlace (or Seal). The Builder lets go of
// the buffer and is ready for the next Reset.
func (b *Builder) Close() []byte {
	body := b.recs
	if len(b.tabs) > 0 {
		body = append(body, b.tabs...)
	}
	b.Reset(nil)
	return body
}
