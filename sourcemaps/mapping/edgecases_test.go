package mapping

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// encodeMappings writes segments (absolute values: [genCol], [genCol, src,
// line, col] or [genCol, src, line, col, name]) per generated line as a
// VLQ "mappings" string, so test maps can say what they mean.
func encodeMappings(lines [][][]int) string {
	var b strings.Builder
	var prev [5]int
	for li, segs := range lines {
		if li > 0 {
			b.WriteByte(';')
		}
		prev[0] = 0
		for si, seg := range segs {
			if si > 0 {
				b.WriteByte(',')
			}
			for f, v := range seg {
				writeVLQ(&b, v-prev[f])
				prev[f] = v
			}
		}
	}
	return b.String()
}

func writeVLQ(b *strings.Builder, v int) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	u := uint(v) << 1
	if v < 0 {
		u = uint(-v)<<1 | 1
	}
	for {
		d := u & 31
		u >>= 5
		if u != 0 {
			d |= 32
		}
		b.WriteByte(alphabet[d])
		if u == 0 {
			return
		}
	}
}

func mapJSON(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	if _, ok := fields["version"]; !ok {
		fields["version"] = 3
	}
	data, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// edgeCase is a small valid map built to hit one rule of the lookup
// semantics. goDivergences lists the kinds of go-sourcemap disagreement
// the case is expected to show (each must occur at least once).
type edgeCase struct {
	name          string
	data          []byte
	goDivergences []divergence
}

func edgeCases(t testing.TB) []edgeCase {
	two := []string{"a.js", "b.js"}
	names := []string{"alpha", "beta", "gamma"}
	m := func(mappings [][][]int) []byte {
		return mapJSON(t, map[string]any{"sources": two, "names": names, "mappings": encodeMappings(mappings)})
	}
	section := func(line, col int, data []byte) map[string]any {
		return map[string]any{"offset": map[string]int{"line": line, "column": col}, "map": json.RawMessage(data)}
	}
	// Long lines (several blocks of the two-level index) with runs of equal
	// columns that straddle block boundaries.
	r := rand.New(rand.NewPCG(9, 9))
	var long [][][]int
	for l := 0; l < 3; l++ {
		var line [][]int
		col := r.IntN(3)
		for range 150 + 100*l {
			line = append(line, []int{col, r.IntN(2), r.IntN(50), r.IntN(80), r.IntN(3)})
			if r.IntN(3) > 0 {
				col += 1 + r.IntN(3)
			}
		}
		long = append(long, line)
	}
	return []edgeCase{
		{"long-lines-with-duplicate-runs", m(long), []divergence{divBorrowedFromEarlierLine}},
		{"line-without-mappings", m([][][]int{{{0, 0, 0, 0}, {8, 0, 0, 4}}, {}, {}, {{3, 1, 5, 0}}}), []divergence{divBorrowedFromEarlierLine}},
		{"position-before-first-segment", m([][][]int{{{2, 0, 0, 0}}, {{6, 1, 3, 2}, {9, 1, 3, 7}}}), []divergence{divBorrowedFromEarlierLine}},
		{"one-field-segments", m([][][]int{{{0, 0, 1, 0}, {4}, {9, 1, 2, 2, 1}, {12}}, {{0}, {5, 0, 9, 9}}}), []divergence{divOneFieldSegment}},
		{"five-field-names", m([][][]int{{{0, 0, 0, 0, 0}, {3, 1, 4, 4, 2}, {7, 0, 1, 1}, {10, 1, 2, 2, 1}}}), nil},
		{"unsorted-segments", m([][][]int{{{20, 0, 5, 0}, {3, 1, 1, 1}, {11, 0, 2, 2, 0}, {0, 0, 0, 0}}, {{9, 1, 9, 9}, {2, 1, 8, 8}}}), []divergence{divUnsortedLine}},
		{"duplicate-columns", m([][][]int{{{0, 0, 0, 0}, {5, 0, 1, 0, 0}, {5, 1, 2, 0, 1}, {5, 0, 3, 0}, {9, 1, 4, 0}}}), nil},
		{"trailing-semicolons-and-empty-map", mapJSON(t, map[string]any{"sources": two, "mappings": encodeMappings([][][]int{{}, {{4, 0, 0, 0}}, {}, {}, {{2, 1, 1, 1}}, {}, {}})}), []divergence{divBorrowedFromEarlierLine}},
		{"index-map-column-offset-first-line-only", mapJSON(t, map[string]any{"sections": []any{
			section(0, 0, m([][][]int{{{0, 0, 0, 0}, {4, 1, 0, 4}}})),
			section(0, 10, m([][][]int{{{0, 0, 1, 0}, {3, 1, 1, 3, 0}}, {{0, 0, 2, 0}, {6, 1, 2, 6}}, {{2, 0, 3, 2, 2}}})),
			section(5, 7, m([][][]int{{{0, 1, 7, 0}}, {{1, 0, 8, 1}}})),
		}}), []divergence{divIndexMapOffsets}},
		{"index-map-clipping", mapJSON(t, map[string]any{"sections": []any{
			section(0, 0, m([][][]int{{{0, 0, 0, 0}, {30, 0, 0, 30}}, {{0, 0, 1, 0}, {12, 1, 1, 12}}, {{0, 1, 2, 0}}})),
			section(1, 8, m([][][]int{{{0, 1, 5, 0}, {2, 0, 5, 2}}, {{4, 1, 6, 4}}})),
		}}), []divergence{divIndexMapOffsets}},
	}
}

func TestEdgeCasesMatchTraceMapping(t *testing.T) {
	var cases []traceCase
	for _, c := range edgeCases(t) {
		cases = append(cases, traceCase{c.name, writeTemp(t, c.name+".map", c.data), c.data})
	}
	compareCases(t, cases, edgeProbePositions)
}

// edgeProbePositions adds every column 0..39 of every line (and one past
// the end) to the usual probes: the edge maps are tiny.
func edgeProbePositions(m *Map) [][2]int {
	positions := probePositions(m, 200, 7)
	for l := 0; l < m.NumLines()+1; l++ {
		for col := 0; col < 40; col++ {
			positions = append(positions, [2]int{l, col})
		}
	}
	return positions
}

// TestEmptyLineFloodIsRejected: 32 MiB of ';' followed by a mapping would
// need 128 MiB of line index; Parse refuses it without allocating that much,
// and the same flood with no mapping after it costs nothing.
func TestEmptyLineFloodIsRejected(t *testing.T) {
	flood := strings.Repeat(";", 32<<20)
	parse := func(mappings string) (uint64, error) {
		data := []byte(`{"version":3,"sources":["a.js"],"names":[],"mappings":"` + mappings + `"}`)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Parse(data)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, err
	}
	grew, err := parse(flood + "AAAA")
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "generated lines for only") {
		t.Fatalf("Parse of 32M empty lines then a mapping: %v", err)
	}
	if grew > 80<<20 {
		t.Errorf("Parse allocated %d MiB before refusing", grew>>20)
	}
	if grew, err := parse(flood); err != nil || grew > 80<<20 {
		t.Errorf("32M empty lines alone: %v, %d MiB allocated", err, grew>>20)
	}
	// Empty lines between real mappings stay fine.
	if _, err := parse("AAAA" + strings.Repeat(";", 5000) + "AAAA"); err != nil {
		t.Errorf("a map with 5000 empty lines: %v", err)
	}
}
