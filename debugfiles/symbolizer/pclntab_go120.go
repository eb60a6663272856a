package symbolizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/stacklens/stacklens/debugfiles"
)

// pclnTab decodes the runtime symbol table of Go 1.20 and later (header
// magic 0xfffffff1; the layout is unchanged up to Go 1.26) the way the Go
// runtime does, including the inline tree that debug/gosym does not expose:
// a PC inside inlined code yields one level per inlined call, with the same
// names, files and call-site lines runtime.CallersFrames reports.
//
// Layout (runtime/symtab.go, runtime/runtime2.go, runtime/symtabinl.go):
//   - header: magic u32, pad u8 u8, minLC u8, ptrSize u8, then ptrSize-wide
//     words nfunc, nfiles, (unused), and the offsets from the header of
//     funcnametab, cutab, filetab, pctab and pclntable;
//   - pclntable starts with functab: nfunc (entryOff, funcOff) u32 pairs and
//     a final entryOff, the end of the last function; entryOff is relative
//     to runtime.text, funcOff to pclntable;
//   - a _func record at pclntable[funcOff]: entryOff u32, nameOff i32, args,
//     deferreturn, pcsp, pcfile, pcln, npcdata u32, cuOffset u32, startLine
//     i32, funcID u8, flag u8, pad u8, nfuncdata u8, then npcdata u32
//     offsets into pctab and nfuncdata u32 offsets from moduledata.gofunc
//     (the go:func.* symbol; ^0 for none);
//   - PCDATA_InlTreeIndex (2) maps a PC to an index into the function's
//     FUNCDATA_InlTree (3): 16-byte records funcID u8, pad [3]u8, nameOff
//     i32, parentPc i32 (offset from the entry of an instruction whose
//     position is the call site), startLine i32.
type pclnTab struct {
	// raw is the whole table, header included; every slice below points
	// into it (a symcache stores it as it is).
	raw         []byte
	order       binary.ByteOrder
	quantum     uint64
	nfunc       uint32
	funcnametab []byte
	cutab       []byte
	filetab     []byte
	pctab       []byte
	pclntable   []byte
	text        uint64 // runtime.text: function entries are relative to it
	// gofunc holds the bytes from moduledata.gofunc on (to the end of its
	// section); nil when it could not be located, and then inline levels
	// are not expanded (see lookup).
	gofunc []byte
	// Function IDs the runtime treats specially when it elides inlined
	// wrapper frames; their numbering changed between Go releases, so they
	// are read from the binary's own runtime functions. hasWrapperID is
	// false when runtime.systemstack_switch (the ID before the wrapper ID
	// in every release) was not found.
	wrapperID    uint8
	hasWrapperID bool
	panicIDs     [3]int16 // gopanic, sigpanic, panicwrap; -1 unknown
}

const (
	pclnMagic120   = 0xfffffff1
	funcRecordSize = 44
	inlRecordSize  = 16
	pcdataInlIndex = 2
	funcdataInl    = 3
	// maxInlineDepth bounds the walk up the inline tree on corrupt input
	// (parent chains are finite in real binaries).
	maxInlineDepth = 1000
)

var errPcln = errors.New("corrupt pclntab")

// isPcln120 reports whether data starts with a Go 1.20+ pclntab header,
// in either byte order.
func isPcln120(data []byte) bool {
	if len(data) < 8 {
		return false
	}
	return (binary.LittleEndian.Uint32(data) == pclnMagic120 || binary.BigEndian.Uint32(data) == pclnMagic120) &&
		data[4] == 0 && data[5] == 0
}

// newPclnTab parses the header of a Go 1.20+ pclntab; text is the address
// of runtime.text.
func newPclnTab(data []byte, text uint64) (*pclnTab, error) {
	if !isPcln120(data) {
		return nil, fmt.Errorf("%w: not a Go 1.20+ pclntab", errPcln)
	}
	t := &pclnTab{raw: data, order: binary.LittleEndian, text: text, panicIDs: [3]int16{-1, -1, -1}}
	if binary.BigEndian.Uint32(data) == pclnMagic120 {
		t.order = binary.BigEndian
	}
	t.quantum = uint64(data[6])
	ptrSize := int(data[7])
	if t.quantum == 0 || (ptrSize != 4 && ptrSize != 8) {
		return nil, fmt.Errorf("%w: quantum %d, pointer size %d", errPcln, t.quantum, ptrSize)
	}
	if len(data) < 8+8*ptrSize {
		return nil, fmt.Errorf("%w: header truncated", errPcln)
	}
	word := func(i int) uint64 {
		p := data[8+i*ptrSize:]
		if ptrSize == 4 {
			return uint64(t.order.Uint32(p))
		}
		return t.order.Uint64(p)
	}
	from := func(i int) ([]byte, error) {
		off := word(i)
		if off > uint64(len(data)) {
			return nil, fmt.Errorf("%w: table offset %d beyond %d bytes", errPcln, off, len(data))
		}
		return data[off:], nil
	}
	nfunc := word(0)
	var err error
	if t.funcnametab, err = from(3); err != nil {
		return nil, err
	}
	if t.cutab, err = from(4); err != nil {
		return nil, err
	}
	if t.filetab, err = from(5); err != nil {
		return nil, err
	}
	if t.pctab, err = from(6); err != nil {
		return nil, err
	}
	if t.pclntable, err = from(7); err != nil {
		return nil, err
	}
	if nfunc == 0 || nfunc >= uint64(len(t.pclntable))/8 {
		return nil, fmt.Errorf("%w: %d functions in a %d-byte table", errPcln, nfunc, len(t.pclntable))
	}
	t.nfunc = uint32(nfunc)
	return t, nil
}

func (t *pclnTab) u32(b []byte, off uint64) (uint32, bool) {
	if off > uint64(len(b)) || uint64(len(b))-off < 4 {
		return 0, false
	}
	return t.order.Uint32(b[off:]), true
}

// functab entry i: the function's entry offset and record offset.
func (t *pclnTab) functab(i uint32) (entryOff, funcOff uint32) {
	entryOff, _ = t.u32(t.pclntable, uint64(i)*8)
	funcOff, _ = t.u32(t.pclntable, uint64(i)*8+4)
	return
}

// goFunc is a decoded _func record.
type goFunc struct {
	entry     uint64
	end       uint64
	nameOff   uint32
	pcfile    uint32
	pcln      uint32
	cuOffset  uint32
	funcID    uint8
	npcdata   uint32
	nfuncdata uint32
	rec       uint64 // offset of the record in pclntable
}

func (t *pclnTab) funcAt(i uint32) (goFunc, error) {
	entryOff, funcOff := t.functab(i)
	endOff, _ := t.functab(i + 1)
	rec := uint64(funcOff)
	if rec > uint64(len(t.pclntable)) || uint64(len(t.pclntable))-rec < funcRecordSize {
		return goFunc{}, fmt.Errorf("%w: function record %d out of range", errPcln, i)
	}
	b := t.pclntable[rec:]
	f := goFunc{
		entry:     t.text + uint64(t.order.Uint32(b[0:])),
		end:       t.text + uint64(endOff),
		nameOff:   t.order.Uint32(b[4:]),
		pcfile:    t.order.Uint32(b[20:]),
		pcln:      t.order.Uint32(b[24:]),
		npcdata:   t.order.Uint32(b[28:]),
		cuOffset:  t.order.Uint32(b[32:]),
		funcID:    b[40],
		nfuncdata: uint32(b[43]),
		rec:       rec,
	}
	if uint64(t.order.Uint32(b[0:])) != uint64(entryOff) {
		return goFunc{}, fmt.Errorf("%w: function %d: functab entry 0x%x, record 0x%x", errPcln, i, entryOff, t.order.Uint32(b[0:]))
	}
	if f.npcdata > 1<<16 {
		return goFunc{}, fmt.Errorf("%w: function %d: %d pcdata tables", errPcln, i, f.npcdata)
	}
	return f, nil
}

// find returns the function whose [entry, next entry) holds pc.
func (t *pclnTab) find(pc uint64) (goFunc, bool, error) {
	if pc < t.text {
		return goFunc{}, false, nil
	}
	off := pc - t.text
	endOff, _ := t.functab(t.nfunc)
	if off >= uint64(endOff) {
		return goFunc{}, false, nil
	}
	i := sort.Search(int(t.nfunc), func(i int) bool {
		e, _ := t.functab(uint32(i))
		return uint64(e) > off
	}) - 1
	if i < 0 {
		return goFunc{}, false, nil
	}
	f, err := t.funcAt(uint32(i))
	if err != nil {
		return goFunc{}, false, err
	}
	return f, true, nil
}

// cstring reads a NUL-terminated string at off.
func cstring(b []byte, off uint64) (string, bool) {
	if off >= uint64(len(b)) {
		return "", false
	}
	for i := off; i < uint64(len(b)); i++ {
		if b[i] == 0 {
			return string(b[off:i]), true
		}
	}
	return "", false
}

func (t *pclnTab) funcName(nameOff uint32) string {
	s, _ := cstring(t.funcnametab, uint64(nameOff))
	return s
}

// pcvalue decodes the pc-value table at off for f and returns the value at
// pc, or -1 (the runtime's "no value") when the table has none.
func (t *pclnTab) pcvalue(f *goFunc, off uint32, pc uint64) int32 {
	if off == 0 || uint64(off) >= uint64(len(t.pctab)) {
		return -1
	}
	p := t.pctab[off:]
	cur := f.entry
	val := int32(-1)
	for first := true; ; first = false {
		uv, n := uvarint32(p)
		if n <= 0 || (uv == 0 && !first) {
			return -1
		}
		p = p[n:]
		val += int32(-(uv & 1) ^ (uv >> 1))
		pcdelta, n := uvarint32(p)
		if n <= 0 {
			return -1
		}
		p = p[n:]
		cur += uint64(pcdelta) * t.quantum
		if pc < cur {
			return val
		}
	}
}

// uvarint32 reads a varint of at most 5 bytes; n <= 0 on truncated input.
func uvarint32(p []byte) (uint32, int) {
	var v uint32
	for i := 0; i < 5 && i < len(p); i++ {
		b := p[i]
		v |= uint32(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, -1
}

// fileLine is the runtime's funcline1: the file and line of pc in f.
func (t *pclnTab) fileLine(f *goFunc, pc uint64) (string, int) {
	fileno := t.pcvalue(f, f.pcfile, pc)
	line := t.pcvalue(f, f.pcln, pc)
	if fileno < 0 || line < 0 {
		return "", 0
	}
	fileOff, ok := t.u32(t.cutab, (uint64(f.cuOffset)+uint64(fileno))*4)
	if !ok || fileOff == ^uint32(0) {
		return "", 0
	}
	file, _ := cstring(t.filetab, uint64(fileOff))
	return file, int(line)
}

// pcdataStart is the pctab offset of f's pcdata table i, 0 for none.
func (t *pclnTab) pcdataStart(f *goFunc, i uint32) uint32 {
	if i >= f.npcdata {
		return 0
	}
	v, _ := t.u32(t.pclntable, f.rec+funcRecordSize+uint64(i)*4)
	return v
}

// inlTree returns f's inline tree (from gofunc), or nil.
func (t *pclnTab) inlTree(f *goFunc) []byte {
	if t.gofunc == nil || funcdataInl >= f.nfuncdata {
		return nil
	}
	off, ok := t.u32(t.pclntable, f.rec+funcRecordSize+uint64(f.npcdata)*4+funcdataInl*4)
	if !ok || off == ^uint32(0) || uint64(off) >= uint64(len(t.gofunc)) {
		return nil
	}
	return t.gofunc[off:]
}

type inlinedCall struct {
	funcID   uint8
	nameOff  uint32
	parentPc int32
}

func (t *pclnTab) inlinedCall(tree []byte, index int32) (inlinedCall, bool) {
	off := uint64(index) * inlRecordSize
	if index < 0 || off > uint64(len(tree)) || uint64(len(tree))-off < inlRecordSize {
		return inlinedCall{}, false
	}
	r := tree[off:]
	return inlinedCall{funcID: r[0], nameOff: t.order.Uint32(r[4:]), parentPc: int32(t.order.Uint32(r[8:]))}, true
}

// goLevel is one logical frame, innermost first while being collected.
type goLevel struct {
	name   string
	file   string
	line   int
	funcID uint8
	inline bool
}

// lookup resolves pc as runtime.CallersFrames would resolve the return
// address pc+1: the innermost logical function at pc with pc's file:line,
// then each caller in the inline tree at the line of its call site
// (entry+parentPc), ending with the physical function. Like the runtime's
// tracebackPCs it leaves out inlined compiler-generated wrappers unless
// they called a panic function.
func (t *pclnTab) lookup(pc uint64) ([]debugfiles.Location, error) {
	f, ok, err := t.find(pc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", debugfiles.ErrMalformed, err)
	}
	if !ok {
		return nil, debugfiles.ErrNoSymbol
	}
	physical := t.funcName(f.nameOff)
	var levels []goLevel
	inlTable := t.pcdataStart(&f, pcdataInlIndex)
	tree := t.inlTree(&f)
	switch {
	case inlTable != 0 && tree != nil:
		at := pc
		for depth := 0; ; depth++ {
			idx := t.pcvalue(&f, inlTable, at)
			file, line := t.fileLine(&f, at)
			call, ok := t.inlinedCall(tree, idx)
			if idx < 0 || !ok || depth == maxInlineDepth {
				levels = append(levels, goLevel{name: physical, file: file, line: line, funcID: f.funcID})
				break
			}
			levels = append(levels, goLevel{name: t.funcName(call.nameOff), file: file, line: line, funcID: call.funcID, inline: true})
			at = f.entry + uint64(int64(call.parentPc))
		}
	case inlTable != 0 && t.pcvalue(&f, inlTable, pc) >= 0:
		// Inlined code, but the tree is out of reach (gofunc not found in
		// a fully stripped binary): pc's file:line belongs to some inlined
		// function, so pairing it with the physical function would name a
		// wrong frame. Report the function alone.
		levels = append(levels, goLevel{name: physical, funcID: f.funcID})
	default:
		file, line := t.fileLine(&f, pc)
		levels = append(levels, goLevel{name: physical, file: file, line: line, funcID: f.funcID})
	}
	levels = t.elideWrappers(levels)
	locs := make([]debugfiles.Location, len(levels))
	for i, lv := range levels {
		// locs is outermost first.
		j := len(levels) - 1 - i
		locs[j] = debugfiles.Location{
			Function:   goPrintName(lv.name),
			Symbol:     lv.name,
			SymbolAddr: f.entry,
			File:       lv.file,
			Line:       lv.line,
			Inlined:    j > 0,
		}
	}
	return locs, nil
}

// elideWrappers drops inlined wrapper levels as runtime.tracebackPCs does
// (its decision depends on the callee: the level inside, or for the
// innermost level the physical callee, which a symbolicator does not know
// and which is an ordinary function in all but panicking stacks).
func (t *pclnTab) elideWrappers(levels []goLevel) []goLevel {
	if !t.hasWrapperID {
		return levels
	}
	out := levels[:0]
	var callee int16 = -1
	for _, lv := range levels {
		isPanic := callee >= 0 && (callee == t.panicIDs[0] || callee == t.panicIDs[1] || callee == t.panicIDs[2])
		callee = int16(lv.funcID)
		if lv.inline && lv.funcID == t.wrapperID && !isPanic {
			continue
		}
		out = append(out, lv)
	}
	return out
}

// learnFuncIDs reads the IDs of the runtime functions elideWrappers needs.
func (t *pclnTab) learnFuncIDs() {
	want := map[string]int{"runtime.gopanic": 0, "runtime.sigpanic": 1, "runtime.panicwrap": 2, "runtime.systemstack_switch": 3}
	found := 0
	for i := uint32(0); i < t.nfunc && found < len(want); i++ {
		f, err := t.funcAt(i)
		if err != nil {
			return
		}
		k, ok := want[t.funcName(f.nameOff)]
		if !ok {
			continue
		}
		found++
		if k < 3 {
			t.panicIDs[k] = int16(f.funcID)
		} else if f.funcID < 0xff {
			t.wrapperID, t.hasWrapperID = f.funcID+1, true
		}
	}
}
