package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

// divergence names a known way github.com/go-sourcemap/sourcemap v2.1.4
// answers differently from trace-mapping (and us). Every disagreement the
// differential tests find must be one of these; anything else fails.
type divergence string

const (
	divNone divergence = ""
	// A position with no segment at or before it on its line: go-sourcemap
	// returns the last segment of an earlier line.
	divBorrowedFromEarlierLine divergence = "borrows a mapping from an earlier line"
	// A 1-field segment (generated code with no source): go-sourcemap
	// reports the previous segment's source, line and column.
	divOneFieldSegment divergence = "1-field segment reported with the previous source"
	// Index maps: go-sourcemap picks the section by line only (a section
	// starting later on the same line takes the whole line) and subtracts
	// the section's column offset on every line, not just the first.
	divIndexMapOffsets divergence = "index-map section offsets applied by line only / on every line"
	// Segments out of column order within a line: go-sourcemap does not
	// sort them, so its binary search answers arbitrarily.
	divUnsortedLine divergence = "unsorted segments not sorted"
)

type sectionOffset struct{ line, col int }

func sectionOffsets(t testing.TB, data []byte) []sectionOffset {
	t.Helper()
	var doc struct {
		Sections []struct {
			Offset struct{ Line, Column int }
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []sectionOffset
	for _, s := range doc.Sections {
		out = append(out, sectionOffset{s.Offset.Line, s.Offset.Column})
	}
	return out
}

// classify explains why go-sourcemap's answer at p differs from ours.
func classify(m *Map, sections []sectionOffset, lineWide divergence, p [2]int, ours, theirs position, oursOK, theirsOK bool) divergence {
	if oursOK == theirsOK && ours == theirs {
		return divNone
	}
	line, col := p[0], p[1]
	if len(sections) > 0 {
		// The section that owns p per the spec: the last starting at or before it.
		own := -1
		for i, s := range sections {
			if s.line < line || (s.line == line && s.col <= col) {
				own = i
			}
		}
		switch {
		case own >= 0 && sections[own].col > 0 && line > sections[own].line:
			return divIndexMapOffsets // column offset subtracted on a later line
		case own > 0 && sections[own].line == line:
			return divIndexMapOffsets // trace-mapping (and we) fall back to the previous section's segments on this line
		case own+1 < len(sections) && sections[own+1].line == line:
			return divIndexMapOffsets // go-sourcemap lets the next section take the whole line
		}
	}
	if !oursOK && theirsOK {
		if sections == nil {
			// It must be exactly the last segment of the nearest earlier line
			// that has one.
			for l := line - 1; l >= 0; l-- {
				if prev, ok := (mapLiner{m}).lookup(l, 1<<30); ok {
					if prev != theirs {
						if lineWide != divNone {
							return lineWide
						}
						return "unexplained: borrowed something else"
					}
					return divBorrowedFromEarlierLine
				}
			}
			return "unexplained: mapped where no earlier line has segments"
		}
		return divBorrowedFromEarlierLine
	}
	if oursOK && !ours.HasSource && theirsOK && theirs.HasSource {
		return divOneFieldSegment
	}
	if lineWide != divNone {
		return lineWide
	}
	return "unexplained"
}

// diffGoSourcemap compares go-sourcemap with our decoder at every position
// and returns how often each divergence occurred; unexplained ones fail.
func diffGoSourcemap(t *testing.T, data []byte, positions [][2]int, allowed []divergence) map[divergence]int {
	t.Helper()
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGoSourcemapLiner(data)
	if err != nil {
		t.Fatalf("go-sourcemap: %v", err)
	}
	var sections []sectionOffset
	var lineWide divergence
	for _, d := range allowed {
		if d == divUnsortedLine {
			lineWide = d
		}
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["sections"]; ok {
		sections = sectionOffsets(t, data)
	}
	counts := map[divergence]int{}
	ok := map[divergence]bool{divNone: true}
	for _, d := range allowed {
		ok[d] = true
	}
	// Both decoders behind the one interface, as the design asks.
	var ours, theirs liner = mapLiner{m}, g
	bad := 0
	for _, p := range positions {
		o, oOK := ours.lookup(p[0], p[1])
		th, thOK := theirs.lookup(p[0], p[1])
		d := classify(m, sections, lineWide, p, o, th, oOK, thOK)
		counts[d]++
		if !ok[d] {
			bad++
			if bad <= 10 {
				t.Errorf("position %d:%d: %s: ours %+v ok=%v, go-sourcemap %+v ok=%v", p[0], p[1], d, o, oOK, th, thOK)
			}
		}
	}
	return counts
}

func TestGoSourcemapDivergencesOnEdgeCases(t *testing.T) {
	for _, c := range edgeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m, err := Parse(c.data)
			if err != nil {
				t.Fatal(err)
			}
			counts := diffGoSourcemap(t, c.data, edgeProbePositions(m), c.goDivergences)
			for _, d := range c.goDivergences {
				if counts[d] == 0 {
					t.Errorf("expected go-sourcemap to show %q here, it did not (fixed upstream?)", d)
				}
			}
			t.Logf("agree %d, %v", counts[divNone], counts)
		})
	}
}

func TestGoSourcemapDivergencesOnRealMaps(t *testing.T) {
	for _, f := range realFixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			m, err := Parse(f.data)
			if err != nil {
				t.Fatal(err)
			}
			allowed := []divergence{divBorrowedFromEarlierLine, divIndexMapOffsets, divOneFieldSegment}
			counts := diffGoSourcemap(t, f.data, probePositions(m, 3000, 5), allowed)
			if counts[divNone] == 0 {
				t.Error("go-sourcemap agreed nowhere")
			}
			t.Logf("%v", counts)
		})
	}
}

// panics reports whether f panics, and with what.
func panics(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// TestGoSourcemapCrashesWhereWeReportMalformed pins the inputs that crash
// go-sourcemap (so it can never be fed untrusted maps) and checks we return
// ErrMalformed for them instead.
func TestGoSourcemapCrashesWhereWeReportMalformed(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"url-section", mapJSON(t, map[string]any{"sections": []any{
			map[string]any{"offset": map[string]int{"line": 0, "column": 0}, "url": "other.js.map"},
		}})},
		{"source-index-out-of-range", mapJSON(t, map[string]any{"sources": []string{"a.js"}, "mappings": encodeMappings([][][]int{{{0, 0, 0, 0}, {4, 3, 0, 0}}})})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			msg := panics(func() {
				g, err := newGoSourcemapLiner(c.data)
				if err != nil {
					return
				}
				for col := 0; col < 8; col++ {
					g.lookup(0, col)
				}
			})
			if msg == "" {
				t.Error("go-sourcemap no longer panics here")
			}
			if _, err := Parse(c.data); !errors.Is(err, ErrMalformed) {
				t.Errorf("Parse: %v, want ErrMalformed", err)
			}
		})
	}
}

// TestGoSourcemapRejectsEmptyMappings: a map with "mappings": "" is valid
// (nothing is mapped); go-sourcemap refuses it.
func TestGoSourcemapRejectsEmptyMappings(t *testing.T) {
	data := mapJSON(t, map[string]any{"sources": []string{"a.js"}, "mappings": ""})
	if _, err := newGoSourcemapLiner(data); err == nil {
		t.Error("go-sourcemap now accepts empty mappings")
	}
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Lookup(0, 0); ok {
		t.Error("empty mappings mapped something")
	}
}
