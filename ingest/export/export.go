// Package export writes stored records for people and scripts: one JSON
// object a line (the contract scripts and tests rely on), or one readable
// line each. Bodies are byte-exact: valid UTF-8 is written as text, anything
// else as base64, so nothing is lost or altered on the way out. It only
// reads; it never writes to a store.
package export

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
	"github.com/offbox/offbox/internal/recordkind"
	offboxv1 "github.com/offbox/offbox/transport/proto/offbox/v1"
)

// TimeFormat is RFC 3339 in UTC with all nine digits of nanoseconds, so
// times sort as text.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// KindName is a kind's name as written: "log", "heartbeat" ... (the names
// of internal/recordkind), or the number of a kind this version does not
// know. queryarg.ParseKind reads it back.
func KindName(k offboxv1.Kind) string { return recordkind.WireName(int32(k)) }

// FlagNames names the bits of a record's flags: "partial", "no_newline",
// and "bitN" for a bit this version has no name for.
func FlagNames(flags uint32) []string {
	names := []string{}
	for flags != 0 {
		bit := uint32(1) << bits.TrailingZeros32(flags)
		flags &^= bit
		if n, ok := offboxv1.Flag_name[int32(bit)]; ok {
			names = append(names, strings.ToLower(strings.TrimPrefix(n, "FLAG_")))
		} else {
			names = append(names, "bit"+strconv.Itoa(bits.TrailingZeros32(bit)))
		}
	}
	return names
}

// JSONRecord is one line of `records -json`.
type JSONRecord struct {
	Device       string            `json:"device"`
	Via          string            `json:"via,omitempty"` // an appliance's record: the relay that carried and signed it
	Source       string            `json:"source"`
	Kind         string            `json:"kind"`
	Seq          uint64            `json:"seq"`
	Index        int               `json:"index"`
	DeviceTime   string            `json:"device_time"`
	ReceivedTime string            `json:"received_time"`
	Body         *string           `json:"body,omitempty"`
	BodyBase64   string            `json:"body_base64,omitempty"`
	BodyEncoding string            `json:"body_encoding,omitempty"`
	Flags        []string          `json:"flags"`
	Attrs        map[string]string `json:"attrs"`
	FileStart    *int64            `json:"file_start,omitempty"`
	FileEnd      *int64            `json:"file_end,omitempty"`
}

// ToJSON converts a stored record.
func ToJSON(r *store.Record) *JSONRecord {
	j := &JSONRecord{
		Device: r.Device, Via: r.Via, Source: r.GetSource(), Kind: KindName(r.GetKind()), Seq: r.Seq, Index: r.Index,
		DeviceTime:   time.Unix(0, r.GetTimeNs()).UTC().Format(TimeFormat),
		ReceivedTime: r.Received.UTC().Format(TimeFormat),
		Flags:        FlagNames(r.GetFlags()),
		Attrs:        make(map[string]string, len(r.GetAttrs())),
	}
	if body := r.GetBody(); utf8.Valid(body) {
		s := string(body)
		j.Body = &s
	} else {
		j.BodyBase64, j.BodyEncoding = base64.StdEncoding.EncodeToString(body), "base64"
	}
	for _, a := range r.GetAttrs() {
		j.Attrs[a.GetKey()] = a.GetValue()
	}
	if f := r.GetFile(); f != nil {
		start, end := f.GetStart(), f.GetEnd()
		j.FileStart, j.FileEnd = &start, &end
	}
	return j
}

// Text is the readable one-line form: time, device, source, body. A body,
// device or source that is not printable text is quoted, so one record
// stays one line and no escape sequence reaches the terminal.
func Text(r *store.Record) string {
	return fmt.Sprintf("%s %s %s %s", time.Unix(0, r.GetTimeNs()).UTC().Format(TimeFormat), clean(r.Device), clean(r.GetSource()),
		clean(string(r.GetBody())))
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r != '\t' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Format selects how Write writes records.
type Format int

const (
	FormatText Format = iota
	FormatJSON
)

// Write writes the records of q to w and returns how many: as JSON one a
// line, or as text in the form of Readable (detail lines of a record start
// with four spaces).
func Write(ctx context.Context, r store.Reader, q store.RecordQuery, f Format, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	for rec, err := range r.Records(ctx, q) {
		if err != nil {
			bw.Flush()
			return n, err
		}
		if f == FormatJSON {
			err = enc.Encode(ToJSON(&rec))
		} else {
			_, err = fmt.Fprintln(bw, Readable(&rec))
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, bw.Flush()
}
