// Package scopes finds the function scopes of a minified JavaScript file and
// the tokens that name each of them, so that a frame's position in the
// minified file can be mapped to the original function name: the identifier
// tokens of the innermost scope's name are looked up in the source map (the
// mapping name of the segment that starts at each token), as Sentry's
// symbolicator does with its js-source-scopes crate.
//
// Positions are 0-based lines and 0-based columns counted in UTF-16 code
// units, the units of source maps and of V8/SpiderMonkey stack traces. Lines
// are split at every ECMAScript LineTerminatorSequence: \n, \r\n, a lone \r,
// U+2028 and U+2029. That is what V8 does when it reports a frame's line
// (verified by TestLineTerminatorsMatchV8), and frames are what Innermost is
// asked about. Source map generators (esbuild, terser) escape U+2028/U+2029
// inside string literals, so for their output the two conventions agree.
package scopes

import (
	"errors"
	"sort"
	"unsafe"
)

// ErrParse marks a source this package cannot turn into scopes: a syntax
// error, or (never seen on real bundles) a disagreement between the token
// scanner and the parser. Callers fall back to other naming.
var ErrParse = errors.New("cannot parse JavaScript")

// Pos is a position in the minified file: 0-based line, 0-based column in
// UTF-16 code units.
type Pos struct{ Line, Col int }

func (p Pos) less(q Pos) bool { return p.Line < q.Line || (p.Line == q.Line && p.Col < q.Col) }

// NamePart is one piece of a scope's name.
type NamePart struct {
	Text  string // the minified text of this part ("a", ".", "#priv", "get ", "new ", "<computed>")
	Ident bool   // Text is an identifier token that can be mapped through the source map
	At    Pos    // start of the identifier token in the minified file (only when Ident)
}

// Scope is one function (or class body) of the minified file.
type Scope struct {
	Start, End Pos        // from its first token to just after its closing brace or expression
	Name       []NamePart // nil for an anonymous function
}

// Index answers "which function encloses this position" for one file.
type Index struct {
	scopes   []scopeRec // sorted by start, outer before inner
	parts    []partRec
	segments []segment // sorted breakpoints: from at until the next one, scope is innermost
	textSize int64
}

type pos32 struct{ line, col int32 }

func (p pos32) pos() Pos            { return Pos{int(p.line), int(p.col)} }
func (p pos32) less(q pos32) bool   { return p.line < q.line || (p.line == q.line && p.col < q.col) }
func (p pos32) lessEq(q pos32) bool { return !q.less(p) }

type scopeRec struct {
	start, end         pos32
	partsFrom, partsTo int32
}

type partRec struct {
	text  string
	ident bool
	at    pos32
}

type segment struct {
	at    pos32
	scope int32 // -1: top-level code
}

// Len is the number of scopes.
func (ix *Index) Len() int { return len(ix.scopes) }

// SizeBytes estimates the memory the index retains.
func (ix *Index) SizeBytes() int64 {
	n := int64(unsafe.Sizeof(*ix))
	n += int64(cap(ix.scopes)) * int64(unsafe.Sizeof(scopeRec{}))
	n += int64(cap(ix.parts)) * int64(unsafe.Sizeof(partRec{}))
	n += int64(cap(ix.segments)) * int64(unsafe.Sizeof(segment{}))
	return n + ix.textSize
}

// Scope returns the i-th scope in order of start position (outer first).
func (ix *Index) Scope(i int) Scope {
	r := ix.scopes[i]
	s := Scope{Start: r.start.pos(), End: r.end.pos()}
	if r.partsTo > r.partsFrom {
		s.Name = make([]NamePart, 0, r.partsTo-r.partsFrom)
		for _, p := range ix.parts[r.partsFrom:r.partsTo] {
			np := NamePart{Text: p.text, Ident: p.ident}
			if p.ident {
				np.At = p.at.pos()
			}
			s.Name = append(s.Name, np)
		}
	}
	return s
}

// Innermost returns the innermost scope containing p (Start <= p < End);
// ok is false when p is in top-level code. It is a binary search over the
// breakpoints where the innermost scope changes.
func (ix *Index) Innermost(p Pos) (Scope, bool) {
	if p.Line < 0 || p.Col < 0 || p.Line > maxInt32 || p.Col > maxInt32 {
		return Scope{}, false
	}
	q := pos32{int32(p.Line), int32(p.Col)}
	i := sort.Search(len(ix.segments), func(i int) bool { return q.less(ix.segments[i].at) }) - 1
	if i < 0 || ix.segments[i].scope < 0 {
		return Scope{}, false
	}
	return ix.Scope(int(ix.segments[i].scope)), true
}

const maxInt32 = 1<<31 - 1

// buildSegments turns properly nested scopes (sorted by start, outer first)
// into the breakpoints of the innermost-scope function.
func buildSegments(scopes []scopeRec) []segment {
	segs := make([]segment, 0, 2*len(scopes)+1)
	emit := func(at pos32, scope int32) {
		if n := len(segs); n > 0 && segs[n-1].at == at {
			segs[n-1].scope = scope
			return
		}
		segs = append(segs, segment{at, scope})
	}
	var stack []int32
	top := func() int32 {
		if len(stack) == 0 {
			return -1
		}
		return stack[len(stack)-1]
	}
	for i := range scopes {
		s := scopes[i]
		for len(stack) > 0 && scopes[top()].end.lessEq(s.start) {
			end := scopes[top()].end
			stack = stack[:len(stack)-1]
			emit(end, top())
		}
		emit(s.start, int32(i))
		stack = append(stack, int32(i))
	}
	for len(stack) > 0 {
		end := scopes[top()].end
		stack = stack[:len(stack)-1]
		emit(end, top())
	}
	return segs
}
