package mapping

import (
	"math/rand/v2"
	"testing"
)

// TestPackedSegmentsRoundTrip: packed segments read back exactly, for
// records that fit one 64-bit word and records that do not (up to five
// 31-bit fields), and check accepts them against tables of their size.
func TestPackedSegmentsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	upTo := func(max int32) int32 { return int32(r.Int64N(int64(max) + 1)) }
	for _, maxes := range [][5]int32{
		{0, 0, 0, 0, 0},                   // every width 0
		{1, 1, 1, 1, 1},                   // one bit each
		{346775, 272, 25996, 3605, 13802}, // the benchmark bundle: 19 + 50 bits
		{1<<31 - 1, 1 << 20, 1<<31 - 1, 1<<31 - 1, 1 << 20}, // 31 bits, records of 2+ words
	} {
		n := 1000
		cols := make([]int32, n)
		segs := make([]segment, n)
		for i := range n {
			cols[i] = upTo(maxes[0])
			segs[i] = segment{source: upTo(maxes[1]+1) - 1, srcLine: upTo(maxes[2]), srcCol: upTo(maxes[3]), name: upTo(maxes[4]+1) - 1}
			if segs[i].source < 0 {
				segs[i].name = -1
			}
		}
		cols[n-1], segs[n-1] = maxes[0], segment{maxes[1], maxes[2], maxes[3], maxes[4]}
		pk := packSegments(cols, segs)
		for i := range n {
			if c, s := pk.col(i), pk.seg(i); c != cols[i] || s != segs[i] {
				t.Fatalf("maxes %v, segment %d: got %d %+v, want %d %+v", maxes, i, c, s, cols[i], segs[i])
			}
		}
		if err := pk.check([]int32{0, int32(n)}, maxes[1]+1, maxes[4]+1); err == nil && n > 1 {
			// Columns are random, not sorted within the line: check must
			// say so unless they happen to be sorted.
			sorted := true
			for i := 1; i < n; i++ {
				sorted = sorted && cols[i] >= cols[i-1]
			}
			if !sorted {
				t.Errorf("maxes %v: unsorted columns passed the check", maxes)
			}
		}
		one := make([]int32, n+1)
		for i := range one {
			one[i] = int32(i) // one segment per line: no order to keep
		}
		if err := pk.check(one, maxes[1]+1, maxes[4]+1); err != nil {
			t.Errorf("maxes %v: %v", maxes, err)
		}
		if err := pk.check(one, maxes[1], maxes[4]+1); err == nil {
			t.Errorf("maxes %v: a source index equal to the table size passed", maxes)
		}
	}
}
