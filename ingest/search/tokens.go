package search

import (
	"errors"
	"regexp/syntax"
)

// A token is a maximal run of token bytes: ASCII letters, digits and '_',
// and every byte of a multi-byte UTF-8 character. Tokens are compared
// lower-cased (ASCII only); tokens shorter than minToken are not indexed,
// nor asked about (nearly every batch holds them anyway).
const minToken = 2

func isTokenByte(c byte) bool { return tokenTable[c] != 0 }

// tokenTable maps a token byte to itself lower-cased, any other to 0.
var tokenTable = func() (t [256]byte) {
	for c := range 256 {
		b := byte(c)
		if b >= 0x80 || b == '_' || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') {
			t[c] = b
		} else if b >= 'A' && b <= 'Z' {
			t[c] = b + 32
		}
	}
	return t
}()

func lowerASCII(dst, src []byte) []byte {
	n := len(dst)
	dst = append(dst, src...)
	for i := n; i < len(dst); i++ {
		if c := dst[i]; c >= 'A' && c <= 'Z' {
			dst[i] = c + 32
		}
	}
	return dst
}

// FNV-1a, 64 bits, of the lower-cased token: stable across processes and
// versions, since filters are stored.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// eachToken calls fn with the hash of every token of b of at least
// minToken bytes.
func eachToken(b []byte, fn func(h uint64)) {
	h, n := uint64(fnvOffset), 0
	for _, c := range b {
		if l := tokenTable[c]; l != 0 {
			h = (h ^ uint64(l)) * fnvPrime
			n++
			continue
		}
		if n >= minToken {
			fn(h)
		}
		h, n = fnvOffset, 0
	}
	if n >= minToken {
		fn(h)
	}
}

func tokenHash(tok string) uint64 {
	var h uint64
	eachToken([]byte(tok), func(x uint64) { h = x })
	return h
}

// wordTokens are the tokens of a word or phrase that a filter can be asked
// about: all of them are whole tokens of any line the word matches. Tokens
// with non-ASCII bytes are left out (their case is not folded the same way
// in the line and in the query).
func wordTokens(text string) []string {
	return splitTokens(text, true, true)
}

// splitTokens returns the ASCII tokens of s of at least minToken bytes;
// the first (last) only if bounded says it is a whole token in any match.
func splitTokens(s string, boundedStart, boundedEnd bool) []string {
	var out []string
	i := 0
	for i < len(s) {
		if !isTokenByte(s[i]) {
			i++
			continue
		}
		j := i
		ascii := true
		for j < len(s) && isTokenByte(s[j]) {
			if s[j] >= 0x80 {
				ascii = false
			}
			j++
		}
		whole := (i > 0 || boundedStart) && (j < len(s) || boundedEnd)
		if whole && ascii && j-i >= minToken {
			out = append(out, string(lowerASCII(nil, []byte(s[i:j]))))
		}
		i = j
	}
	return out
}

// regexTokens are tokens every match of the pattern must hold as whole
// tokens: those inside a literal the pattern requires, bounded within the
// literal by non-token characters (or by \b). Under case folding a token
// holding k or s is left out: (?i)k also matches the Kelvin sign, which
// tokenizes differently.
func regexTokens(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var out []string
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			out = append(out, literalTokens(r, false, false)...)
		case syntax.OpCapture:
			walk(r.Sub[0])
		case syntax.OpPlus:
			walk(r.Sub[0])
		case syntax.OpRepeat:
			if r.Min >= 1 {
				walk(r.Sub[0])
			}
		case syntax.OpConcat:
			for i, sub := range r.Sub {
				if sub.Op == syntax.OpLiteral {
					start := i > 0 && r.Sub[i-1].Op == syntax.OpWordBoundary
					end := i+1 < len(r.Sub) && r.Sub[i+1].Op == syntax.OpWordBoundary
					out = append(out, literalTokens(sub, start, end)...)
					continue
				}
				walk(sub)
			}
		}
	}
	walk(re)
	return out
}

func literalTokens(r *syntax.Regexp, boundedStart, boundedEnd bool) []string {
	toks := splitTokens(string(r.Rune), boundedStart, boundedEnd)
	if r.Flags&syntax.FoldCase == 0 {
		return toks
	}
	kept := toks[:0]
	for _, t := range toks {
		if !containsAny(t, "ks") {
			kept = append(kept, t)
		}
	}
	return kept
}

func containsAny(s, chars string) bool {
	for i := 0; i < len(s); i++ {
		for j := 0; j < len(chars); j++ {
			if s[i] == chars[j] {
				return true
			}
		}
	}
	return false
}

// A filter is a Bloom filter of a batch's tokens: byte 0 the format
// (filterV1), byte 1 the number of probes, then the bit array (a multiple
// of 64 bits, little-endian words). About 10 bits a distinct token and 6
// probes: about 1 % false positives.
const (
	filterV1      = 1
	filterProbes  = 6
	bitsPerToken  = 10
	filterMinBits = 64
)

// FilterBuilder builds filters; it keeps its buffers between batches.
type FilterBuilder struct {
	set hashSet
}

// Add adds the tokens of one line.
func (fb *FilterBuilder) Add(line []byte) { eachToken(line, fb.set.add) }

// Finish returns the filter of the lines added since the last Finish.
func (fb *FilterBuilder) Finish() []byte {
	n := fb.set.n
	bits := max(filterMinBits, (n*bitsPerToken+63)/64*64)
	out := make([]byte, 2+bits/8)
	out[0], out[1] = filterV1, filterProbes
	words := out[2:]
	for _, h := range fb.set.slots {
		if h != 0 {
			setProbes(words, uint64(bits), h)
		}
	}
	if fb.set.zero {
		setProbes(words, uint64(bits), 0)
	}
	fb.set.reset()
	return out
}

func setProbes(words []byte, bits, h uint64) {
	h1, h2 := h, (h>>33|h<<31)|1
	for i := range uint64(filterProbes) {
		p := (h1 + i*h2) % bits
		words[p/8] |= 1 << (p % 8)
	}
}

// errFilter is a stored filter this version cannot read: the batch is
// scanned as if it had none.
var errFilter = errors.New("search: unreadable filter")

// filterHas reports whether filter f may hold every token (by hash).
func filterHas(f []byte, hashes []uint64) (bool, error) {
	if len(f) < 2+filterMinBits/8 || f[0] != filterV1 || (len(f)-2)%8 != 0 || f[1] == 0 || f[1] > 32 {
		return true, errFilter
	}
	words := f[2:]
	bits := uint64(len(words)) * 8
	k := uint64(f[1])
	for _, h := range hashes {
		h1, h2 := h, (h>>33|h<<31)|1
		for i := range k {
			p := (h1 + i*h2) % bits
			if words[p/8]&(1<<(p%8)) == 0 {
				return false, nil
			}
		}
	}
	return true, nil
}

// hashSet is a set of token hashes with open addressing (0 held apart).
type hashSet struct {
	slots []uint64
	n     int
	zero  bool
}

func (s *hashSet) add(h uint64) {
	if h == 0 {
		if !s.zero {
			s.zero = true
			s.n++
		}
		return
	}
	if (s.n+1)*2 > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return
		case 0:
			s.slots[i] = h
			s.n++
			return
		}
	}
}

func (s *hashSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(1024, 2*len(old)))
	s.n = 0
	if s.zero {
		s.n = 1
	}
	for _, h := range old {
		if h != 0 {
			s.add(h)
		}
	}
}

func (s *hashSet) reset() {
	clear(s.slots)
	s.n, s.zero = 0, false
}
