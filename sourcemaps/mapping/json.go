package mapping

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A hand-written JSON reader instead of encoding/json: a source map is one
// huge "mappings" string plus a few string arrays, and encoding/json would
// copy and re-scan every byte of it (several times slower than the VLQ
// decoding itself). This reader walks the document once, hands out the raw
// bytes of "mappings" without copying, and copies only the strings the Map
// keeps into a single arena.

// maxDepth bounds nesting of skipped values, so hostile input cannot
// exhaust the stack.
const maxDepth = 512

type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, fmt.Sprintf(format, args...), s.pos)
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at end of input.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.pos >= len(s.data) {
			return s.errorf("unexpected end of JSON, want %q", c)
		}
		return s.errorf("want %q, got %q", c, s.data[s.pos])
	}
	s.pos++
	return nil
}

func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.errorf("invalid literal")
	}
	s.pos += len(word)
	return nil
}

// rawString consumes a JSON string and returns its bytes between the
// quotes, still escaped, and whether it contains escapes. The escapes are
// validated here so unescape cannot fail later. Strings such as "mappings"
// and sourcesContent are megabytes long, so each step is a vectorised
// search (bytes.IndexByte) or a word-at-a-time check, not a byte loop.
func (s *scanner) rawString() (raw []byte, escaped bool, err error) {
	if err := s.expect('"'); err != nil {
		return nil, false, err
	}
	start := s.pos
	d := s.data
	for i := start; ; {
		j := bytes.IndexByte(d[i:], '"')
		if j < 0 {
			s.pos = len(d)
			return nil, false, s.errorf("unterminated string")
		}
		q := i + j
		k := q
		for k > start && d[k-1] == '\\' {
			k--
		}
		if (q-k)%2 == 0 { // an even run of backslashes escapes itself, not the quote
			raw = d[start:q]
			break
		}
		i = q + 1
	}
	if at := firstControl(raw); at >= 0 {
		s.pos = start + at
		return nil, false, s.errorf("control character in string")
	}
	for p := bytes.IndexByte(raw, '\\'); p >= 0; {
		escaped = true
		n := 2
		switch raw[p+1] { // p+1 exists: a final backslash would have escaped the quote
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		case 'u':
			n = 6
			if p+6 > len(raw) || hexVal(raw[p+2]) < 0 || hexVal(raw[p+3]) < 0 || hexVal(raw[p+4]) < 0 || hexVal(raw[p+5]) < 0 {
				s.pos = start + p
				return nil, false, s.errorf("bad \\u escape")
			}
		default:
			s.pos = start + p
			return nil, false, s.errorf("bad escape")
		}
		next := bytes.IndexByte(raw[p+n:], '\\')
		if next < 0 {
			break
		}
		p += n + next
	}
	s.pos = start + len(raw) + 1
	return raw, escaped, nil
}

// firstControl returns the index of the first byte below 0x20 in b, or -1.
func firstControl(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if (x-lows*0x20)&^x&highs != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return i
		}
	}
	return -1
}

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func hex4(b []byte) rune {
	return rune(hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3]))
}

// appendUnescaped appends the decoded form of a string already validated by
// rawString. Lone surrogates become U+FFFD, as in encoding/json.
func appendUnescaped(dst, raw []byte) []byte {
	for len(raw) > 0 {
		j := bytes.IndexByte(raw, '\\')
		if j < 0 {
			return append(dst, raw...)
		}
		dst = append(dst, raw[:j]...)
		raw = raw[j+1:]
		switch raw[0] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[1:5])
			raw = raw[4:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(raw) >= 7 && raw[1] == '\\' && raw[2] == 'u' {
					r2 = hex4(raw[3:7])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					raw = raw[6:]
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, raw[0])
		}
		raw = raw[1:]
	}
	return dst
}

// skipValue consumes one JSON value of any type.
func (s *scanner) skipValue(depth int) error {
	if depth > maxDepth {
		return s.errorf("nesting too deep")
	}
	switch c := s.peek(); c {
	case '"':
		_, _, err := s.rawString()
		return err
	case '{':
		s.pos++
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		for {
			if _, _, err := s.rawString(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			more, err := s.more('}')
			if err != nil || !more {
				return err
			}
		}
	case '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for {
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
			more, err := s.more(']')
			if err != nil || !more {
				return err
			}
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	case 0:
		return s.errorf("unexpected end of JSON")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			_, err := s.number()
			return err
		}
		return s.errorf("unexpected %q", c)
	}
}

// more consumes the separator after an element: true after ',', false after
// the closing bracket.
func (s *scanner) more(closing byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, nil
	case closing:
		s.pos++
		return false, nil
	case 0:
		return false, s.errorf("unexpected end of JSON")
	}
	return false, s.errorf("want ',' or %q, got %q", closing, s.data[s.pos])
}

// number consumes a JSON number and returns it as a float64.
func (s *scanner) number() (float64, error) {
	s.ws()
	start := s.pos
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		s.pos = i
		return 0, s.errorf("bad number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			s.pos = i
			return 0, s.errorf("bad number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			s.pos = i
			return 0, s.errorf("bad number")
		}
	}
	s.pos = i
	v, err := strconv.ParseFloat(string(d[start:i]), 64)
	if err != nil {
		return 0, s.errorf("bad number")
	}
	return v, nil
}

// index reads a non-negative integer that fits an int32 (offsets, indices).
func (s *scanner) index(what string) (int32, error) {
	v, err := s.number()
	if err != nil {
		return 0, err
	}
	if v < 0 || v > math.MaxInt32 || v != math.Trunc(v) {
		return 0, s.errorf("%s must be a non-negative integer, got %v", what, v)
	}
	return int32(v), nil
}

// object iterates over the members of a JSON object, calling member with
// each key (raw, unescaped only when needed) positioned at its value.
func (s *scanner) object(member func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	var keyBuf []byte
	for {
		raw, escaped, err := s.rawString()
		if err != nil {
			return err
		}
		if escaped {
			keyBuf = appendUnescaped(keyBuf[:0], raw)
			raw = keyBuf
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(string(raw)); err != nil {
			return err
		}
		more, err := s.more('}')
		if err != nil || !more {
			return err
		}
	}
}

// array iterates over the elements of a JSON array.
func (s *scanner) array(elem func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		more, err := s.more(']')
		if err != nil || !more {
			return err
		}
	}
}
