package mapping

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"unsafe"
)

// segTable holds a Map's segments bit-packed in blocks of segBlock
// consecutive segments. A block stores, for each of the five fields
// (generated column, source+1, original line, original column, name+1),
// its smallest value (the base) and each segment's difference from it in
// as many bits as the block's largest difference needs. Neighbouring
// segments are alike (same source, nearby lines and columns), so a 6 MB
// esbuild map takes 32 bits a segment instead of 160; a field still reads
// in constant time: the block's descriptor, then one load.
//
// A block's records are its segments' fields side by side (column first),
// segment after segment; a full block takes a whole number of 64-bit
// words (segBlock × record bits), so every block starts 8-byte aligned.
// data ends with packPad bytes of padding: a record is read with 8-byte
// loads at its first byte, whatever its bit offset. A decoded index uses
// data in place; the descriptors (24 bytes a block in the file) are
// expanded into blocks.
type segTable struct {
	n      int
	data   []byte
	blocks []segBlockInfo
}

// segBlockInfo describes one block.
type segBlockInfo struct {
	off   uint32    // byte offset of the block's records in data
	base  [5]uint32 // column, source+1, line, column, name+1
	width [5]uint8  // bits of each field's difference, <= 32
	shift [5]uint8  // of each field in a record
	bits  uint8     // of a record
}

const (
	segBlock     = 64
	segBlockLog  = 6
	packPad      = 8
	maxFieldLen  = 32
	blockDescLen = 24 // in the file: 5 × uint32 base, uint32 of 5 × 6-bit widths
)

func (b *segBlockInfo) setWidths(w [5]uint8) {
	b.width = w
	sh := uint8(0)
	for k, fw := range w {
		b.shift[k] = sh
		sh += fw
	}
	b.bits = sh
}

// blockBytes is the length of a block of k segments of rec-bit records.
func blockBytes(k int, rec uint8) int { return (k*int(rec) + 63) / 64 * 8 }

func mask32(w uint8) uint32 { return uint32(uint64(1)<<w - 1) }

// field reads width (<= 32) bits at bit offset off of b. The caller
// guarantees off+width lies within b minus its padding.
func field(b []byte, off uint64, width uint8) uint32 {
	v := binary.LittleEndian.Uint64(b[off>>3:])
	return uint32(v>>(off&7)) & mask32(width)
}

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
		w.acc = uint64(v) >> (uint(width) - w.bits)
		if w.bits == 0 {
			w.acc = 0
		}
	}
}

// flush writes the pending bits as a last, partial word.
func (w *bitWriter) flush() {
	if w.bits > 0 {
		w.out = binary.LittleEndian.AppendUint64(w.out, w.acc)
		w.acc, w.bits = 0, 0
	}
}

func width32(max uint32) uint8 { return uint8(bits.Len32(max)) }

// packSegments packs cols and segs (Parse's builder output: every value
// non-negative but source and name, which are >= -1).
func packSegments(cols []int32, segs []segment) segTable {
	n := len(cols)
	t := segTable{n: n, blocks: make([]segBlockInfo, (n+segBlock-1)/segBlock)}
	w := bitWriter{out: make([]byte, 0, n*5+packPad)}
	var fs [segBlock][5]uint32
	for b := range t.blocks {
		lo, hi := b*segBlock, min((b+1)*segBlock, n)
		blockFields := fs[:hi-lo]
		minV := [5]uint32{math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32, math.MaxUint32}
		var maxV [5]uint32
		for j := range blockFields {
			s := &segs[lo+j]
			f := [5]uint32{uint32(cols[lo+j]), uint32(s.source + 1), uint32(s.srcLine), uint32(s.srcCol), uint32(s.name + 1)}
			blockFields[j] = f
			for k := range f {
				minV[k], maxV[k] = min(minV[k], f[k]), max(maxV[k], f[k])
			}
		}
		blk := &t.blocks[b]
		blk.off = uint32(len(w.out))
		blk.base = minV
		var wd [5]uint8
		for k := range wd {
			wd[k] = width32(maxV[k] - minV[k])
		}
		blk.setWidths(wd)
		for _, f := range blockFields {
			if blk.bits <= 64 {
				v := uint64(f[0]-minV[0]) | uint64(f[1]-minV[1])<<blk.shift[1] | uint64(f[2]-minV[2])<<blk.shift[2] |
					uint64(f[3]-minV[3])<<blk.shift[3] | uint64(f[4]-minV[4])<<blk.shift[4]
				w.put(v, blk.bits)
				continue
			}
			for k := range f {
				w.put(uint64(f[k]-minV[k]), wd[k])
			}
		}
		w.flush()
	}
	t.data = append(w.out, make([]byte, packPad)...)
	if cap(t.data)-len(t.data) > len(t.data)/8 {
		// The guess of 5 bytes a segment was generous: the cache is
		// charged by capacity.
		t.data = append([]byte(nil), t.data...)
	}
	return t
}

// col returns the generated column of segment i.
func (t *segTable) col(i int) int32 {
	b := &t.blocks[i>>segBlockLog]
	off := uint64(b.off)*8 + uint64(i&(segBlock-1))*uint64(b.bits)
	v := binary.LittleEndian.Uint64(t.data[off>>3:]) >> (off & 7)
	return int32(b.base[0] + uint32(v)&mask32(b.width[0]))
}

// seg returns the other fields of segment i.
func (t *segTable) seg(i int) segment {
	b := &t.blocks[i>>segBlockLog]
	off := uint64(b.off)*8 + uint64(i&(segBlock-1))*uint64(b.bits)
	var f [5]uint32
	if b.bits <= 57 {
		// One load holds the whole record (after a shift of up to 7).
		v := binary.LittleEndian.Uint64(t.data[off>>3:]) >> (off & 7)
		for k := 1; k < 5; k++ {
			f[k] = b.base[k] + uint32(v>>b.shift[k])&mask32(b.width[k])
		}
	} else {
		for k := 1; k < 5; k++ {
			f[k] = b.base[k] + field(t.data, off+uint64(b.shift[k]), b.width[k])
		}
	}
	return segment{source: int32(f[1]) - 1, srcLine: int32(f[2]), srcCol: int32(f[3]), name: int32(f[4]) - 1}
}

func (t *segTable) sizeBytes() int64 {
	return int64(cap(t.data)) + int64(cap(t.blocks))*int64(unsafe.Sizeof(segBlockInfo{}))
}

// descriptors returns the blocks' descriptors as an index stores them.
func (t *segTable) descriptors() []byte {
	out := make([]byte, 0, len(t.blocks)*blockDescLen)
	for i := range t.blocks {
		b := &t.blocks[i]
		for _, v := range b.base {
			out = binary.LittleEndian.AppendUint32(out, v)
		}
		var packed uint32
		for k, w := range b.width {
			packed |= uint32(w) << (6 * k)
		}
		out = binary.LittleEndian.AppendUint32(out, packed)
	}
	return out
}

// decodeSegBlocks rebuilds the blocks of n segments from an index's block
// descriptors and returns the length of the records they describe (padding
// included), which the caller reads into data: every read of the decoded
// table then stays inside it.
func decodeSegBlocks(n int, desc []byte) (segTable, int, error) {
	nBlocks := (n + segBlock - 1) / segBlock
	if len(desc) != nBlocks*blockDescLen {
		return segTable{}, 0, fmt.Errorf("%w: %d bytes of block descriptors for %d segments", ErrBadIndex, len(desc), n)
	}
	t := segTable{n: n, blocks: make([]segBlockInfo, nBlocks)}
	off := 0
	for b := range t.blocks {
		d := desc[b*blockDescLen:]
		blk := &t.blocks[b]
		for k := range blk.base {
			blk.base[k] = binary.LittleEndian.Uint32(d[4*k:])
		}
		packed := binary.LittleEndian.Uint32(d[20:])
		if packed>>30 != 0 {
			return segTable{}, 0, fmt.Errorf("%w: block %d: bad widths %#x", ErrBadIndex, b, packed)
		}
		var wd [5]uint8
		for k := range wd {
			if wd[k] = uint8(packed >> (6 * k) & 63); wd[k] > maxFieldLen {
				return segTable{}, 0, fmt.Errorf("%w: block %d: a field of %d bits", ErrBadIndex, b, wd[k])
			}
		}
		blk.setWidths(wd)
		if off > math.MaxUint32 {
			return segTable{}, 0, fmt.Errorf("%w: records too large", ErrBadIndex)
		}
		blk.off = uint32(off)
		off += blockBytes(min(segBlock, n-b*segBlock), blk.bits)
	}
	return t, off + packPad, nil
}

// check verifies what Parse guarantees of the segments of a decoded index,
// so that a decoded Map keeps Parse's contract (columns sorted within a
// line, indices inside the tables, values that fit an int32) even for a
// forged file that passed the frame checksum: the frame was just read
// whole for that checksum, so this pass costs no I/O.
func (t *segTable) check(lineStart []int32, nSrc, nNames int32) error {
	// Lines are checked in two halves at once: a second replica decodes an
	// index as soon as it has arrived, and nothing else needs the CPUs.
	nLines := len(lineStart) - 1
	if t.n < parallelCheck || nLines < 2 {
		return t.checkLines(lineStart, 0, nLines, nSrc, nNames)
	}
	var errs [2]error
	var wg sync.WaitGroup
	mid := nLines / 2
	wg.Go(func() { errs[1] = t.checkLines(lineStart, mid, nLines, nSrc, nNames) })
	errs[0] = t.checkLines(lineStart, 0, mid, nSrc, nNames)
	wg.Wait()
	if errs[0] != nil {
		return errs[0]
	}
	return errs[1]
}

// parallelCheck: fewer segments are checked in one goroutine.
const parallelCheck = 1 << 16

// checkLines checks the segments of lines [from, to).
func (t *segTable) checkLines(lineStart []int32, from, to int, nSrc, nNames int32) error {
	// The maxima first, in a pass without branches but the loops'; the
	// segment at fault is named only when there is one. Sums are 64-bit:
	// base plus difference may overflow 32 bits in a forged block.
	var maxSrc, maxName, maxVal, nameless uint64
	l := from
	lineEnd := int(lineStart[l+1])
	prev := int64(0)
	lo, hi := int(lineStart[from]), int(lineStart[to])
	for bi := lo >> segBlockLog; bi<<segBlockLog < hi; bi++ {
		b := &t.blocks[bi]
		var mask [5]uint64
		for k := range mask {
			mask[k] = uint64(mask32(b.width[k]))
		}
		first, last := max(lo, bi<<segBlockLog), min(hi, (bi+1)<<segBlockLog)
		off := uint64(b.off)*8 + uint64(first&(segBlock-1))*uint64(b.bits)
		for i := first; i < last; i++ {
			var f [5]uint64
			if b.bits <= 57 {
				v := binary.LittleEndian.Uint64(t.data[off>>3:]) >> (off & 7)
				for k := range f {
					f[k] = uint64(b.base[k]) + (v>>b.shift[k])&mask[k]
				}
			} else {
				for k := range f {
					f[k] = uint64(b.base[k]) + uint64(field(t.data, off+uint64(b.shift[k]), b.width[k]))
				}
			}
			off += uint64(b.bits)
			for i >= lineEnd {
				l++
				lineEnd = int(lineStart[l+1])
				prev = 0
			}
			if int64(f[0]) < prev {
				return fmt.Errorf("%w: segment %d of line %d is out of order", ErrBadIndex, i-int(lineStart[l]), l)
			}
			prev = int64(f[0])
			maxSrc, maxName = max(maxSrc, f[1]), max(maxName, f[4])
			maxVal = max(maxVal, f[0], f[2], f[3])
			// A name without a source: f[1] is 0 and f[4] is not.
			if f[1] == 0 {
				nameless |= f[4]
			}
		}
	}
	if maxSrc > uint64(nSrc) || maxName > uint64(nNames) || maxVal > math.MaxInt32 || nameless != 0 {
		return fmt.Errorf("%w: a segment of lines %d-%d indexes outside the tables (largest source %d of %d, largest name %d of %d)",
			ErrBadIndex, from, to-1, int64(maxSrc)-1, nSrc, int64(maxName)-1, nNames)
	}
	return nil
}
