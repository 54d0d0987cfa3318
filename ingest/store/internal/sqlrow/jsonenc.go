package sqlrow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
)

// Alert columns are encoded by hand, byte for byte as encoding/json would
// (keys sorted, the same escaping): json.Marshal of a map sorts its keys
// through reflection and was a fifth of the allocations of a detection
// round (BenchmarkRunnerRealistic). TestEncodeLikeJSON holds the two
// together (and evidence to its decoder); FuzzEncodeLikeJSON feeds them
// hostile strings.

// appendStringMap appends m as a JSON object with sorted keys; nil is {}.
func appendStringMap(b []byte, m map[string]string) []byte {
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

// appendRefs appends refs as the evidence column: a JSON array with, for
// each ref, [seq,index] when its device is device (the alert's own, as
// nearly all are) and [seq,index,"device"] otherwise; nil is []. An alert
// row is rewritten every detection round that touches its group, and
// evidence was most of the row as {"device":…,"seq":…,"index":…}
// objects (which decodeRefs still reads): about 8 bytes a ref instead of
// 40 is that much less to journal and write to the WAL per round.
func appendRefs(b []byte, device string, refs []store.AlertRef) []byte {
	b = append(b, '[')
	for i, r := range refs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendUint(b, r.Seq, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.Index), 10)
		if r.Device != device {
			b = append(b, ',')
			b = appendJSONString(b, r.Device)
		}
		b = append(b, ']')
	}
	return append(b, ']')
}

// decodeRefs reads an evidence column appendRefs wrote for an alert of
// device, or one written before as a JSON array of AlertRef objects.
func decodeRefs(device, src string) ([]store.AlertRef, error) {
	var rows []json.RawMessage
	if err := json.Unmarshal([]byte(src), &rows); err != nil {
		return nil, err
	}
	refs := make([]store.AlertRef, len(rows))
	for i, row := range rows {
		if len(row) > 0 && row[0] == '{' {
			if err := json.Unmarshal(row, &refs[i]); err != nil {
				return nil, err
			}
			continue
		}
		var parts []json.RawMessage
		if err := json.Unmarshal(row, &parts); err != nil {
			return nil, err
		}
		if len(parts) != 2 && len(parts) != 3 {
			return nil, fmt.Errorf("ref %d: %d values, want 2 or 3", i+1, len(parts))
		}
		r := &refs[i]
		r.Device = device
		if err := json.Unmarshal(parts[0], &r.Seq); err != nil {
			return nil, fmt.Errorf("ref %d: seq: %w", i+1, err)
		}
		if err := json.Unmarshal(parts[1], &r.Index); err != nil {
			return nil, fmt.Errorf("ref %d: index: %w", i+1, err)
		}
		if len(parts) == 3 {
			if err := json.Unmarshal(parts[2], &r.Device); err != nil {
				return nil, fmt.Errorf("ref %d: device: %w", i+1, err)
			}
		}
	}
	return refs, nil
}

// appendJSONString appends s quoted as encoding/json does: printable
// ASCII other than ", \, <, > and & as it is; anything else through
// encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil { // a string always encodes
				panic(err)
			}
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
