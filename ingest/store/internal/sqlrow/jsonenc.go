package sqlrow

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/offbox/offbox/ingest/store"
)

// Alert columns are encoded by hand, byte for byte as encoding/json would
// (keys sorted, the same escaping): json.Marshal of a map sorts its keys
// through reflection and was a fifth of the allocations of a detection
// round (BenchmarkRunnerRealistic). TestEncodeLikeJSON holds the two
// together; FuzzEncodeLikeJSON feeds them hostile strings.

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

// appendRefs appends refs as a JSON array of AlertRef objects; nil is [].
func appendRefs(b []byte, refs []store.AlertRef) []byte {
	b = append(b, '[')
	for i, r := range refs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"device":`...)
		b = appendJSONString(b, r.Device)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, r.Seq, 10)
		b = append(b, `,"index":`...)
		b = strconv.AppendInt(b, int64(r.Index), 10)
		b = append(b, '}')
	}
	return append(b, ']')
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
