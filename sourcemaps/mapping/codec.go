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
// reader can use the bulk of it (line offsets, columns, segments) straight
// from a memory-mapped file. Every integer is little-endian; every array
// starts at a multiple of 8 bytes from the start of the payload (which the
// cache frame places 64-byte aligned).
//
//	off  len  field
//	  0    8  magic "SMINDEX\x01"
//	  8    8  L: entries of the line table (lines + 1)
//	 16    8  S: segments
//	 24    8  N: sources
//	 32    8  M: names
//	 40    8  F: Metro function starts (x_facebook_sources), all sources
//	 48    8  flags: 1 ignore list present, 2 x_facebook_sources present
//	 56    8  B: bytes of string data
//	 64       line table       L × int32   (segment index of each line's first segment)
//	          columns          S × int32   (generated column of each segment)
//	          segments         S × 4 int32 (source, original line, original column, name)
//	          string offsets   (T+1) × uint32, T = 3 + 2N + M + F; strings in order:
//	                           file, sourceRoot, debugId, sources, sourcesContent,
//	                           names, function-start names
//	          has content      N bytes (0 or 1)
//	          ignored          N bytes (only with flag 1)
//	          functions/source N × uint32 (only with flag 2)
//	          function starts  F × 2 int32 (line, column) (only with flag 2)
//	          string data      B bytes
//
// The payload ends exactly after the string data. The two-level block index
// of long lines is not stored: it is rebuilt on decoding (1/16th of the
// columns).
const (
	indexMagic   = "SMINDEX\x01"
	indexHeader  = 64
	flagIgnore   = 1
	flagFacebook = 2
)

// IndexFormat and IndexVersion name the derived format in the cache. Bump
// IndexVersion with any change to the layout above: files of other
// versions are then ignored, never misread.
const (
	IndexFormat  = "sourcemap-index"
	IndexVersion = 1
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
		(m.fbSources != nil && len(m.fbSources) != nSrc) || len(m.cols) != len(m.segs) || len(m.lineStart) == 0 {
		return errors.New("mapping: EncodeIndex: inconsistent Map")
	}

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
		for _, s := range m.contents {
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
	for _, v := range []uint64{uint64(len(m.lineStart)), uint64(len(m.cols)), uint64(nSrc), uint64(len(m.names)), uint64(nFB), flags, total} {
		u64(v)
	}
	int32Array := func(v []int32) {
		if littleEndian() {
			// The in-memory layout is the file's: write it as it is.
			put(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)))
			return
		}
		for _, x := range v {
			u32(uint32(x))
		}
	}
	int32Array(m.lineStart)
	align()
	int32Array(m.cols)
	align()
	int32Array(unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(m.segs))), 4*len(m.segs)))
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
	if flags&^(flagIgnore|flagFacebook) != 0 {
		return nil, 0, fmt.Errorf("%w: unknown flags %#x", ErrBadIndex, flags)
	}
	if nLines == 0 || nLines > math.MaxInt32 || nSegs > math.MaxInt32 || nSrc > math.MaxInt32 || nNames > math.MaxInt32 || nFB > math.MaxInt32 {
		return nil, 0, fmt.Errorf("%w: absurd counts (lines %d, segments %d, sources %d, names %d, functions %d)", ErrBadIndex, nLines, nSegs, nSrc, nNames, nFB)
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
	colB, err := section(nSegs, 4)
	if err != nil {
		return nil, 0, err
	}
	segB, err := section(nSegs, 16)
	if err != nil {
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
	cols, c2 := int32s(colB)
	segWords, c3 := int32s(segB)
	if c1 || c2 || c3 {
		copied += int64(len(lineB) + len(colB) + len(segB))
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
	var segs []segment
	if nSegs > 0 {
		segs = unsafe.Slice((*segment)(unsafe.Pointer(unsafe.SliceData(segWords))), nSegs)
	} else {
		segs = []segment{}
	}
	// What Parse guarantees, checked again so that a decoded Map keeps
	// Parse's contract (sorted lines, indices inside the tables) even for
	// a forged file that passed the frame checksum. The file was just read
	// in full for that checksum, so this pass costs no I/O.
	for l := 0; l+1 < len(lineStart); l++ {
		prev := int32(0)
		for i := lineStart[l]; i < lineStart[l+1]; i++ {
			c, sg := cols[i], segs[i]
			if c < prev || sg.source < -1 || int64(sg.source) >= int64(nSrc) || sg.name < -1 || int64(sg.name) >= int64(nNames) ||
				sg.srcLine < 0 || sg.srcCol < 0 || (sg.source < 0 && sg.name >= 0) {
				return nil, 0, fmt.Errorf("%w: segment %d of line %d is out of order or indexes outside the tables", ErrBadIndex, i-lineStart[l], l)
			}
			prev = c
		}
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
		cols:      cols,
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
	b := &builder{lineStart: m.lineStart, cols: m.cols}
	b.buildBlocks()
	m.blockStart, m.blocks = b.blockStart, b.blocks

	const strHeader = int64(unsafe.Sizeof(""))
	m.size = int64(unsafe.Sizeof(*m)) + int64(len(arena)) + copied +
		strHeader*int64(len(m.sources)+len(m.contents)+len(m.names)) +
		int64(len(m.hasCont)+len(m.ignored)) +
		4*int64(cap(m.blockStart)+cap(m.blocks)) + facebookSize(m.fbSources)
	if !viewContents {
		m.size += int64(len(contents))
	}
	return m, m.size, nil
}
