package journal

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Entry is the part of one journal entry the collector keeps.
type Entry struct {
	Cursor     string // __CURSOR
	Realtime   time.Time
	Message    []byte // MESSAGE, byte-exact (binary in the export format)
	Unit       string // _SYSTEMD_UNIT
	Priority   string // PRIORITY
	PID        string // _PID
	UID        string // _UID
	BootID     string // _BOOT_ID
	Identifier string // SYSLOG_IDENTIFIER
}

// maxFieldBytes bounds one field's value: a corrupt length must not make
// the agent allocate gigabytes. journald itself caps entries well below it.
const maxFieldBytes = 64 << 20

// errEntryTooLarge is returned for a field over maxFieldBytes.
var errEntryTooLarge = errors.New("journal: field too large")

// Decoder reads journal entries in journalctl's export format
// (https://systemd.io/JOURNAL_EXPORT_FORMATS/): fields NAME=value\n, or
// NAME\n, a 64-bit little-endian length, the bytes and \n for values that
// are binary or hold a newline; an empty line ends an entry. It is pure
// parsing over a reader.
type Decoder struct {
	r   *bufio.Reader
	val []byte
}

// NewDecoder reads entries from r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next entry; io.EOF when r ended between entries,
// io.ErrUnexpectedEOF inside one.
func (d *Decoder) Next() (Entry, error) {
	var e Entry
	fields := 0
	for {
		line, err := d.readLine()
		if err != nil {
			if err == io.EOF && fields > 0 {
				err = io.ErrUnexpectedEOF
			}
			return e, err
		}
		if len(line) == 0 {
			if fields == 0 {
				continue // tolerate extra blank lines
			}
			return e, nil
		}
		fields++
		var name string
		var val []byte
		if i := bytes.IndexByte(line, '='); i >= 0 {
			name, val = string(line[:i]), line[i+1:]
		} else {
			name = string(line)
			if val, err = d.readBinary(); err != nil {
				return e, err
			}
		}
		if err := e.set(name, val); err != nil {
			return e, err
		}
	}
}

// readLine reads one line without its newline; the slice is valid until
// the next read.
func (d *Decoder) readLine() ([]byte, error) {
	d.val = d.val[:0]
	for {
		frag, err := d.r.ReadSlice('\n')
		d.val = append(d.val, frag...)
		if len(d.val) > maxFieldBytes {
			return nil, errEntryTooLarge
		}
		switch err {
		case nil:
			return d.val[:len(d.val)-1], nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if len(d.val) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

func (d *Decoder) readBinary() ([]byte, error) {
	var n [8]byte
	if _, err := io.ReadFull(d.r, n[:]); err != nil {
		return nil, unexpected(err)
	}
	size := binary.LittleEndian.Uint64(n[:])
	if size > maxFieldBytes {
		return nil, errEntryTooLarge
	}
	if uint64(cap(d.val)) < size+1 {
		d.val = make([]byte, size+1)
	}
	d.val = d.val[:size+1]
	if _, err := io.ReadFull(d.r, d.val); err != nil {
		return nil, unexpected(err)
	}
	if d.val[size] != '\n' {
		return nil, errors.New("journal: binary field not followed by a newline")
	}
	return d.val[:size], nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (e *Entry) set(name string, val []byte) error {
	switch name {
	case "__CURSOR":
		e.Cursor = string(val)
	case "__REALTIME_TIMESTAMP":
		us, err := strconv.ParseInt(string(val), 10, 64)
		if err != nil || us < 0 {
			return fmt.Errorf("journal: bad __REALTIME_TIMESTAMP %q", val)
		}
		e.Realtime = time.UnixMicro(us)
	case "MESSAGE":
		e.Message = bytes.Clone(val)
	case "_SYSTEMD_UNIT":
		e.Unit = string(val)
	case "PRIORITY":
		e.Priority = string(val)
	case "_PID":
		e.PID = string(val)
	case "_UID":
		e.UID = string(val)
	case "_BOOT_ID":
		e.BootID = string(val)
	case "SYSLOG_IDENTIFIER":
		e.Identifier = string(val)
	}
	return nil
}

// Position is where an entry sits in the journal's sequence: the id of the
// sequence number space (s= in a cursor) and the number in it (i=).
type Position struct {
	SeqnumID [16]byte
	Seqnum   uint64
}

// ParseCursor reads the s= and i= parts of a journal cursor
// ("s=…;i=…;b=…;m=…;t=…;x=…").
func ParseCursor(c string) (Position, bool) {
	var p Position
	var haveS, haveI bool
	for _, part := range strings.Split(c, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch k {
		case "s":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != 16 {
				return p, false
			}
			copy(p.SeqnumID[:], b)
			haveS = true
		case "i":
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return p, false
			}
			p.Seqnum, haveI = n, true
		}
	}
	return p, haveS && haveI
}

// Cursor is a partial cursor naming p, which journalctl --after-cursor
// accepts (it seeks by sequence number when s= and i= are given).
func (p Position) Cursor() string {
	return "s=" + hex.EncodeToString(p.SeqnumID[:]) + ";i=" + strconv.FormatUint(p.Seqnum, 16)
}
