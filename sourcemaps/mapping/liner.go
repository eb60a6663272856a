package mapping

import (
	"github.com/go-sourcemap/sourcemap"
)

// position is a lookup answer in the terms both decoders can give: strings,
// not table indices (go-sourcemap exposes no indices).
type position struct {
	Source    string
	Name      string
	Line, Col int // 0-based
	HasSource bool
}

// liner is what the differential test compares: our decoder and
// go-sourcemap behind one interface. line and col are 0-based.
type liner interface {
	lookup(line, col int) (position, bool)
}

type mapLiner struct{ m *Map }

func (l mapLiner) lookup(line, col int) (position, bool) {
	t, ok := l.m.Lookup(line, col)
	if !ok {
		return position{}, false
	}
	if t.Source < 0 {
		return position{}, true
	}
	return position{Source: l.m.Source(t.Source), Name: l.m.Name(t.Name), Line: t.SrcLine, Col: t.SrcCol, HasSource: true}, true
}

// goSourcemapLiner wraps github.com/go-sourcemap/sourcemap, whose Source
// takes a 1-based line and 0-based column and returns a 1-based line. Its
// known defects are listed (and asserted) in gosourcemap_test.go; it is kept
// as the reference the design names, not used for answers.
type goSourcemapLiner struct{ c *sourcemap.Consumer }

func newGoSourcemapLiner(data []byte) (goSourcemapLiner, error) {
	c, err := sourcemap.Parse("", data)
	return goSourcemapLiner{c}, err
}

func (l goSourcemapLiner) lookup(line, col int) (position, bool) {
	src, name, sl, sc, ok := l.c.Source(line+1, col)
	if !ok {
		return position{}, false
	}
	return position{Source: src, Name: name, Line: sl - 1, Col: sc, HasSource: src != ""}, true
}
