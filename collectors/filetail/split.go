package filetail

import (
	"bytes"

	"github.com/offbox/offbox/collectors"
)

// nextLine finds the first record in data, a window of a file that starts on
// a line (or line piece) boundary. It is pure: reading files is elsewhere.
//
// It returns the record's body (aliasing data, without the newline), how many
// bytes of data the record covers (with its newline), its flags and ok=true.
// It returns ok=false when data holds only the start of a line that may still
// grow: no newline yet, at most maxLen bytes, and final not set.
//
// A line longer than maxLen comes back as pieces of exactly maxLen bytes
// flagged FlagPartial, then the rest up to the newline, unflagged. With final
// set (the file ended: rotated or truncated) an unterminated tail comes back
// flagged FlagNoNewline. maxLen must be positive.
func nextLine(data []byte, maxLen int, final bool) (body []byte, n int, flags uint32, ok bool) {
	// Searching past maxLen+1 bytes is wasted work: a longer line is cut
	// at maxLen whatever follows, and a newline right after maxLen bytes
	// still ends the line in one piece.
	window := data
	if len(window) > maxLen {
		window = window[:maxLen+1]
	}
	if i := bytes.IndexByte(window, '\n'); i >= 0 {
		return data[:i], i + 1, 0, true
	}
	if len(data) > maxLen {
		return data[:maxLen], maxLen, collectors.FlagPartial, true
	}
	if final && len(data) > 0 {
		return data, len(data), collectors.FlagNoNewline, true
	}
	return nil, 0, 0, false
}
