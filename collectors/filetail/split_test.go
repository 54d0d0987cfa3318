package filetail

import (
	"bytes"
	"testing"

	"github.com/offbox/offbox/collectors"
)

type piece struct {
	body  string
	flags uint32
}

const (
	partial   = collectors.FlagPartial
	noNewline = collectors.FlagNoNewline
)

// splitTable is shared by TestNextLine and the seeds of FuzzSplitLines.
var splitTable = []struct {
	name  string
	in    string
	max   int
	final bool
	want  []piece
	rest  string // left unsplit (final false only)
}{
	{name: "empty", in: "", max: 8},
	{name: "one line", in: "hello\n", max: 8, want: []piece{{"hello", 0}}},
	{name: "empty lines", in: "\n\n", max: 8, want: []piece{{"", 0}, {"", 0}}},
	{name: "crlf kept", in: "a\r\nb\r\n", max: 8, want: []piece{{"a\r", 0}, {"b\r", 0}}},
	{name: "invalid utf8 and nul", in: "\xff\xfe\x00z\n", max: 8, want: []piece{{"\xff\xfe\x00z", 0}}},
	{name: "exactly max", in: "12345678\n", max: 8, want: []piece{{"12345678", 0}}},
	{name: "max plus one", in: "123456789\n", max: 8, want: []piece{{"12345678", partial}, {"9", 0}}},
	{name: "twice max", in: "1234567812345678\n", max: 8, want: []piece{{"12345678", partial}, {"12345678", 0}}},
	{name: "long then short", in: "abcdefghijk\nxy\n", max: 4,
		want: []piece{{"abcd", partial}, {"efgh", partial}, {"ijk", 0}, {"xy", 0}}},
	{name: "partial held", in: "a\nbc", max: 8, want: []piece{{"a", 0}}, rest: "bc"},
	{name: "partial of max held", in: "12345678", max: 8, rest: "12345678"},
	{name: "long partial split before newline", in: "123456789", max: 4,
		want: []piece{{"1234", partial}, {"5678", partial}}, rest: "9"},
	{name: "final partial", in: "a\nbc", max: 8, final: true, want: []piece{{"a", 0}, {"bc", noNewline}}},
	{name: "final long partial", in: "abcdefghij", max: 4, final: true,
		want: []piece{{"abcd", partial}, {"efgh", partial}, {"ij", noNewline}}},
	{name: "max one", in: "ab\n\nc", max: 1, final: true,
		want: []piece{{"a", partial}, {"b", 0}, {"", 0}, {"c", noNewline}}},
}

// splitAll applies nextLine until it asks for more bytes.
func splitAll(data []byte, max int, final bool) (pieces []piece, rest []byte) {
	for {
		body, n, flags, ok := nextLine(data, max, final)
		if !ok {
			return pieces, data
		}
		if n <= 0 || n > len(data) {
			panic("nextLine consumed out of range")
		}
		pieces = append(pieces, piece{string(body), flags})
		data = data[n:]
	}
}

func TestNextLine(t *testing.T) {
	t.Parallel()
	for _, tc := range splitTable {
		t.Run(tc.name, func(t *testing.T) {
			got, rest := splitAll([]byte(tc.in), tc.max, tc.final)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d pieces %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("piece %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			if string(rest) != tc.rest {
				t.Errorf("rest: got %q, want %q", rest, tc.rest)
			}
		})
	}
}

// FuzzSplitLines checks that splitting loses and invents nothing: the pieces
// with a newline after each unflagged one give back the input, no piece is
// longer than max, only the last piece may lack its newline, and splitting in
// two steps (as reads do) gives the same pieces as in one.
func FuzzSplitLines(f *testing.F) {
	for _, tc := range splitTable {
		f.Add([]byte(tc.in), uint16(tc.max), uint16(len(tc.in)/2))
	}
	f.Fuzz(func(t *testing.T, in []byte, max16, cut16 uint16) {
		max := int(max16%4096) + 1
		pieces, rest := splitAll(in, max, true)
		if len(rest) != 0 {
			t.Fatalf("final split left %q", rest)
		}
		var back []byte
		for i, p := range pieces {
			if len(p.body) > max {
				t.Fatalf("piece %d is %d bytes, max %d", i, len(p.body), max)
			}
			switch p.flags {
			case 0:
				back = append(append(back, p.body...), '\n')
			case partial:
				if len(p.body) != max {
					t.Fatalf("partial piece %d is %d bytes, want max %d", i, len(p.body), max)
				}
				back = append(back, p.body...)
			case noNewline:
				if i != len(pieces)-1 {
					t.Fatalf("piece %d of %d flagged no-newline", i, len(pieces))
				}
				back = append(back, p.body...)
			default:
				t.Fatalf("piece %d has flags %d", i, p.flags)
			}
		}
		if !bytes.Equal(back, in) {
			t.Fatalf("pieces give %q, want %q", back, in)
		}

		// Two steps: what the first leaves is carried into the second.
		cut := int(cut16) % (len(in) + 1)
		first, carry := splitAll(in[:cut], max, false)
		if len(carry) > max {
			t.Fatalf("held %d bytes, more than max %d", len(carry), max)
		}
		second, _ := splitAll(append(append([]byte(nil), carry...), in[cut:]...), max, true)
		two := append(first, second...)
		if len(two) != len(pieces) {
			t.Fatalf("two-step split gave %d pieces, one-step %d", len(two), len(pieces))
		}
		for i := range two {
			if two[i] != pieces[i] {
				t.Fatalf("two-step piece %d %+v, one-step %+v", i, two[i], pieces[i])
			}
		}
	})
}
