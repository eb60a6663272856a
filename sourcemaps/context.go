package sourcemaps

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
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
}

func newLineIndex(text string) *lineIndex {
	starts := make([]int32, 1, strings.Count(text, "\n")+1)
	ascii := true
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= utf8.RuneSelf {
			ascii = false
		}
		if c == '\n' && i+1 < len(text) {
			starts = append(starts, int32(i+1))
		}
	}
	return &lineIndex{text: text, starts: starts, ascii: ascii}
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
	i := lineno - 1
	cur, ok := x.line(i)
	if !ok {
		return nil
	}
	c := &Context{Line: trimLine(cur, colno, x.ascii)}
	for j := max(0, i-contextLines); j < i; j++ {
		l, _ := x.line(j)
		c.Pre = append(c.Pre, trimLine(l, colno, x.ascii))
	}
	for j := i + 1; j <= i+contextLines; j++ {
		l, ok := x.line(j)
		if !ok {
			break
		}
		c.Post = append(c.Post, trimLine(l, colno, x.ascii))
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
