package mapping

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// The "sourcemap-index" derived format: a parsed Map laid out so that a
// reader can use the bulk of it (line offsets, packed segments, sources)
// straight from a memory-mapped file. Every integer is
// little-endian; every section starts at a multiple of 8 bytes from the
// start of the payload (which the cache frame places 64-byte aligned).
//
//	off  len  field
//	  0    8  magic "SMINDEX\x02"
//	  8    8  L: entries of the line table (lines + 1)
//	 16    8  S: segments
//	 24    8  N: sources
//	 32    8  M: names
//	 40    8  F: Metro function starts (x_facebook_sources), all sources
//	 48    8  flags: 1 ignore list present, 2 x_facebook_sources present
//	 56    8  B: bytes of string data
//	 64    8  log2 of the segments in a block (6), then 7 zero bytes
//	 72    8  C: content chunks, all sources
//	 80       line table       L × int32   (segment index of each line's first segment)
//	          blocks           ceil(S/64) × 24 bytes: per field (column,
//	                           source+1, line, column, name+1) its base
//	                           (uint32), then the fields' widths, 6 bits
//	                           each, in a uint32 (see segTable)
//	          records          each block's segments' differences from the
//	                           bases, bit-packed, + 8 bytes padding
//	          string offsets   (T+1) × uint32, T = 3 + 2N + M + F; strings in order:
//	                           file, sourceRoot, debugId, sources, sourcesContent,
//	                           names, function-start names
//	          has content      N bytes (0 or 1)
//	          ignored          N bytes (only with flag 1)
//	          chunks/source    (N+1) × uint32: source i's chunks are [c[i], c[i+1])
//	          chunk lines      C × uint32: the first line of each chunk (0-based)
//	          chunk lengths    C × uint32: bytes of text of each chunk
//	          chunk sizes      C × uint32: bytes stored of each chunk; the
//	                           chunks of a source are its sourcesContent
//	                           string, one after another, each the text
//	                           itself when size = length, else s2-compressed
//	          functions/source N × uint32 (only with flag 2)
//	          function starts  F × 2 int32 (line, column) (only with flag 2)
//	          string data      B bytes
//
// The payload ends exactly after the string data. The two-level block index
// of long lines is not stored: it is rebuilt on decoding (1/16th of the
// columns).
const (
	indexMagic   = "SMINDEX\x02"
	indexHeader  = 80
	flagIgnore   = 1
	flagFacebook = 2
)

// IndexFormat and IndexVersion name the derived format in the cache. Bump
// IndexVersion with any change to the layout above: files of other
// versions are then ignored, never misread.
const (
	IndexFormat  = "sourcemap-index"
	IndexVersion = 2
)

// ErrBadIndex is wrapped by every DecodeIndex error.
var ErrBadIndex = errors.New("invalid sourcemap-index data")

// IndexCodec encodes and decodes Maps in the sourcemap-index format; it
// satisfies cache.Codec[*Map]. Decoded Maps reference the data they were
// decoded from (see DecodeIndex), and more than DecodeIndex's do: their
// sourcesContent strings are views of the data too, not copies (megabytes
// of source, of which a request reads a few lines). Such a string is
// valid only while the data is, which for a cache.Derived is while the
// Map is reachable: a caller that keeps one (or part of one) beyond the
// Map must keep the Map too, or copy it. Every other string is copied.
type IndexCodec struct{}

// Format is the derived format's name.
func (IndexCodec) Format() string { return IndexFormat }

// Version is the derived format's version.
func (IndexCodec) Version() int { return IndexVersion }

// Encode writes m in the sourcemap-index format.
func (IndexCodec) Encode(w io.Writer, m *Map) error { return EncodeIndex(w, m) }

// Decode is DecodeIndex, with sourcesContent left in data (see IndexCodec).
func (IndexCodec) Decode(data []byte) (*Map, int64, error) { return decodeIndex(data, true) }

func pad8(n int) int { return (n + 7) &^ 7 }

// EncodeIndex writes m in the sourcemap-index format.
func EncodeIndex(w io.Writer, m *Map) error {
	nFB := 0
	for _, fs := range m.fbSources {
		nFB += len(fs.Functions)
	}
	nSrc := len(m.sources)
	var flags uint64
	if m.ignored != nil {
		flags |= flagIgnore
	}
	if m.fbSources != nil {
		flags |= flagFacebook
	}
	if len(m.contents) != nSrc || len(m.hasCont) != nSrc || (m.ignored != nil && len(m.ignored) != nSrc) ||
		(m.fbSources != nil && len(m.fbSources) != nSrc) ||
		len(m.lineStart) == 0 || len(m.segs.blocks) != (m.segs.n+segBlock-1)/segBlock || len(m.segs.data) < packPad {
		return errors.New("mapping: EncodeIndex: inconsistent Map")
	}
	stored, chunks := m.chunkedContents()

	// String offsets first: their total decides whether the map fits.
	nStr := 3 + 2*nSrc + len(m.names) + nFB
	offs := make([]uint32, 0, nStr+1)
	var total uint64
	addStr := func(s string) {
		offs = append(offs, uint32(total))
		total += uint64(len(s))
	}
	eachString := func(f func(string)) {
		f(m.file)
		f(m.sourceRoot)
		f(m.debugID)
		for _, s := range m.sources {
			f(s)
		}
		for _, s := range stored {
			f(s)
		}
		for _, s := range m.names {
			f(s)
		}
		for _, fs := range m.fbSources {
			for _, fn := range fs.Functions {
				f(fn.Name)
			}
		}
	}
	eachString(addStr)
	if total > math.MaxUint32 {
		return fmt.Errorf("mapping: EncodeIndex: %d bytes of strings is more than the format holds", total)
	}
	offs = append(offs, uint32(total))

	bw := bufio.NewWriterSize(w, 64<<10)
	var written int
	var scratch [8]byte
	put := func(b []byte) {
		n, _ := bw.Write(b) // the error is sticky; Flush reports it
		written += n
	}
	u64 := func(v uint64) {
		binary.LittleEndian.PutUint64(scratch[:], v)
		put(scratch[:8])
	}
	u32 := func(v uint32) {
		binary.LittleEndian.PutUint32(scratch[:4], v)
		put(scratch[:4])
	}
	align := func() {
		var zero [8]byte
		put(zero[:pad8(written)-written])
	}

	put([]byte(indexMagic))
	for _, v := range []uint64{uint64(len(m.lineStart)), uint64(m.segs.n), uint64(nSrc), uint64(len(m.names)), uint64(nFB), flags, total} {
		u64(v)
	}
	put([]byte{segBlockLog, 0, 0, 0, 0, 0, 0, 0})
	u64(uint64(len(chunks.firstLine)))
	for _, x := range m.lineStart {
		u32(uint32(x))
	}
	align()
	put(m.segs.descriptors())
	align()
	put(m.segs.data)
	align()
	for _, o := range offs {
		u32(o)
	}
	align()
	bools := make([]byte, nSrc)
	for i, ok := range m.hasCont {
		bools[i] = b2u(ok)
	}
	put(bools)
	if m.ignored != nil {
		for i, ok := range m.ignored {
			bools[i] = b2u(ok)
		}
		put(bools)
	}
	align()
	for _, arr := range [][]uint32{chunks.start, chunks.firstLine, chunks.textLen, chunks.size} {
		for _, v := range arr {
			u32(v)
		}
		align()
	}
	if m.fbSources != nil {
		for _, fs := range m.fbSources {
			u32(uint32(len(fs.Functions)))
		}
		align()
		for _, fs := range m.fbSources {
			for _, fn := range fs.Functions {
				u32(uint32(int32(fn.Line)))
				u32(uint32(int32(fn.Col)))
			}
		}
	}
	eachString(func(s string) {
		n, _ := bw.WriteString(s)
		written += n
	})
	return bw.Flush()
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// indexReader hands out the sections of a payload in order, checking
// bounds with overflow-safe arithmetic.
type indexReader struct {
	data []byte
	off  int
}

func (r *indexReader) take(count uint64, elem int) ([]byte, error) {
	if count > uint64(len(r.data)-r.off)/uint64(elem) {
		return nil, fmt.Errorf("%w: section of %d×%d bytes at offset %d overruns the %d-byte payload", ErrBadIndex, count, elem, r.off, len(r.data))
	}
	n := int(count) * elem
	b := r.data[r.off : r.off+n]
	r.off += n
	return b, nil
}

func (r *indexReader) align() error {
	p := pad8(r.off)
	if p > len(r.data) {
		return fmt.Errorf("%w: truncated padding at offset %d", ErrBadIndex, r.off)
	}
	r.off = p
	return nil
}

// int32s views b as little-endian int32s without copying when that is
// possible (a little-endian machine and b 4-byte aligned, as it is in a
// cache frame) and copies otherwise. It reports whether it copied.
func int32s(b []byte) ([]int32, bool) {
	n := len(b) / 4
	if n == 0 {
		return []int32{}, false
	}
	if littleEndian() && uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 == 0 {
		return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), n), false
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, true
}

// uint32s copies b as little-endian uint32s (tables a few entries per
// source long).
func uint32s(b []byte) []uint32 {
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// DecodeIndex rebuilds a Map from sourcemap-index data. The Map's line
// table, columns and segments point into data when it is suitably aligned
// (they are read-only there), so data must stay valid and unmodified for
// as long as the Map is used; strings are always copied, because they
// escape the Map (into responses, other caches) and must not outlive a
// mapping (IndexCodec.Decode leaves the contents in data). The size
// returned is the heap the Map holds besides data.
//
// Data that is not a well-formed index (truncated, inconsistent counts or
// offsets) gives an error wrapping ErrBadIndex, never a panic; a decoded
// Map never panics when queried.
func DecodeIndex(data []byte) (*Map, int64, error) { return decodeIndex(data, false) }

// decodeIndex is DecodeIndex; with viewContents, sourcesContent strings
// point into data and the size returned does not count them.
func decodeIndex(data []byte, viewContents bool) (*Map, int64, error) {
	if len(data) < indexHeader {
		return nil, 0, fmt.Errorf("%w: %d bytes is shorter than the header", ErrBadIndex, len(data))
	}
	if string(data[:8]) != indexMagic {
		return nil, 0, fmt.Errorf("%w: bad magic %q", ErrBadIndex, data[:8])
	}
	le := binary.LittleEndian
	nLines, nSegs, nSrc, nNames := le.Uint64(data[8:]), le.Uint64(data[16:]), le.Uint64(data[24:]), le.Uint64(data[32:])
	nFB, flags, nBytes := le.Uint64(data[40:]), le.Uint64(data[48:]), le.Uint64(data[56:])
	nChunks := le.Uint64(data[72:])
	if flags&^(flagIgnore|flagFacebook) != 0 {
		return nil, 0, fmt.Errorf("%w: unknown flags %#x", ErrBadIndex, flags)
	}
	if data[64] != segBlockLog || le.Uint64(data[64:])>>8 != 0 {
		return nil, 0, fmt.Errorf("%w: blocks of 2^%d segments, want 2^%d", ErrBadIndex, data[64], segBlockLog)
	}
	if nLines == 0 || nLines > math.MaxInt32 || nSegs > math.MaxInt32 || nSrc > math.MaxInt32 || nNames > math.MaxInt32 || nFB > math.MaxInt32 || nChunks > math.MaxInt32 {
		return nil, 0, fmt.Errorf("%w: absurd counts (lines %d, segments %d, sources %d, names %d, functions %d, chunks %d)", ErrBadIndex, nLines, nSegs, nSrc, nNames, nFB, nChunks)
	}
	if flags&flagFacebook == 0 && nFB != 0 {
		return nil, 0, fmt.Errorf("%w: function starts without x_facebook_sources", ErrBadIndex)
	}
	nStr := 3 + 2*nSrc + nNames + nFB
	r := &indexReader{data: data, off: indexHeader}
	var copied int64
	section := func(count uint64, elem int) ([]byte, error) {
		b, err := r.take(count, elem)
		if err == nil {
			err = r.align()
		}
		return b, err
	}

	lineB, err := section(nLines, 4)
	if err != nil {
		return nil, 0, err
	}
	descB, err := section((nSegs+segBlock-1)/segBlock, blockDescLen)
	if err != nil {
		return nil, 0, err
	}
	// The records' length follows from the descriptors.
	segs, recLen, err := decodeSegBlocks(int(nSegs), descB)
	if err != nil {
		return nil, 0, err
	}
	if segs.data, err = section(uint64(recLen), 1); err != nil {
		return nil, 0, err
	}
	offB, err := section(nStr+1, 4)
	if err != nil {
		return nil, 0, err
	}
	hasContB, err := r.take(nSrc, 1)
	if err != nil {
		return nil, 0, err
	}
	var ignoredB []byte
	if flags&flagIgnore != 0 {
		if ignoredB, err = r.take(nSrc, 1); err != nil {
			return nil, 0, err
		}
	}
	if err := r.align(); err != nil {
		return nil, 0, err
	}
	var chunkB [4][]byte
	for k, n := range []uint64{nSrc + 1, nChunks, nChunks, nChunks} {
		if chunkB[k], err = section(n, 4); err != nil {
			return nil, 0, err
		}
	}
	var fbCountB, fbFuncB []byte
	if flags&flagFacebook != 0 {
		if fbCountB, err = section(nSrc, 4); err != nil {
			return nil, 0, err
		}
		if fbFuncB, err = r.take(nFB, 8); err != nil {
			return nil, 0, err
		}
	}
	strB, err := r.take(nBytes, 1)
	if err != nil {
		return nil, 0, err
	}
	if r.off != len(data) {
		return nil, 0, fmt.Errorf("%w: %d bytes of trailing data", ErrBadIndex, len(data)-r.off)
	}

	lineStart, c1 := int32s(lineB)
	if c1 {
		copied += int64(len(lineB))
	}
	// The line table is what every lookup indexes the other arrays with:
	// it must start at 0, never decrease and end at the segment count.
	if lineStart[0] != 0 || int64(lineStart[len(lineStart)-1]) != int64(nSegs) {
		return nil, 0, fmt.Errorf("%w: line table spans [%d,%d], want [0,%d]", ErrBadIndex, lineStart[0], lineStart[len(lineStart)-1], nSegs)
	}
	for i := 1; i < len(lineStart); i++ {
		if lineStart[i] < lineStart[i-1] {
			return nil, 0, fmt.Errorf("%w: line table decreases at line %d", ErrBadIndex, i)
		}
	}
	copied += int64(len(segs.blocks)) * int64(unsafe.Sizeof(segBlockInfo{}))
	if err := segs.check(lineStart, int32(nSrc), int32(nNames)); err != nil {
		return nil, 0, err
	}

	offs := make([]uint32, nStr+1)
	for i := range offs {
		offs[i] = le.Uint32(offB[4*i:])
	}
	if offs[0] != 0 || uint64(offs[nStr]) != nBytes {
		return nil, 0, fmt.Errorf("%w: string offsets span [%d,%d], want [0,%d]", ErrBadIndex, offs[0], offs[nStr], nBytes)
	}
	for i := 1; i < len(offs); i++ {
		if offs[i] < offs[i-1] {
			return nil, 0, fmt.Errorf("%w: string offsets decrease at %d", ErrBadIndex, i)
		}
	}
	// One copy for all strings but the contents (see IndexCodec): they
	// outlive the mapping (see above).
	contStart, contEnd := offs[3+nSrc], offs[3+2*nSrc]
	arena := string(strB[:contStart]) + string(strB[contEnd:])
	var contents string
	if viewContents {
		if n := int(contEnd - contStart); n > 0 {
			contents = unsafe.String(&strB[contStart], n)
		}
	} else {
		contents = string(strB[contStart:contEnd])
	}
	next := uint64(0)
	str := func() string {
		a, b := offs[next], offs[next+1]
		next++
		// Offsets never decrease, so a string is wholly before, inside or
		// after the contents.
		switch {
		case b <= contStart:
			return arena[a:b]
		case a >= contEnd:
			d := contEnd - contStart
			return arena[a-d : b-d]
		default:
			return contents[a-contStart : b-contStart]
		}
	}

	m := &Map{
		lineStart: lineStart,
		segs:      segs,
	}
	m.file, m.sourceRoot, m.debugID = str(), str(), str()
	m.sources = make([]string, nSrc)
	for i := range m.sources {
		m.sources[i] = str()
	}
	m.contents = make([]string, nSrc)
	m.hasCont = make([]bool, nSrc)
	for i := range m.contents {
		m.contents[i] = str()
		m.hasCont[i] = hasContB[i] != 0
	}
	chunks := &contentChunks{start: uint32s(chunkB[0]), firstLine: uint32s(chunkB[1]), textLen: uint32s(chunkB[2]), size: uint32s(chunkB[3])}
	if err := chunks.check(m.contents, m.hasCont); err != nil {
		return nil, 0, err
	}
	m.chunks = chunks
	m.names = make([]string, nNames)
	for i := range m.names {
		m.names[i] = str()
	}
	if ignoredB != nil {
		m.ignored = make([]bool, nSrc)
		for i, b := range ignoredB {
			m.ignored[i] = b != 0
		}
	}
	if fbCountB != nil {
		m.fbSources = make([]FacebookSource, nSrc)
		fbFuncs := make([]FunctionStart, nFB)
		var used uint64
		for i := range m.fbSources {
			n := uint64(le.Uint32(fbCountB[4*i:]))
			if n > nFB-used {
				return nil, 0, fmt.Errorf("%w: function starts of source %d overrun the table", ErrBadIndex, i)
			}
			if n > 0 {
				fns := fbFuncs[used : used+n : used+n]
				for j := range fns {
					k := 8 * (used + uint64(j))
					fns[j] = FunctionStart{Line: int(int32(le.Uint32(fbFuncB[k:]))), Col: int(int32(le.Uint32(fbFuncB[k+4:]))), Name: str()}
				}
				m.fbSources[i].Functions = fns
			}
			used += n
		}
		if used != nFB {
			return nil, 0, fmt.Errorf("%w: %d function starts listed, %d stored", ErrBadIndex, used, nFB)
		}
	}
	m.blockStart, m.blocks = buildBlocks(m.lineStart, &m.segs)

	const strHeader = int64(unsafe.Sizeof(""))
	m.size = int64(unsafe.Sizeof(*m)) + int64(len(arena)) + copied +
		strHeader*int64(len(m.sources)+len(m.contents)+len(m.names)) +
		int64(len(m.hasCont)+len(m.ignored)) +
		4*int64(cap(m.blockStart)+cap(m.blocks)) + facebookSize(m.fbSources) +
		4*int64(len(chunks.start)+len(chunks.firstLine)+len(chunks.textLen)+len(chunks.size)+len(chunks.off))
	if !viewContents {
		m.size += int64(len(contents))
	}
	return m, m.size, nil
}
