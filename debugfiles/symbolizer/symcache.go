package symbolizer

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/stacklens/stacklens/debugfiles"
)

// A symcache is a built module's index written out flat, so that a restart
// or another replica maps it instead of parsing the object again. It is the
// payload of a cache frame (format "symcache"), which carries the version,
// the source blob's sha256 and the checksum.
//
// Layout (every integer little-endian; every section starts at a multiple
// of 8 from the payload start, zero padded):
//
//	off  len  field
//	  0    8  magic "SYMCACHE"
//	  8    4  layout version (= SymcacheVersion)
//	 12    4  flags: bit 0 = the module has a DWARF index; with it:
//	            bit 1 = rowAddrs are u32 offsets (else u64 addresses),
//	            bit 2 = segAddrs are u32 offsets (else u64 addresses),
//	            bit 3 = rows are packed u32 (else 8-byte records),
//	            bits 8-12 = lineBits of packed rows (0 unless bit 3);
//	          bit 4 = the module has a Go 1.20+ pclntab (sections 12-14)
//	 16    8  load address
//	 24  240  section table: 15 × (offset u64, length u64) into the payload
//
// Sections, in order:
//
//	 0 meta      debugfiles.FileMeta as JSON
//	 1 strings   the bytes of every name and file path, concatenated
//	 2 nameOffs  u64 × (names+1): name i is strings[nameOffs[i]:nameOffs[i+1]];
//	             name 0 is "" (the "no name" id)
//	 3 fileOffs  u64 × (files+1), the same for file paths
//	 4 symbols   {addr u64, end u64, name u32, pad u32}, sorted by addr: the
//	             symbol-table fallback
//	 5 rowAddrs  per line row, sorted: u32 address - rowTops[0] when
//	             flag bit 1 (the first is then 0), else u64 address
//	 6 rowTops   u64: address of row 0, row 64, row 128, … (the search's top
//	             level; rowTops[0] is the base of u32 offsets)
//	 7 rows      per row, when flag bit 3: u32 end<<31 | file<<lineBits |
//	             line (end: end of sequence; line < 2^lineBits, file +
//	             lineBits bits < 31 bits); else {file u32 (bit 31: end of
//	             sequence), line u32}
//	 8 segAddrs  per function segment, sorted, as rowAddrs (flag bit 2)
//	 9 segTops   u64: address of segment 0, 64, …, as rowTops
//	10 segNodes  i32 per segment: innermost function record, -1 none
//	11 nodes     {parent i32, name u32, symbol u32, callFile u32 (file+1,
//	             0 unknown), callLine u32, pad u32, entry u64}: subprograms
//	             (parent -1) and inlined calls (parent < own index)
//	12 goPcln    flag bit 4: the .gopclntab, byte for byte (its own byte
//	             order); the table is read in place, as Open reads it
//	13 goFunc    flag bit 4: the bytes from moduledata.gofunc on, when they
//	             are not a tail of goPcln (Go 1.20, 1.21); else empty
//	14 goInfo    flag bit 4: 24 bytes: runtime.text u64; gofunc u64 (its
//	             offset in goPcln, or ^0: goFunc holds it, and empty means
//	             none); panicIDs 3 × i16 (gopanic, sigpanic, panicwrap, -1
//	             unknown); wrapperID u8; hasWrapperID u8
//
// Addresses are u32 offsets and rows packed u32s whenever they fit, which
// they do for all but enormous programs, halving the three largest
// sections; the 8-byte forms are kept for the others. Either way the
// fixed-size records are exactly the in-memory layout of the index (which
// Open builds in the same compact form) on a little-endian 64-bit host,
// so DecodeSymcache points the index's slices into the payload (an mmap'd
// file) instead of copying it; only the string headers and the demangling
// cache are allocated. Elsewhere it copies.
const (
	// SymcacheFormat and SymcacheVersion name the derived format; bump the
	// version whenever the layout or the meaning of a field changes, which
	// makes every older file ignored (and rebuilt) instead of misread, and
	// also whenever Open's answers change (how names or file paths are
	// spelled, which functions are indexed): a symcache holds the answers
	// of the code that built it, on every replica, until it is evicted.
	SymcacheFormat  = "symcache"
	SymcacheVersion = 4

	symcacheMagic    = "SYMCACHE"
	symcacheSections = 15
	symcacheHeader   = 24 + symcacheSections*16
	flagDWARF        = 1
	flagRowAddrs32   = 1 << 1
	flagSegAddrs32   = 1 << 2
	flagRowsPacked   = 1 << 3
	flagGoPcln       = 1 << 4
	flagLineBitsPos  = 8
	flagLineBitsMask = 31 << flagLineBitsPos
	flagsDWARFLayout = flagRowAddrs32 | flagSegAddrs32 | flagRowsPacked | flagLineBitsMask
	flagsKnown       = flagDWARF | flagsDWARFLayout | flagGoPcln
	goInfoSize       = 24
	// goFuncSeparate in goInfo's gofunc field: the goFunc section holds it.
	goFuncSeparate = ^uint64(0)
)

const (
	secMeta = iota
	secStrings
	secNameOffs
	secFileOffs
	secSymbols
	secRowAddrs
	secRowTops
	secRows
	secSegAddrs
	secSegTops
	secSegNodes
	secNodes
	secGoPcln
	secGoFunc
	secGoInfo
)

// ErrNotEncodable is returned by EncodeSymcache for a module it cannot
// write: one answered from a pre-1.20 Go .gopclntab through debug/gosym
// (no DWARF; it is rebuilt from the object instead) or one not opened by
// this package.
var ErrNotEncodable = errors.New("symcache: module cannot be encoded")

// EncodeSymcache writes mod, as returned by Open, as a symcache payload.
func EncodeSymcache(w io.Writer, mod debugfiles.Module) error {
	var m *module
	switch v := mod.(type) {
	case *module:
		m = v
	case *Symcache:
		m = v.m
	default:
		return fmt.Errorf("%w: %T", ErrNotEncodable, mod)
	}
	var pcln *pclnTab
	if m.gotab != nil {
		if pcln = m.gotab.pcln; pcln == nil {
			return fmt.Errorf("%w: answered from a pre-1.20 .gopclntab", ErrNotEncodable)
		}
	}
	meta, err := json.Marshal(m.meta)
	if err != nil {
		return err
	}
	var x dwarfIndex
	flags := uint32(0)
	var goPcln, goFunc []byte
	var goInfo [goInfoSize]byte
	if pcln != nil {
		flags |= flagGoPcln
		goPcln = pcln.raw
		gofuncAt := goFuncSeparate
		if n := len(pcln.gofunc); n > 0 && bytes.HasSuffix(goPcln, pcln.gofunc) {
			gofuncAt = uint64(len(goPcln) - n)
		} else {
			goFunc = pcln.gofunc
		}
		binary.LittleEndian.PutUint64(goInfo[0:], pcln.text)
		binary.LittleEndian.PutUint64(goInfo[8:], gofuncAt)
		for i, id := range pcln.panicIDs {
			binary.LittleEndian.PutUint16(goInfo[16+2*i:], uint16(id))
		}
		goInfo[22] = pcln.wrapperID
		if pcln.hasWrapperID {
			goInfo[23] = 1
		}
	}
	if m.dwarf != nil {
		x = *m.dwarf
		flags |= flagDWARF
		if !x.rowIdx.wide {
			flags |= flagRowAddrs32
		}
		if !x.segIdx.wide {
			flags |= flagSegAddrs32
		}
		if !x.rowTab.isWide {
			flags |= flagRowsPacked | x.rowTab.lineBits<<flagLineBitsPos
		}
	}
	names := m.names.rawNames
	if len(names) == 0 {
		names = []string{""}
	}
	strLen := 0
	for _, s := range names {
		strLen += len(s)
	}
	for _, s := range x.files {
		strLen += len(s)
	}
	lengths := [symcacheSections]int{
		secMeta:     len(meta),
		secStrings:  strLen,
		secNameOffs: 8 * (len(names) + 1),
		secFileOffs: 8 * (len(x.files) + 1),
		secSymbols:  24 * len(m.symbols.syms),
		secRowAddrs: 4*len(x.rowIdx.addrs32) + 8*len(x.rowIdx.addrs64),
		secRowTops:  8 * len(x.rowIdx.tops),
		secRows:     4*len(x.rowTab.packed) + 8*len(x.rowTab.wide),
		secSegAddrs: 4*len(x.segIdx.addrs32) + 8*len(x.segIdx.addrs64),
		secSegTops:  8 * len(x.segIdx.tops),
		secSegNodes: 4 * len(x.segNodes),
		secNodes:    32 * len(x.nodes),
		secGoPcln:   len(goPcln),
		secGoFunc:   len(goFunc),
		secGoInfo:   len(goInfo),
	}
	if pcln == nil {
		lengths[secGoInfo] = 0
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	e := &leWriter{w: bw}
	e.bytes([]byte(symcacheMagic))
	e.u32(SymcacheVersion)
	e.u32(flags)
	e.u64(m.loadAddr)
	var offs [symcacheSections]int
	off := symcacheHeader
	for i, n := range lengths {
		offs[i] = off
		e.u64(uint64(off))
		e.u64(uint64(n))
		off = align8(off + n)
	}

	pos := uint64(0)
	offsets := func(list []string) {
		e.u64(pos)
		for _, s := range list {
			pos += uint64(len(s))
			e.u64(pos)
		}
	}
	for sec := range symcacheSections {
		switch sec {
		case secMeta:
			e.bytes(meta)
		case secStrings:
			for _, s := range names {
				e.bytes([]byte(s))
			}
			for _, s := range x.files {
				e.bytes([]byte(s))
			}
		case secNameOffs:
			offsets(names)
		case secFileOffs:
			offsets(x.files)
		case secSymbols:
			for _, s := range m.symbols.syms {
				e.u64(s.addr)
				e.u64(s.end)
				e.u32(uint32(s.name))
				e.u32(0)
			}
		case secRowAddrs:
			e.u32s(x.rowIdx.addrs32)
			e.u64s(x.rowIdx.addrs64)
		case secRowTops:
			e.u64s(x.rowIdx.tops)
		case secRows:
			e.u32s(x.rowTab.packed)
			for _, r := range x.rowTab.wide {
				e.u32(r.file)
				e.u32(r.line)
			}
		case secSegAddrs:
			e.u32s(x.segIdx.addrs32)
			e.u64s(x.segIdx.addrs64)
		case secSegTops:
			e.u64s(x.segIdx.tops)
		case secSegNodes:
			for _, n := range x.segNodes {
				e.u32(uint32(n))
			}
		case secNodes:
			for _, n := range x.nodes {
				e.u32(uint32(n.parent))
				e.u32(uint32(n.name))
				e.u32(uint32(n.symbol))
				e.u32(n.callFile)
				e.u32(n.callLine)
				e.u32(0)
				e.u64(n.entry)
			}
		case secGoPcln:
			e.bytes(goPcln)
		case secGoFunc:
			e.bytes(goFunc)
		case secGoInfo:
			e.bytes(goInfo[:lengths[secGoInfo]])
		}
		if e.err == nil && e.n != offs[sec]+lengths[sec] {
			return fmt.Errorf("symcache: section %d wrote %d bytes, want %d", sec, e.n-offs[sec], lengths[sec])
		}
		e.pad()
	}
	if e.err != nil {
		return e.err
	}
	return bw.Flush()
}

func align8(n int) int { return (n + 7) &^ 7 }

// leWriter writes little-endian integers and remembers the first error.
type leWriter struct {
	w   *bufio.Writer
	n   int
	err error
	buf [8]byte
}

func (e *leWriter) bytes(b []byte) {
	if e.err != nil {
		return
	}
	_, e.err = e.w.Write(b)
	e.n += len(b)
}

func (e *leWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:4], v)
	e.bytes(e.buf[:4])
}

func (e *leWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.bytes(e.buf[:])
}

func (e *leWriter) u32s(vs []uint32) {
	for _, v := range vs {
		e.u32(v)
	}
}

func (e *leWriter) u64s(vs []uint64) {
	for _, v := range vs {
		e.u64(v)
	}
}

func (e *leWriter) pad() {
	var zero [8]byte
	e.bytes(zero[:align8(e.n)-e.n])
}

// Symcache is a module decoded from a symcache payload. It answers Lookup
// exactly as the module it was encoded from. When decoded in place it
// references the payload, which must then stay valid (mapped) for as long
// as the Symcache is reachable; what Lookup returns never references it.
// Safe for concurrent use.
type Symcache struct {
	m *module
	// [lo, hi) is the payload's address range when the index points into
	// it: strings found there are copied before they leave Lookup.
	lo, hi   uintptr
	retained int64
}

var _ debugfiles.Module = (*Symcache)(nil)

// Meta returns the identity the module was opened with.
func (c *Symcache) Meta() debugfiles.FileMeta { return c.m.meta }

// LoadAddress implements debugfiles.Module.
func (c *Symcache) LoadAddress() uint64 { return c.m.loadAddr }

// RetainedBytes is the heap the decoded module holds besides the payload
// (which it counts too when it had to copy it).
func (c *Symcache) RetainedBytes() int64 { return c.retained }

// Lookup implements debugfiles.Module.
func (c *Symcache) Lookup(addr uint64) ([]debugfiles.Location, error) {
	locs, err := c.m.Lookup(addr)
	if c.hi != 0 {
		for i := range locs {
			l := &locs[i]
			l.Function, l.Symbol, l.File = c.own(l.Function), c.own(l.Symbol), c.own(l.File)
		}
	}
	return locs, err
}

// own copies s to the heap if it lies in the payload, which may be
// unmapped once this Symcache is unreachable while the caller still holds
// the string.
func (c *Symcache) own(s string) string {
	if s == "" {
		return s
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	if p >= c.lo && p < c.hi {
		return strings.Clone(s)
	}
	return s
}

// IsSymcache reports whether mod was decoded from a symcache (for tests
// and stats).
func IsSymcache(mod debugfiles.Module) bool {
	_, ok := mod.(*Symcache)
	return ok
}

// HeapBytes estimates the heap a module returned by Open or DecodeSymcache
// holds, for cache accounting; ok is false for other modules.
func HeapBytes(mod debugfiles.Module) (n int64, ok bool) {
	switch v := mod.(type) {
	case *Symcache:
		return v.retained, true
	case *module:
		if v.gotab != nil {
			return 0, false
		}
		n = 512 + int64(len(v.symbols.syms))*24 + int64(len(v.names.rawNames))*(16+8)
		for _, s := range v.names.rawNames {
			n += int64(len(s))
		}
		if x := v.dwarf; x != nil {
			n += x.rowIdx.bytes() + x.segIdx.bytes() + int64(len(x.rowTab.packed))*4 + int64(len(x.rowTab.wide))*8 +
				int64(len(x.segNodes))*4 + int64(len(x.nodes))*32 + int64(len(x.files))*16
			for _, s := range x.files {
				n += int64(len(s))
			}
		}
		return n, true
	}
	return 0, false
}

// DecodeSymcache reads a payload written by EncodeSymcache. It checks every
// count, offset and index against the payload, so a corrupt one gives an
// error wrapping debugfiles.ErrMalformed, never a panic or a read outside
// data. data is not modified; see Symcache for its lifetime.
func DecodeSymcache(data []byte) (*Symcache, error) {
	return decodeSymcache(data, !canView(data))
}

// canView reports whether the index can point into data: a little-endian
// host whose index structs have the on-disk layout, and data aligned for
// them.
func canView(data []byte) bool {
	one := uint16(1)
	littleEndian := *(*byte)(unsafe.Pointer(&one)) == 1
	var n fnNode
	var s symbol
	var r rowData
	layout := unsafe.Sizeof(n) == 32 && unsafe.Offsetof(n.parent) == 0 && unsafe.Offsetof(n.name) == 4 &&
		unsafe.Offsetof(n.symbol) == 8 && unsafe.Offsetof(n.callFile) == 12 && unsafe.Offsetof(n.callLine) == 16 &&
		unsafe.Offsetof(n.entry) == 24 &&
		unsafe.Sizeof(s) == 24 && unsafe.Offsetof(s.addr) == 0 && unsafe.Offsetof(s.end) == 8 && unsafe.Offsetof(s.name) == 16 &&
		unsafe.Sizeof(r) == 8 && unsafe.Offsetof(r.file) == 0 && unsafe.Offsetof(r.line) == 4
	return littleEndian && layout && len(data) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(data)))%8 == 0
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: symcache: %s", debugfiles.ErrMalformed, fmt.Sprintf(format, args...))
}

// decodeSymcache decodes data, pointing into it unless copyOut (then into
// an aligned heap copy).
func decodeSymcache(data []byte, copyOut bool) (*Symcache, error) {
	if len(data) < symcacheHeader || string(data[:8]) != symcacheMagic {
		return nil, corrupt("bad magic or header shorter than %d bytes", symcacheHeader)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != SymcacheVersion {
		return nil, corrupt("layout version %d, want %d", v, SymcacheVersion)
	}
	flags := binary.LittleEndian.Uint32(data[12:])
	if flags&^flagsKnown != 0 || flags&flagDWARF == 0 && flags&flagsDWARFLayout != 0 || flags&flagRowsPacked == 0 && flags&flagLineBitsMask != 0 {
		return nil, corrupt("unknown or inconsistent flags %#x", flags)
	}
	lineBits := flags & flagLineBitsMask >> flagLineBitsPos
	c := &Symcache{}
	var retained int64 = 256
	if copyOut {
		// A []uint64 backing store is 8-byte aligned.
		buf := make([]uint64, (len(data)+7)/8)
		cp := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(data))
		copy(cp, data)
		data = cp
		retained += int64(len(cp))
	} else {
		c.lo = uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		c.hi = c.lo + uintptr(len(data))
	}
	var secs [symcacheSections][]byte
	for i := range secs {
		off := binary.LittleEndian.Uint64(data[24+16*i:])
		n := binary.LittleEndian.Uint64(data[32+16*i:])
		if off%8 != 0 || off < symcacheHeader || off > uint64(len(data)) || n > uint64(len(data))-off {
			return nil, corrupt("section %d [%d, +%d) outside the %d-byte payload", i, off, n, len(data))
		}
		secs[i] = data[off : off+n]
	}
	sizes := [symcacheSections]int{secNameOffs: 8, secFileOffs: 8, secSymbols: 24, secRowAddrs: 8, secRowTops: 8, secRows: 8, secSegAddrs: 8, secSegTops: 8, secSegNodes: 4, secNodes: 32}
	if flags&flagRowAddrs32 != 0 {
		sizes[secRowAddrs] = 4
	}
	if flags&flagSegAddrs32 != 0 {
		sizes[secSegAddrs] = 4
	}
	if flags&flagRowsPacked != 0 {
		sizes[secRows] = 4
	}
	for i, size := range sizes {
		if size > 0 && len(secs[i])%size != 0 {
			return nil, corrupt("section %d length %d is not a multiple of %d", i, len(secs[i]), size)
		}
	}

	m := &module{loadAddr: binary.LittleEndian.Uint64(data[16:])}
	if err := json.Unmarshal(secs[secMeta], &m.meta); err != nil {
		return nil, corrupt("meta: %v", err)
	}
	strs := secs[secStrings]
	names, err := stringList(strs, view[uint64](secs[secNameOffs]), "name")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 || names[0] != "" {
		return nil, corrupt("name 0 must be empty")
	}
	files, err := stringList(strs, view[uint64](secs[secFileOffs]), "file")
	if err != nil {
		return nil, err
	}
	retained += int64(len(names))*(16+8) + int64(len(files))*16

	syms := view[symbol](secs[secSymbols])
	for i := range syms {
		s := &syms[i]
		if int(s.name) >= len(names) || s.end < s.addr || i > 0 && syms[i-1].addr >= s.addr {
			return nil, corrupt("symbol %d out of order or with a bad name", i)
		}
	}
	m.symbols = symbolIndex{syms: syms}
	m.names.rawNames = names
	m.names.freeze()

	if flags&flagDWARF != 0 {
		x := &dwarfIndex{files: files}
		if x.rowIdx, err = checkedAddrIndex(secs[secRowAddrs], flags&flagRowAddrs32 == 0, view[uint64](secs[secRowTops]), "row"); err != nil {
			return nil, err
		}
		if flags&flagRowsPacked != 0 {
			x.rowTab = rowTable{packed: view[uint32](secs[secRows]), lineBits: lineBits}
		} else {
			x.rowTab = rowTable{wide: view[rowData](secs[secRows]), isWide: true}
		}
		if x.rowIdx.len() != x.rowTab.len() {
			return nil, corrupt("%d row addresses for %d rows", x.rowIdx.len(), x.rowTab.len())
		}
		for i := range x.rowTab.len() {
			if r := x.rowTab.at(i); r.file&rowEnd == 0 && int(r.file) >= len(files) {
				return nil, corrupt("row %d names file %d of %d", i, r.file, len(files))
			}
		}
		nodes := view[fnNode](secs[secNodes])
		for i := range nodes {
			n := &nodes[i]
			if n.parent < -1 || int(n.parent) >= i || int(n.name) >= len(names) || int(n.symbol) >= len(names) || int(n.callFile) > len(files) {
				return nil, corrupt("function record %d has a bad reference", i)
			}
		}
		x.nodes = nodes
		segNodes := view[int32](secs[secSegNodes])
		if x.segIdx, err = checkedAddrIndex(secs[secSegAddrs], flags&flagSegAddrs32 == 0, view[uint64](secs[secSegTops]), "segment"); err != nil {
			return nil, err
		}
		if x.segIdx.len() != len(segNodes) {
			return nil, corrupt("%d segment addresses for %d segments", x.segIdx.len(), len(segNodes))
		}
		for i, n := range segNodes {
			if n < -1 || int(n) >= len(nodes) {
				return nil, corrupt("segment %d names function record %d of %d", i, n, len(nodes))
			}
		}
		x.segNodes = segNodes
		m.dwarf = x
	} else if len(secs[secRowAddrs])+len(secs[secRows])+len(secs[secNodes])+len(secs[secSegAddrs])+len(secs[secSegNodes])+len(secs[secFileOffs]) > 8 {
		return nil, corrupt("DWARF sections in a module without DWARF")
	}
	if flags&flagGoPcln != 0 {
		tab, err := decodeGoPcln(secs[secGoPcln], secs[secGoFunc], secs[secGoInfo])
		if err != nil {
			return nil, err
		}
		m.gotab = &goTable{pcln: tab}
		retained += 256
	} else if len(secs[secGoPcln])+len(secs[secGoFunc])+len(secs[secGoInfo]) > 0 {
		return nil, corrupt("pclntab sections in a module without a pclntab")
	}
	c.m, c.retained = m, retained
	return c, nil
}

// view reinterprets b (8-byte aligned, a whole number of T) as []T.
func view[T any](b []byte) []T {
	var zero T
	n := len(b) / int(unsafe.Sizeof(zero))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// stringList cuts strs at offs (n+1 non-decreasing offsets); the strings
// point into strs.
func stringList(strs []byte, offs []uint64, what string) ([]string, error) {
	if len(offs) == 0 {
		return nil, corrupt("%s offsets missing", what)
	}
	out := make([]string, len(offs)-1)
	for i := range out {
		lo, hi := offs[i], offs[i+1]
		if lo > hi || hi > uint64(len(strs)) {
			return nil, corrupt("%s %d at [%d, %d) outside the %d-byte string table", what, i, lo, hi, len(strs))
		}
		if hi > lo {
			out[i] = unsafe.String(&strs[lo], int(hi-lo))
		}
	}
	return out, nil
}

// checkedAddrIndex accepts the addresses in sec (u64s when wide, else
// u32 offsets from tops[0]) only if sorted, and tops only if it is exactly
// the sample newAddrIndex would take: find relies on both. Offsets must
// start at 0 and must not carry the last address past 2^64.
func checkedAddrIndex(sec []byte, wide bool, tops []uint64, what string) (addrIndex, error) {
	var x addrIndex
	if wide {
		x = addrIndex{addrs64: view[uint64](sec), tops: tops, wide: true}
	} else {
		x = addrIndex{addrs32: view[uint32](sec), tops: tops}
	}
	n := x.len()
	if len(tops) != (n+addrBlock-1)/addrBlock {
		return addrIndex{}, corrupt("%d %s index samples for %d addresses", len(tops), what, n)
	}
	if wide {
		addrs := x.addrs64
		for i := 1; i < len(addrs); i++ {
			if addrs[i] < addrs[i-1] {
				return addrIndex{}, corrupt("%s addresses out of order at %d", what, i)
			}
		}
		for i, t := range tops {
			if addrs[i*addrBlock] != t {
				return addrIndex{}, corrupt("%s index sample %d disagrees", what, i)
			}
		}
		return x, nil
	}
	addrs := x.addrs32
	if n == 0 {
		return x, nil
	}
	base := tops[0]
	if addrs[0] != 0 || base+uint64(addrs[n-1]) < base {
		return addrIndex{}, corrupt("%s address offsets do not start at 0 or overflow", what)
	}
	for i := 1; i < n; i++ {
		if addrs[i] < addrs[i-1] {
			return addrIndex{}, corrupt("%s addresses out of order at %d", what, i)
		}
	}
	for i, t := range tops {
		if base+uint64(addrs[i*addrBlock]) != t {
			return addrIndex{}, corrupt("%s index sample %d disagrees", what, i)
		}
	}
	return x, nil
}

// decodeGoPcln rebuilds the Go 1.20+ table from its three sections. The
// header is checked as Open checks it; every later read of the table is
// bounds-checked (Open accepts untrusted binaries too), so a forged table
// gives wrong or no answers, never a panic.
func decodeGoPcln(pcln, gofunc, info []byte) (*pclnTab, error) {
	if len(info) != goInfoSize {
		return nil, corrupt("pclntab info is %d bytes, want %d", len(info), goInfoSize)
	}
	tab, err := newPclnTab(pcln, binary.LittleEndian.Uint64(info[0:]))
	if err != nil {
		return nil, corrupt("%v", err)
	}
	switch at := binary.LittleEndian.Uint64(info[8:]); {
	case at == goFuncSeparate:
		if len(gofunc) > 0 {
			tab.gofunc = gofunc
		}
	case len(gofunc) > 0 || at >= uint64(len(pcln)):
		return nil, corrupt("gofunc at %d of a %d-byte pclntab, %d bytes apart", at, len(pcln), len(gofunc))
	default:
		tab.gofunc = pcln[at:]
	}
	for i := range tab.panicIDs {
		tab.panicIDs[i] = int16(binary.LittleEndian.Uint16(info[16+2*i:]))
	}
	tab.wrapperID = info[22]
	switch info[23] {
	case 0:
	case 1:
		tab.hasWrapperID = true
	default:
		return nil, corrupt("pclntab info flag %d", info[23])
	}
	return tab, nil
}
