package mapping

import (
	"fmt"
	"math"
	"sort"
)

// segment is the part of a decoded mapping that is not the generated
// position. The generated column lives in a parallel []int32 so that the
// binary search of Lookup touches only 4 bytes per probe.
type segment struct {
	source, srcLine, srcCol, name int32
}

// maxLinesBase bounds how many generated lines a map may claim beyond its own
// size (index-map section offsets can jump far ahead); each line costs 4
// bytes of index, so a tiny hostile map cannot make Parse allocate gigabytes.
const maxLinesBase = 1 << 22

// maxEmptyLinesPerSegment is how many generated lines each mapping segment
// allows beyond maxLinesBase (see builder.toLine).
const maxEmptyLinesPerSegment = 8

// builder accumulates decoded segments line by line into the flat arrays of
// a Map. Lines must be appended in non-decreasing order; segments within a
// line may arrive in any order and are sorted when the line is finished.
type builder struct {
	lineStart []int32 // lineStart[i] = index in cols/segs of line i's first segment
	cols      []int32
	segs      []segment
	packed    segTable // cols and segs once finished
	curLine   int32    // the line currently receiving segments
	maxLines  int

	blockStart []int32 // per line, index of its first entry in blocks; nil when no line is long
	blocks     []int32 // cols[lineStart[l] + k*blockSize] for k >= 1
}

func newBuilder(segHint, maxLines int) *builder {
	return &builder{
		lineStart: make([]int32, 1, 64),
		cols:      make([]int32, 0, segHint),
		segs:      make([]segment, 0, segHint),
		maxLines:  maxLines,
	}
}

// toLine finishes every line before line and makes line current.
func (b *builder) toLine(line int32) error {
	if int(line) >= b.maxLines {
		return fmt.Errorf("%w: generated line %d is beyond any plausible size for this map", ErrMalformed, line)
	}
	// Every line costs 4 bytes of index but only one ';' of input: a map of
	// millions of empty lines would multiply its size in memory. Real maps
	// have mappings on most lines, so empty lines beyond a generous
	// allowance mark a hostile or broken map.
	if int(line) > maxLinesBase+maxEmptyLinesPerSegment*len(b.cols) {
		return fmt.Errorf("%w: %d generated lines for only %d mappings", ErrMalformed, line, len(b.cols))
	}
	for b.curLine < line {
		b.finishLine()
		b.curLine++
		b.lineStart = append(b.lineStart, int32(len(b.cols)))
	}
	return nil
}

// finishLine sorts the current line by generated column. The sort is
// stable: among segments sharing a column the order written is kept, which
// Lookup relies on (see there).
func (b *builder) finishLine() {
	start := int(b.lineStart[len(b.lineStart)-1])
	cols := b.cols[start:]
	for i := 1; i < len(cols); i++ {
		if cols[i] < cols[i-1] {
			sort.Stable(lineSorter{cols, b.segs[start:]})
			return
		}
	}
}

type lineSorter struct {
	cols []int32
	segs []segment
}

func (l lineSorter) Len() int           { return len(l.cols) }
func (l lineSorter) Less(i, j int) bool { return l.cols[i] < l.cols[j] }
func (l lineSorter) Swap(i, j int) {
	l.cols[i], l.cols[j] = l.cols[j], l.cols[i]
	l.segs[i], l.segs[j] = l.segs[j], l.segs[i]
}

// finish closes the last line, packs the segments (see segTable) and
// builds the block index.
func (b *builder) finish() {
	b.finishLine()
	b.lineStart = append(b.lineStart, int32(len(b.cols)))
	if n := len(b.lineStart); cap(b.lineStart)-n > n/8+16 {
		b.lineStart = append(make([]int32, 0, n), b.lineStart...)
	}
	b.packed = packSegments(b.cols, b.segs)
	b.cols, b.segs = nil, nil
	b.blockStart, b.blocks = buildBlocks(b.lineStart, &b.packed)
}

// blockSize is how many segments one entry of the block index covers.
const blockSize = 16

// buildBlocks builds a two-level index for long lines (minified bundles
// put tens of thousands of segments on one line): every blockSize-th
// column of a line, in a small array that stays in cache, so a lookup
// binary-searches that and then a single block instead of probing the
// whole line's columns (one cache miss per probe).
func buildBlocks(lineStart []int32, t *segTable) (blockStart, blocks []int32) {
	total := 0
	for l := 0; l+1 < len(lineStart); l++ {
		total += int(lineStart[l+1]-lineStart[l]-1) / blockSize
	}
	if total == 0 {
		return nil, nil
	}
	blocks = make([]int32, 0, total)
	blockStart = make([]int32, len(lineStart))
	for l := 0; l+1 < len(lineStart); l++ {
		blockStart[l] = int32(len(blocks))
		for i := lineStart[l] + blockSize; i < lineStart[l+1]; i += blockSize {
			blocks = append(blocks, t.col(int(i)))
		}
	}
	blockStart[len(lineStart)-1] = int32(len(blocks))
	return blockStart, blocks
}

// sectionPlacement says where one (section) map's mappings land in the
// combined map and which indices its segments may use.
type sectionPlacement struct {
	lineOff, colOff    int32 // colOff applies to the section's first line only
	srcBase, nameBase  int32 // offsets into the merged sources/names tables
	nSources, nNames   int32
	clip               bool // drop segments at or after (stopLine, stopCol)
	stopLine, stopCol  int32
	sectionDescription string
}

// base64Digits maps a byte to its base64 value, 0xff for bytes outside
// the alphabet (a constant, so the hot loop needs no package state).
const base64Digits = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x3e\xff\xff\xff\x3f" +
	"\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\xff\xff\xff\xff\xff\xff" +
	"\xff\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e" +
	"\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\xff\xff\xff\xff\xff" +
	"\xff\x1a\x1b\x1c\x1d\x1e\x1f\x20\x21\x22\x23\x24\x25\x26\x27\x28" +
	"\x29\x2a\x2b\x2c\x2d\x2e\x2f\x30\x31\x32\x33\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff" +
	"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"

func (p *sectionPlacement) errorf(pos int, format string, args ...any) error {
	return fmt.Errorf("%w: %smappings offset %d: %s", ErrMalformed, p.sectionDescription, pos, fmt.Sprintf(format, args...))
}

// decode appends the segments of one "mappings" string. Any defect (bad
// base64 or VLQ, 2-, 3- or 6+-field segments, negative or out-of-range
// accumulated values, source or name index outside the tables) rejects the
// whole map: a map that lies about one segment cannot be trusted for the
// others, and "malformed" is a better answer for an event than a wrong frame.
// Empty segments ("A,,B", a trailing ",") carry no information and are skipped.
func (b *builder) decode(m []byte, p *sectionPlacement) error {
	var (
		line                              int32 // relative to the section
		genCol, src, srcLine, srcCol, nam int64
	)
	if err := b.toLine(p.lineOff); err != nil {
		return err
	}
	// Local copies: appending through b would store the slice headers back
	// to memory on every segment.
	cols, segs := b.cols, b.segs
	i := 0
	for i < len(m) {
		switch m[i] {
		case ';':
			line++
			genCol = 0
			i++
			continue
		case ',':
			i++
			continue
		}
		segStart := i
		var vals [5]int64
		n := 0
		for i < len(m) && m[i] != ',' && m[i] != ';' {
			if n == 5 {
				return p.errorf(segStart, "segment has more than 5 fields")
			}
			// Inline VLQ decoding: this loop is the hot path of Parse. Most
			// values fit one base64 digit (|v| < 16): take them directly.
			if d := int8(base64Digits[m[i]]); d >= 0 && d&32 == 0 {
				v := int64(d >> 1)
				if d&1 != 0 {
					v = -v
				}
				vals[n] = v
				n++
				i++
				continue
			}
			var acc uint64
			shift := uint(0)
			for {
				if i >= len(m) || m[i] == ',' || m[i] == ';' {
					return p.errorf(i, "truncated VLQ value")
				}
				d := int8(base64Digits[m[i]])
				if d < 0 {
					return p.errorf(i, "invalid base64 character %q", m[i])
				}
				i++
				acc |= uint64(d&31) << shift
				if d&32 == 0 {
					break
				}
				shift += 5
				if shift > 30 {
					return p.errorf(i, "VLQ value exceeds 32 bits")
				}
			}
			v := int64(acc >> 1)
			if acc&1 != 0 {
				v = -v
			}
			vals[n] = v
			n++
		}
		if n != 1 && n != 4 && n != 5 {
			return p.errorf(segStart, "segment has %d fields (want 1, 4 or 5)", n)
		}
		genCol += vals[0]
		col := genCol
		if line == 0 {
			col += int64(p.colOff)
		}
		if genCol < 0 || col > math.MaxInt32 {
			return p.errorf(segStart, "generated column %d out of range", genCol)
		}
		seg := segment{source: -1, name: -1}
		if n >= 4 {
			src += vals[1]
			srcLine += vals[2]
			srcCol += vals[3]
			if src < 0 || src >= int64(p.nSources) {
				return p.errorf(segStart, "source index %d out of range [0,%d)", src, p.nSources)
			}
			if srcLine < 0 || srcLine > math.MaxInt32 || srcCol < 0 || srcCol > math.MaxInt32 {
				return p.errorf(segStart, "original position %d:%d out of range", srcLine, srcCol)
			}
			seg.source = int32(src) + p.srcBase
			seg.srcLine = int32(srcLine)
			seg.srcCol = int32(srcCol)
			if n == 5 {
				nam += vals[4]
				if nam < 0 || nam >= int64(p.nNames) {
					return p.errorf(segStart, "name index %d out of range [0,%d)", nam, p.nNames)
				}
				seg.name = int32(nam) + p.nameBase
			}
		}
		absLine := int64(p.lineOff) + int64(line)
		if absLine > math.MaxInt32 {
			return p.errorf(segStart, "generated line out of range")
		}
		if p.clip && (absLine > int64(p.stopLine) || (absLine == int64(p.stopLine) && col >= int64(p.stopCol))) {
			// Beyond the start of the next section: the next section owns
			// that code (trace-mapping's FlattenMap drops these too).
			continue
		}
		if int32(absLine) != b.curLine {
			b.cols, b.segs = cols, segs
			if err := b.toLine(int32(absLine)); err != nil {
				return err
			}
			cols, segs = b.cols, b.segs
		}
		cols = append(cols, int32(col))
		segs = append(segs, seg)
	}
	b.cols, b.segs = cols, segs
	return nil
}
