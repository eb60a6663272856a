package mapping

import (
	"fmt"
	"testing"
)

// compareWithTraceMapping asserts that, at every position, Lookup agrees
// with @jridgewell/trace-mapping: same "no mapping", same 1-field segment,
// otherwise same source (index and text), line, column and name.
func compareWithTraceMapping(t *testing.T, m *Map, positions [][2]int, answers []traceAnswer) {
	t.Helper()
	failures := 0
	for i, p := range positions {
		want := answers[i]
		tok, ok := m.Lookup(p[0], p[1])
		var problem string
		switch want.kind {
		case 0:
			if ok {
				problem = fmt.Sprintf("trace-mapping: no segment; ours: %+v", tok)
			}
		case 1:
			if !ok || tok.Source != -1 {
				problem = fmt.Sprintf("trace-mapping: 1-field segment; ours: %+v ok=%v", tok, ok)
			}
		case 2:
			got := traceAnswer{kind: 2, srcIdx: tok.Source, source: m.Source(tok.Source), line: tok.SrcLine, col: tok.SrcCol, nameIdx: tok.Name, name: m.Name(tok.Name)}
			if !ok || got != want {
				problem = fmt.Sprintf("trace-mapping: %+v; ours: %+v ok=%v", want, got, ok)
			}
		}
		if problem != "" {
			failures++
			if failures <= 10 {
				t.Errorf("position %d:%d: %s", p[0], p[1], problem)
			}
		}
	}
	if failures > 10 {
		t.Errorf("... %d mismatches in total out of %d positions", failures, len(positions))
	}
}

// traceCase is one map whose lookups are compared with trace-mapping.
type traceCase struct {
	name string
	path string
	data []byte
}

// compareCases parses every map, asks trace-mapping about all their probe
// positions in one node run, and compares per map in subtests.
func compareCases(t *testing.T, cases []traceCase, probe func(*Map) [][2]int) {
	maps := make([]*Map, len(cases))
	jobs := make([]traceJob, len(cases))
	for i, c := range cases {
		m, err := Parse(c.data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if m.NumTokens() == 0 {
			t.Fatalf("%s: no tokens decoded", c.name)
		}
		maps[i] = m
		jobs[i] = traceJob{Map: c.path, Positions: probe(m)}
	}
	answers := traceMapping(t, jobs)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			compareWithTraceMapping(t, maps[i], jobs[i].Positions, answers[i])
		})
	}
}

func TestLookupMatchesTraceMappingOnRealMaps(t *testing.T) {
	var cases []traceCase
	for _, f := range realFixtures(t) {
		cases = append(cases, traceCase{f.name, f.path, f.data})
	}
	compareCases(t, cases, func(m *Map) [][2]int { return probePositions(m, 3000, uint64(m.NumTokens())) })
}

// TestTraceMappingReturnsNullBeforeFirstSegment pins the ground truth the
// "never borrow from another line" rule rests on: trace-mapping itself
// answers null (no segment) for every column before the first segment of
// a line, in every map we test with.
func TestTraceMappingReturnsNullBeforeFirstSegment(t *testing.T) {
	var jobs []traceJob
	add := func(path string, data []byte) {
		m, err := Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		pos := [][2]int{} // JSON [] rather than null
		for l := 0; l < m.NumLines(); l++ {
			if first, ok := m.Lookup(l, 1<<30); ok {
				// Lookup(l, huge) is the last token; walk to the first.
				for c := first.GenCol; c > 0; {
					prev, ok := m.Lookup(l, c-1)
					if !ok {
						break
					}
					first, c = prev, prev.GenCol
				}
				for c := 0; c < first.GenCol && c < 50; c++ {
					pos = append(pos, [2]int{l, c})
				}
			}
		}
		jobs = append(jobs, traceJob{path, pos})
	}
	for _, f := range realFixtures(t) {
		add(f.path, f.data)
	}
	for _, c := range edgeCases(t) {
		add(writeTemp(t, c.name+".map", c.data), c.data)
	}
	total := 0
	for j, answers := range traceMapping(t, jobs) {
		for i, a := range answers {
			total++
			if a.kind != 0 {
				t.Errorf("%s: trace-mapping maps %v, before the line's first segment: %+v", jobs[j].Map, jobs[j].Positions[i], a)
			}
		}
	}
	if total == 0 {
		t.Fatal("no map has a line whose first segment is past column 0")
	}
	t.Logf("%d positions before a line's first segment, all null in trace-mapping", total)
}
