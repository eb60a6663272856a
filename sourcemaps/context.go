package sourcemaps

import (
	"encoding/binary"
	"runtime"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

const (
	contextLines    = 5   // lines of context each side, like Sentry
	maxContextWidth = 150 // longer lines are trimmed around the column
	trimmedWidth    = 140
	trimBefore      = 60
)

// lineIndex knows where each line of a text starts. A trailing newline ends
// the last line; it does not start an extra empty one.
type lineIndex struct {
	text   string
	starts []int32
	// ascii means byte offsets are UTF-16 offsets: trimming a 1 MB
	// minified line around a column then costs nothing.
	ascii bool
	// owner keeps what text may be a view of (a memory-mapped derived
	// file, see textCodec) alive as long as the index is; nil when text is
	// on the heap.
	owner any
	// first is the 0-based line of the file that text starts with (a part
	// of a source, see Service.sourceLines); 0 for a whole file.
	first int
}

func newLineIndex(text string) *lineIndex {
	// IndexByte and Count run at memory speed; a byte-at-a-time loop took
	// ~2 ms for a 1.7 MB bundle, on every first request after a restart.
	starts := make([]int32, 1, strings.Count(text, "\n")+1)
	for pos := 0; ; {
		i := strings.IndexByte(text[pos:], '\n')
		if i < 0 {
			break
		}
		pos += i + 1
		if pos < len(text) {
			starts = append(starts, int32(pos))
		}
	}
	return &lineIndex{text: text, starts: starts, ascii: isASCII(text)}
}

// isASCII reports whether s has no byte >= 0x80, eight bytes at a time.
func isASCII(s string) bool {
	const high = 0x8080808080808080
	b := unsafe.Slice(unsafe.StringData(s), len(s)) // read only
	le := binary.LittleEndian
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w := le.Uint64(b[i:]) | le.Uint64(b[i+8:]) | le.Uint64(b[i+16:]) | le.Uint64(b[i+24:])
		if w&high != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (x *lineIndex) numLines() int {
	if x.text == "" {
		return 0
	}
	return len(x.starts)
}

// line returns the 0-based line n without its line terminator.
func (x *lineIndex) line(n int) (string, bool) {
	if n < 0 || n >= x.numLines() {
		return "", false
	}
	end := len(x.text)
	if n+1 < len(x.starts) {
		end = int(x.starts[n+1])
	}
	l := x.text[x.starts[n]:end]
	l = strings.TrimSuffix(l, "\n")
	l = strings.TrimSuffix(l, "\r")
	return l, true
}

func (x *lineIndex) sizeBytes() int64 {
	return int64(len(x.text)) + int64(cap(x.starts))*4 + 64
}

// context returns up to 5 lines each side of the 1-based line lineno, every
// line trimmed around the 1-based UTF-16 column colno; nil when the file has
// no such line.
func (x *lineIndex) context(lineno, colno int) *Context {
	i := lineno - 1 - x.first
	if i < 0 || i >= x.numLines() {
		return nil
	}
	first, last := max(0, i-contextLines), min(i+contextLines, x.numLines()-1)
	lines := make([]string, 0, last-first+1)
	size := 0
	for j := first; j <= last; j++ {
		l, _ := x.line(j)
		l = trimLine(l, colno, x.ascii)
		lines = append(lines, l)
		size += len(l)
	}
	// One copy for all the lines: they outlive the request, and text may
	// be a view of a mapping that is released once this index is
	// unreachable.
	var b strings.Builder
	b.Grow(size)
	for _, l := range lines {
		b.WriteString(l)
	}
	all := b.String()
	runtime.KeepAlive(x)
	for k, l := range lines {
		lines[k], all = all[:len(l)], all[len(l):]
	}
	c := &Context{Line: lines[i-first]}
	if i > first {
		c.Pre = lines[: i-first : i-first]
	}
	if i < last {
		c.Post = lines[i-first+1:]
	}
	return c
}

// trimContextLine cuts a line longer than 150 UTF-16 units to about 140
// around col (60 before it), marking each cut with {snip}, as Sentry does;
// it never splits a character.
func trimContextLine(line string, col int) string {
	return trimLine(line, col, false)
}

func trimLine(line string, col int, ascii bool) string {
	if len(line) <= maxContextWidth {
		return line // bytes >= UTF-16 units
	}
	n := len(line)
	if !ascii {
		n = utf16Len(line)
	}
	if n <= maxContextWidth {
		return line
	}
	c := min(max(col, 0), n)
	start := max(c-trimBefore, 0)
	if start < 5 {
		start = 0
	}
	end := min(start+trimmedWidth, n)
	if end > n-5 {
		end = n
	}
	if end == n {
		start = max(end-trimmedWidth, 0)
	}
	bs, be := start, end
	if !ascii {
		bs, be = utf16ToByteOffset(line, start), utf16ToByteOffset(line, end)
	}
	out := line[bs:be]
	if bs > 0 {
		out = "{snip} " + out
	}
	if be < len(line) {
		out += " {snip}"
	}
	return out
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// utf16ToByteOffset maps a UTF-16 offset into s to a byte offset, rounding
// down to the start of the character that contains it.
func utf16ToByteOffset(s string, u int) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		w := utf16.RuneLen(r)
		if w < 0 {
			w = 1
		}
		if n+w > u {
			return i
		}
		n += w
		i += size
	}
	return len(s)
}
