package mapping

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"
)

// segTable holds a Map's segments bit-packed, each field as wide as the
// map's largest value needs (19 bits of column, 9 of source, 15 of line,
// 12 of column and 14 of name for a 6 MB esbuild bundle: 69 bits a
// segment instead of 160). The generated columns are one array and the
// other four fields another, so that the binary search of Lookup reads
// nothing but columns. A decoded index uses both arrays in place.
//
// Each array ends with packPad bytes of zero padding: a field is read with
// one 8-byte load at its first byte, whatever its bit offset.
type segTable struct {
	n     int
	cols  []byte
	recs  []byte
	width segWidths
	// Derived from width by newSegTable, for the lookups.
	colBits, recBits uint64
	colMask          uint32
	mask             [4]uint32 // source, srcLine, srcCol, name
	shift            [4]uint8  // of each field in a record
}

func newSegTable(n int, w segWidths, cols, recs []byte) segTable {
	t := segTable{n: n, cols: cols, recs: recs, width: w, colBits: uint64(w.col), recBits: w.rec()}
	t.colMask = uint32(uint64(1)<<w.col - 1)
	sh := uint8(0)
	for k, fw := range [4]uint8{w.source, w.srcLine, w.srcCol, w.name} {
		t.mask[k] = uint32(uint64(1)<<fw - 1)
		t.shift[k] = sh
		sh += fw
	}
	return t
}

// segWidths are the bit widths of the fields; source and name are stored
// plus one (-1, "none", is 0).
type segWidths struct {
	col, source, srcLine, srcCol, name uint8
}

const (
	packPad     = 8
	maxFieldLen = 32
)

func (w segWidths) rec() uint64 {
	return uint64(w.source) + uint64(w.srcLine) + uint64(w.srcCol) + uint64(w.name)
}

func (w segWidths) valid() bool {
	return w.col <= maxFieldLen && w.source <= maxFieldLen && w.srcLine <= maxFieldLen && w.srcCol <= maxFieldLen && w.name <= maxFieldLen
}

// packedLen is the byte length of an array of n entries of width bits,
// padding included.
func packedLen(n int, width uint64) int {
	return int((uint64(n)*width+7)/8) + packPad
}

// field reads width (<= 32) bits at bit offset off of b. The caller
// guarantees off+width lies within b minus its padding.
func field(b []byte, off uint64, width uint8) uint32 {
	v := binary.LittleEndian.Uint64(b[off>>3:])
	return uint32(v>>(off&7)) & uint32(uint64(1)<<width-1)
}

func width32(max uint32) uint8 { return uint8(bits.Len32(max)) }

// bitWriter appends fields of up to 64 bits to a packed array.
type bitWriter struct {
	out  []byte
	acc  uint64 // pending bits, the oldest lowest
	bits uint   // how many
}

func (w *bitWriter) put(v uint64, width uint8) {
	w.acc |= v << w.bits
	w.bits += uint(width)
	if w.bits >= 64 {
		w.out = binary.LittleEndian.AppendUint64(w.out, w.acc)
		w.bits -= 64
		// The bits of v that did not fit (a shift by 64 gives 0).
		w.acc = v >> (uint(width) - w.bits)
		if w.bits == 0 {
			w.acc = 0
		}
	}
}

// finish flushes the pending bits and pads the array to length n.
func (w *bitWriter) finish(n int) []byte {
	w.out = binary.LittleEndian.AppendUint64(w.out, w.acc)
	for len(w.out) < n {
		w.out = append(w.out, 0)
	}
	return w.out[:n:n]
}

// packSegments packs cols and segs (Parse's builder output: every value
// non-negative but source and name, which are >= -1).
func packSegments(cols []int32, segs []segment) segTable {
	var maxCol, maxSrc, maxLine, maxSCol, maxName uint32
	for i, c := range cols {
		s := &segs[i]
		maxCol = max(maxCol, uint32(c))
		maxSrc = max(maxSrc, uint32(s.source+1))
		maxLine = max(maxLine, uint32(s.srcLine))
		maxSCol = max(maxSCol, uint32(s.srcCol))
		maxName = max(maxName, uint32(s.name+1))
	}
	// A column takes at least one bit, so that a segment count can never
	// outgrow the data it is read from (see decodeIndex).
	w := segWidths{col: max(width32(maxCol), 1), source: width32(maxSrc), srcLine: width32(maxLine), srcCol: width32(maxSCol), name: width32(maxName)}
	nCols, nRecs := packedLen(len(cols), uint64(w.col)), packedLen(len(cols), w.rec())
	cw := bitWriter{out: make([]byte, 0, nCols+8)}
	rw := bitWriter{out: make([]byte, 0, nRecs+8)}
	shLine, shCol, shName := w.source, w.source+w.srcLine, w.source+w.srcLine+w.srcCol
	whole := w.rec() <= 64
	for i, c := range cols {
		cw.put(uint64(uint32(c)), w.col)
		s := &segs[i]
		if whole {
			// One put for the record: its fields side by side.
			rw.put(uint64(uint32(s.source+1))|uint64(uint32(s.srcLine))<<shLine|
				uint64(uint32(s.srcCol))<<shCol|uint64(uint32(s.name+1))<<shName, uint8(w.rec()))
			continue
		}
		rw.put(uint64(uint32(s.source+1)), w.source)
		rw.put(uint64(uint32(s.srcLine)), w.srcLine)
		rw.put(uint64(uint32(s.srcCol)), w.srcCol)
		rw.put(uint64(uint32(s.name+1)), w.name)
	}
	return newSegTable(len(cols), w, cw.finish(nCols), rw.finish(nRecs))
}

// col returns the generated column of segment i.
func (t *segTable) col(i int) int32 {
	off := uint64(i) * t.colBits
	return int32(uint32(binary.LittleEndian.Uint64(t.cols[off>>3:])>>(off&7)) & t.colMask)
}

// seg returns the other fields of segment i.
func (t *segTable) seg(i int) segment {
	off := uint64(i) * t.recBits
	if t.recBits <= 57 {
		// One load holds the whole record (after a shift of up to 7).
		v := binary.LittleEndian.Uint64(t.recs[off>>3:]) >> (off & 7)
		return segment{
			source:  int32(uint32(v>>t.shift[0])&t.mask[0]) - 1,
			srcLine: int32(uint32(v>>t.shift[1]) & t.mask[1]),
			srcCol:  int32(uint32(v>>t.shift[2]) & t.mask[2]),
			name:    int32(uint32(v>>t.shift[3])&t.mask[3]) - 1,
		}
	}
	w := t.width
	var s segment
	s.source = int32(field(t.recs, off, w.source)) - 1
	off += uint64(w.source)
	s.srcLine = int32(field(t.recs, off, w.srcLine))
	off += uint64(w.srcLine)
	s.srcCol = int32(field(t.recs, off, w.srcCol))
	off += uint64(w.srcCol)
	s.name = int32(field(t.recs, off, w.name)) - 1
	return s
}

func (t *segTable) sizeBytes() int64 { return int64(cap(t.cols) + cap(t.recs)) }

// check verifies what Parse guarantees of the segments of a decoded index,
// so that a decoded Map keeps Parse's contract (columns sorted within a
// line, indices inside the tables) even for a forged file that passed the
// frame checksum: the frame was just read whole for that checksum, so
// this pass costs no I/O.
func (t *segTable) check(lineStart []int32, nSrc, nNames int32) error {
	// The two arrays are checked at once: a second replica decodes an
	// index as soon as it has arrived, and nothing else needs the CPUs.
	var colErr error
	var wg sync.WaitGroup
	if t.n >= parallelCheck {
		wg.Go(func() { colErr = t.checkCols(lineStart) })
	} else {
		colErr = t.checkCols(lineStart)
	}
	recErr := t.checkRecs(nSrc, nNames)
	wg.Wait()
	if colErr != nil {
		return colErr
	}
	return recErr
}

// parallelCheck: fewer segments are checked in one goroutine.
const parallelCheck = 1 << 16

// checkCols: columns sorted within each line (and so never negative).
func (t *segTable) checkCols(lineStart []int32) error {
	for l := 0; l+1 < len(lineStart); l++ {
		prev := int32(0)
		off := uint64(lineStart[l]) * t.colBits
		for i := lineStart[l]; i < lineStart[l+1]; i++ {
			c := int32(uint32(binary.LittleEndian.Uint64(t.cols[off>>3:])>>(off&7)) & t.colMask)
			if c < prev {
				return fmt.Errorf("%w: segment %d of line %d is out of order", ErrBadIndex, i-lineStart[l], l)
			}
			prev = c
			off += t.colBits
		}
	}
	return nil
}

// checkRecs: the stored source and name (plus one) at most the table
// sizes, no name without a source, and no 32-bit field that reads as a
// negative int32. Maxima first, in one pass without branches but the
// loop's.
func (t *segTable) checkRecs(nSrc, nNames int32) error {
	var maxSrc, maxName, orLine, orCol, nameless uint32
	if t.recBits <= 57 {
		off := uint64(0)
		for range t.n {
			v := binary.LittleEndian.Uint64(t.recs[off>>3:]) >> (off & 7)
			src, name := uint32(v>>t.shift[0])&t.mask[0], uint32(v>>t.shift[3])&t.mask[3]
			maxSrc, maxName = max(maxSrc, src), max(maxName, name)
			orLine |= uint32(v>>t.shift[1]) & t.mask[1]
			orCol |= uint32(v>>t.shift[2]) & t.mask[2]
			// A name without a source: src is 0 and name is not (the
			// mask is all ones when src is not 0).
			nameless |= name &^ uint32(int32(src|-src)>>31)
			off += t.recBits
		}
	} else {
		for i := range t.n {
			s := t.seg(i)
			maxSrc, maxName = max(maxSrc, uint32(s.source+1)), max(maxName, uint32(s.name+1))
			orLine |= uint32(s.srcLine)
			orCol |= uint32(s.srcCol)
			if s.source < 0 && s.name >= 0 {
				nameless = 1
			}
		}
	}
	if maxSrc > uint32(nSrc) || maxName > uint32(nNames) || int32(orLine) < 0 || int32(orCol) < 0 || nameless != 0 {
		return fmt.Errorf("%w: a segment indexes outside the tables (largest source %d of %d, largest name %d of %d)",
			ErrBadIndex, int64(maxSrc)-1, nSrc, int64(maxName)-1, nNames)
	}
	return nil
}
