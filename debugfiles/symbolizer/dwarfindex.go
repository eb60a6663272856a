package symbolizer

import (
	"cmp"
	"debug/dwarf"
	"errors"
	"io"
	"math/bits"
	"slices"
	"strings"

	"github.com/stacklens/stacklens/debugfiles"
)

// lineRow is one line-table row. Rows of all sequences of all compile units
// live in one array sorted by address; an end row marks where a sequence
// stops covering code.
type lineRow struct {
	addr uint64
	file uint32 // index into dwarfIndex.files
	line uint32
	end  bool
}

// fnNode is one subprogram (a root) or inlined subroutine.
type fnNode struct {
	parent   int32 // -1 for a root
	name     nameID
	symbol   nameID
	callFile uint32 // where this inline was called, in the parent; files index+1, 0 unknown
	callLine uint32
	entry    uint64 // the root function's start (SymbolAddr for every level)
}

// segment says which node is the innermost one covering [start, next start).
type segment struct {
	start uint64
	node  int32 // -1: no function here
}

// rowData is a lineRow without its address, which lives in the search index.
type rowData struct {
	file uint32 // files index; rowEnd set for an end-of-sequence row
	line uint32
}

const rowEnd = 1 << 31

// rowTable holds the rowData of every line row. When a module's largest
// file index and largest line fit together in 31 bits, which they do for
// all but enormous programs, each row is packed in a uint32,
//
//	bit 31 rowEnd | file << lineBits | line
//
// with lineBits = bits.Len32(max line), half the size of the 8-byte
// rowData layout that the others keep. at hides which one it is.
type rowTable struct {
	packed   []uint32  // when !wide
	wide     []rowData // when wide
	lineBits uint32    // packed: bits of the line field, 0..31
	isWide   bool
}

// packRows returns rows as a rowTable, packed when they fit.
func packRows(rows []rowData) rowTable {
	var maxFile, maxLine uint32
	for _, r := range rows {
		maxFile, maxLine = max(maxFile, r.file&^rowEnd), max(maxLine, r.line)
	}
	lineBits := uint32(bits.Len32(maxLine))
	if uint32(bits.Len32(maxFile))+lineBits > 31 {
		return rowTable{wide: rows, isWide: true}
	}
	t := rowTable{packed: make([]uint32, len(rows)), lineBits: lineBits}
	for i, r := range rows {
		t.packed[i] = r.file&rowEnd | (r.file&^rowEnd)<<lineBits | r.line
	}
	return t
}

func (t *rowTable) len() int {
	if t.isWide {
		return len(t.wide)
	}
	return len(t.packed)
}

// at returns row i in the 8-byte layout.
func (t *rowTable) at(i int) rowData {
	if t.isWide {
		return t.wide[i]
	}
	p := t.packed[i]
	return rowData{file: p&rowEnd | (p&^rowEnd)>>t.lineBits, line: p & (1<<t.lineBits - 1)}
}

// isEnd reports whether row i ends a sequence.
func (t *rowTable) isEnd(i int) bool {
	if t.isWide {
		return t.wide[i].file&rowEnd != 0
	}
	return t.packed[i]&rowEnd != 0
}

type dwarfIndex struct {
	rows     []lineRow // build time only
	segs     []segment // build time only
	rowIdx   addrIndex
	rowTab   rowTable
	segIdx   addrIndex
	segNodes []int32
	files    []string
	nodes    []fnNode
}

func (x *dwarfIndex) empty() bool { return x.rowTab.len() == 0 && len(x.nodes) == 0 }

// compact moves the sorted rows and segments into the lookup layout.
func (x *dwarfIndex) compact() {
	data := make([]rowData, len(x.rows))
	for i, r := range x.rows {
		data[i] = rowData{file: r.file, line: r.line}
		if r.end {
			data[i].file |= rowEnd
		}
	}
	x.rowTab = packRows(data)
	x.rowIdx = newAddrIndex(x.rows, func(r *lineRow) uint64 { return r.addr })
	x.segNodes = make([]int32, len(x.segs))
	for i, s := range x.segs {
		x.segNodes[i] = s.node
	}
	x.segIdx = newAddrIndex(x.segs, func(s *segment) uint64 { return s.start })
	x.rows, x.segs = nil, nil
}

// dieNames holds what a subprogram DIE says about its name; chains of
// abstract_origin and specification are followed once all units are read,
// because references can cross units.
type dieNames struct {
	name    string
	linkage string
	scope   string // enclosing namespaces/classes, "a::b"
	origin  dwarf.Offset
	spec    dwarf.Offset
}

type pendingNode struct {
	die dwarf.Offset
}

type rangeEntry struct {
	lo, hi uint64
	node   int32
	depth  int32
}

type scopeFrame struct {
	scope string
	fn    int32 // innermost node enclosing the children, -1 none
	depth int32
}

type indexBuilder struct {
	maxEntries uint64
	d          *dwarf.Data
	text       [][2]uint64
	names      *nameTable
	x          *dwarfIndex
	fileIDs    map[string]uint32
	dies       map[dwarf.Offset]*dieNames
	pending    []pendingNode // parallel to x.nodes
	ranges     []rangeEntry
	lines      *lineSections // raw line sections for llvm-style file names; nil: debug/dwarf's
	// pendingCalls: inline nodes whose DW_AT_call_file is resolved once
	// the line worker has read their unit's file table.
	pendingCalls []pendingCall
	seqSpans     [][2]int // [start, end) of each sequence's rows in x.rows
}

// buildDWARFIndex indexes d. infoSize is the (uncompressed) size of
// .debug_info: every entry, null ones included, takes at least a byte, so it
// bounds the walk; debug/dwarf hands out endless null entries on some
// corrupt units.
func buildDWARFIndex(d *dwarf.Data, infoSize uint64, text [][2]uint64, names *nameTable, syms *symbolIndex, lines *lineSections) (*dwarfIndex, error) {
	b := &indexBuilder{
		lines:      lines,
		maxEntries: infoSize + 1,
		d:          d,
		text:       text,
		names:      names,
		x:          &dwarfIndex{},
		fileIDs:    make(map[string]uint32),
		dies:       make(map[dwarf.Offset]*dieNames),
	}
	lw := b.startLineWorker()
	walkErr := b.walk(lw)
	// The worker is always joined, also after a walk error, so it never
	// outlives the call.
	if err := lw.finish(b); walkErr == nil {
		walkErr = err
	}
	if walkErr != nil {
		return nil, walkErr
	}
	b.resolveNames()
	b.nameRootsFromSymbols(syms)
	b.sortRows()
	b.buildSegments()
	b.x.compact()
	return b.x, nil
}

func (b *indexBuilder) inText(lo uint64) bool {
	if len(b.text) == 0 {
		return true
	}
	for _, t := range b.text {
		if lo >= t[0] && lo < t[1] {
			return true
		}
	}
	return false
}

func (b *indexBuilder) fileID(name string) uint32 {
	if id, ok := b.fileIDs[name]; ok {
		return id
	}
	id := uint32(len(b.x.files))
	b.x.files = append(b.x.files, name)
	b.fileIDs[name] = id
	return id
}

// walk reads every DIE once, in order, keeping a stack of scopes.
func (b *indexBuilder) walk(lw *lineWorker) error {
	r := b.d.Reader()
	var stack []scopeFrame
	unit := -1
	// goUnit: the unit's DW_AT_language is Go, whose names are printed
	// the way the Go runtime prints them.
	goUnit := false
	top := func() scopeFrame {
		if len(stack) == 0 {
			return scopeFrame{fn: -1}
		}
		return stack[len(stack)-1]
	}
	for n := uint64(0); ; n++ {
		if n > b.maxEntries {
			return errors.New("more entries than .debug_info has bytes")
		}
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			return nil
		}
		if e.Tag == 0 {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := top()
		next := scopeFrame{scope: cur.scope, fn: cur.fn, depth: cur.depth}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			stack = stack[:0]
			next = scopeFrame{fn: -1}
			lang, _ := e.Val(dwarf.AttrLanguage).(int64)
			goUnit = lang == dwLangGo
			unit++
			lw.jobs <- lineJob{cu: e, goUnit: goUnit}
		case dwarf.TagNamespace:
			name, _ := e.Val(dwarf.AttrName).(string)
			if name == "" {
				name = "(anonymous namespace)"
			}
			next.scope = joinScope(cur.scope, name)
		case dwarf.TagClassType, dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagInterfaceType:
			if name, _ := e.Val(dwarf.AttrName).(string); name != "" {
				next.scope = joinScope(cur.scope, name)
			}
		case dwarf.TagEnumerationType, dwarf.TagSubroutineType, dwarf.TagArrayType:
			// Their children never hold functions or scopes.
			r.SkipChildren()
			continue
		case dwarf.TagSubprogram:
			info := &dieNames{scope: cur.scope}
			info.name, _ = e.Val(dwarf.AttrName).(string)
			if goUnit {
				info.name = goPrintName(info.name)
			}
			info.linkage, _ = e.Val(dwarf.AttrLinkageName).(string)
			if info.linkage == "" {
				info.linkage, _ = e.Val(attrMIPSLinkageName).(string)
			}
			info.origin, _ = e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
			info.spec, _ = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
			b.dies[e.Offset] = info
			next.fn = -1
			rs, err := b.d.Ranges(e)
			if err != nil {
				return err
			}
			if id := b.addNode(e, rs); id >= 0 {
				next.fn, next.depth = id, 0
			}
		case dwarf.TagInlinedSubroutine:
			next.fn = -1
			if cur.fn < 0 {
				break
			}
			origin, _ := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
			callFile, _ := e.Val(dwarf.AttrCallFile).(int64)
			callLine, _ := e.Val(dwarf.AttrCallLine).(int64)
			rs, err := b.d.Ranges(e)
			if err != nil {
				return err
			}
			if id := b.addInline(origin, rs, cur.fn, cur.depth+1, 0, callLine); id >= 0 {
				next.fn, next.depth = id, cur.depth+1
				b.pendingCalls = append(b.pendingCalls, pendingCall{node: id, unit: unit, file: callFile})
			}
		}
		if e.Children {
			stack = append(stack, next)
		}
	}
}

func joinScope(outer, name string) string {
	if outer == "" {
		return name
	}
	return outer + "::" + name
}

func (b *indexBuilder) validRanges(rs [][2]uint64) [][2]uint64 {
	out := rs[:0]
	for _, r := range rs {
		// Functions dropped by the linker keep their DWARF with addresses
		// relocated to 0 (or a tombstone): they must not shadow real code.
		if r[1] <= r[0] || !b.inText(r[0]) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (b *indexBuilder) addNode(e *dwarf.Entry, rs [][2]uint64) int32 {
	rs = b.validRanges(rs)
	if len(rs) == 0 {
		return -1
	}
	entry := rs[0][0]
	if lo, ok := e.Val(dwarf.AttrLowpc).(uint64); ok {
		entry = lo
	}
	id := int32(len(b.x.nodes))
	b.x.nodes = append(b.x.nodes, fnNode{parent: -1, entry: entry})
	b.pending = append(b.pending, pendingNode{die: e.Offset})
	for _, r := range rs {
		b.ranges = append(b.ranges, rangeEntry{lo: r[0], hi: r[1], node: id})
	}
	return id
}

func (b *indexBuilder) addInline(origin dwarf.Offset, rs [][2]uint64, parent int32, depth int32, callFile uint32, callLine int64) int32 {
	rs = b.validRanges(rs)
	if len(rs) == 0 {
		return -1
	}
	id := int32(len(b.x.nodes))
	line := uint32(0)
	if callLine > 0 && callLine <= 1<<31 {
		line = uint32(callLine)
	}
	b.x.nodes = append(b.x.nodes, fnNode{parent: parent, entry: b.x.nodes[parent].entry, callFile: callFile, callLine: line})
	b.pending = append(b.pending, pendingNode{die: origin})
	for _, r := range rs {
		b.ranges = append(b.ranges, rangeEntry{lo: r[0], hi: r[1], node: id, depth: depth})
	}
	return id
}

// readLines appends the unit's line table rows and returns its file names
// (indexed by DW_AT_call_file values). Outside Go units, names are spelled
// as llvm-symbolizer spells them (see lineSections); Go units keep
// debug/dwarf's cleaned paths, which are what the Go runtime prints
// ("<autogenerated>", not "././<autogenerated>").
func (b *indexBuilder) readLines(cu *dwarf.Entry, goUnit bool) ([]string, error) {
	lr, err := b.d.LineReader(cu)
	if err != nil {
		return nil, err
	}
	if lr == nil {
		return nil, nil
	}
	files := lr.Files()
	names := make([]string, len(files))
	for i, f := range files {
		if f != nil {
			names[i] = f.Name
		}
	}
	if !goUnit && b.lines != nil {
		if off, ok := cu.Val(dwarf.AttrStmtList).(int64); ok && off >= 0 {
			compDir, _ := cu.Val(dwarf.AttrCompDir).(string)
			if llvm, err := b.lines.llvmFileNames(uint64(off), compDir); err == nil && len(llvm) == len(files) {
				for i, f := range files {
					if f != nil {
						names[i] = llvm[i]
					}
				}
			}
		}
	}
	ids := make(map[*dwarf.LineFile]uint32)
	index := make(map[*dwarf.LineFile]int, len(files))
	for i, f := range files {
		if f != nil {
			index[f] = i
		}
	}
	var seq []lineRow
	var le dwarf.LineEntry
	for {
		err := lr.Next(&le)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var file uint32
		if le.File != nil {
			id, ok := ids[le.File]
			if !ok {
				name := le.File.Name
				if i, ok := index[le.File]; ok {
					name = names[i]
				}
				id = b.fileID(name)
				ids[le.File] = id
			}
			file = id
		}
		line := uint32(0)
		if le.Line > 0 {
			line = uint32(le.Line)
		}
		seq = append(seq, lineRow{addr: le.Address, file: file, line: line, end: le.EndSequence})
		if le.EndSequence {
			b.addSequence(seq)
			seq = seq[:0]
		}
	}
	return names, nil
}

// addSequence keeps, like llvm-symbolizer, only the last row of several at
// one address, and drops sequences of code the linker discarded.
func (b *indexBuilder) addSequence(seq []lineRow) {
	if len(seq) < 2 || !b.inText(seq[0].addr) {
		return
	}
	endAddr := seq[len(seq)-1].addr
	start := len(b.x.rows)
	defer func() {
		if len(b.x.rows) > start {
			b.seqSpans = append(b.seqSpans, [2]int{start, len(b.x.rows)})
		}
	}()
	for i, r := range seq {
		if r.end {
			b.x.rows = append(b.x.rows, r)
			break
		}
		if r.addr >= endAddr || r.addr < seq[0].addr {
			continue
		}
		if i+1 < len(seq) && seq[i+1].addr == r.addr && !seq[i+1].end {
			continue
		}
		b.x.rows = append(b.x.rows, r)
	}
}

// concatSequences orders the rows by sequence; ok is false when the
// sequences overlap, and the rows need a full sort.
func (b *indexBuilder) concatSequences(cmpRows func(a, b lineRow) int) ([]lineRow, bool) {
	rows := b.x.rows
	spans := b.seqSpans
	n := 0
	for _, sp := range spans {
		n += sp[1] - sp[0]
	}
	if n != len(rows) {
		return nil, false
	}
	slices.SortStableFunc(spans, func(x, y [2]int) int { return cmpRows(rows[x[0]], rows[y[0]]) })
	out := make([]lineRow, 0, len(rows))
	for _, sp := range spans {
		out = append(out, rows[sp[0]:sp[1]]...)
	}
	if !slices.IsSortedFunc(out, cmpRows) {
		return nil, false
	}
	return out, true
}

func (b *indexBuilder) sortRows() {
	// At one address an end row sorts before a start row of the next
	// sequence, so "last row at or below addr" finds the live one.
	cmpRows := func(ri, rj lineRow) int {
		if ri.addr != rj.addr {
			return cmp.Compare(ri.addr, rj.addr)
		}
		switch {
		case ri.end && !rj.end:
			return -1
		case !ri.end && rj.end:
			return 1
		}
		return 0
	}
	// Units usually come in address order: then the rows already are.
	// Otherwise the sequences, each sorted and usually disjoint, are put
	// in order whole, which is much cheaper than sorting a million rows.
	if !slices.IsSortedFunc(b.x.rows, cmpRows) {
		if merged, ok := b.concatSequences(cmpRows); ok {
			b.x.rows = merged
		} else {
			slices.SortStableFunc(b.x.rows, cmpRows)
		}
	}
	b.x.rows = slices.Clip(b.x.rows)
	b.seqSpans = nil
}

// resolveNames follows abstract_origin / specification chains: the linkage
// name wins wherever it is; else the first DW_AT_name, qualified by the
// namespaces and classes around the declaration.
func (b *indexBuilder) resolveNames() {
	type resolved struct{ name, symbol nameID }
	memo := make(map[dwarf.Offset]resolved)
	for i, p := range b.pending {
		res, ok := memo[p.die]
		if !ok {
			var linkage, name, scope string
			off := p.die
			for hops := 0; off != 0 && hops < 16; hops++ {
				info := b.dies[off]
				if info == nil {
					break
				}
				if linkage == "" {
					linkage = info.linkage
				}
				if name == "" {
					name = info.name
				}
				if info.scope != "" {
					scope = info.scope
				}
				if info.origin != 0 && info.origin != off {
					off = info.origin
				} else if info.spec != off {
					off = info.spec
				} else {
					break
				}
			}
			if linkage != "" {
				res.symbol = b.names.intern(linkage)
				res.name = res.symbol
			} else if name != "" {
				res.name = b.names.intern(joinScope(scope, name))
			}
			memo[p.die] = res
		}
		b.x.nodes[i].name, b.x.nodes[i].symbol = res.name, res.symbol
	}
	b.pending = nil
	b.dies = nil
}

// nameRootsFromSymbols gives functions without a DW_AT_linkage_name (C
// functions, C++ functions gcc emits without one, e.g. static ones) the ELF
// symbol that starts at their entry as Symbol; a mangled one also names the
// function, with its parameter list, as llvm-symbolizer does. Clone suffixes
// (".constprop.0", ".isra.0", ".cold") are left out of the name: the source
// function is the same, and grouping should not depend on compiler cloning.
func (b *indexBuilder) nameRootsFromSymbols(syms *symbolIndex) {
	for i := range b.x.nodes {
		n := &b.x.nodes[i]
		if n.parent >= 0 || n.symbol != 0 {
			continue
		}
		s, ok := syms.find(n.entry)
		if !ok || s.addr != n.entry {
			continue
		}
		n.symbol = s.name
		raw := b.names.raw(s.name)
		if isMangled(raw) {
			if dot := strings.IndexByte(raw, '.'); dot > 0 {
				raw = raw[:dot]
			}
			n.name = b.names.intern(raw)
		}
	}
}

// buildSegments flattens the nested ranges into sorted, non-overlapping
// segments naming the innermost node, so a lookup is one binary search.
func (b *indexBuilder) buildSegments() {
	rs := b.ranges
	slices.SortFunc(rs, func(a, b rangeEntry) int {
		if a.lo != b.lo {
			return cmp.Compare(a.lo, b.lo)
		}
		if a.hi != b.hi {
			return cmp.Compare(b.hi, a.hi)
		}
		return cmp.Compare(a.depth, b.depth)
	})
	var segs []segment
	set := func(at uint64, node int32) {
		if n := len(segs); n > 0 {
			if segs[n-1].start == at {
				segs[n-1].node = node
				if n > 1 && segs[n-2].node == node {
					segs = segs[:n-1]
				}
				return
			}
			if segs[n-1].node == node {
				return
			}
		} else if node < 0 {
			return
		}
		segs = append(segs, segment{start: at, node: node})
	}
	var stack []rangeEntry
	pop := func() {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		next := int32(-1)
		if len(stack) > 0 {
			next = stack[len(stack)-1].node
		}
		set(t.hi, next)
	}
	for _, e := range rs {
		for len(stack) > 0 && stack[len(stack)-1].hi <= e.lo {
			pop()
		}
		if len(stack) > 0 && e.hi > stack[len(stack)-1].hi {
			// Improperly nested (bad producer data): clip to the parent.
			e.hi = stack[len(stack)-1].hi
		}
		if e.hi <= e.lo {
			continue
		}
		stack = append(stack, e)
		set(e.lo, e.node)
	}
	for len(stack) > 0 {
		pop()
	}
	b.x.segs = slices.Clip(segs)
	b.ranges = nil
}

func (x *dwarfIndex) findRow(addr uint64) (rowData, bool) {
	i := x.rowIdx.find(addr)
	if i < 0 || x.rowTab.isEnd(i) {
		return rowData{}, false
	}
	return x.rowTab.at(i), true
}

func (x *dwarfIndex) findNode(addr uint64) int32 {
	i := x.segIdx.find(addr)
	if i < 0 {
		return -1
	}
	return x.segNodes[i]
}

func (x *dwarfIndex) file(ref uint32) string {
	if ref == 0 || int(ref) > len(x.files) {
		return ""
	}
	return x.files[ref-1]
}

// lookup answers from DWARF; ok is false when DWARF knows nothing of addr.
func (x *dwarfIndex) lookup(addr uint64, names *nameTable, syms *symbolIndex) ([]debugfiles.Location, bool) {
	row, hasLine := x.findRow(addr)
	node := x.findNode(addr)
	if node < 0 {
		if !hasLine {
			return nil, false
		}
		// Line info without a subprogram (assembly, -gmlt): name it from
		// the symbol table, as llvm-symbolizer does.
		loc := debugfiles.Location{File: x.files[row.file], Line: int(row.line)}
		if s, ok := syms.find(addr); ok {
			loc.Function, loc.Symbol, loc.SymbolAddr = names.demangled(s.name), names.raw(s.name), s.addr
		}
		return []debugfiles.Location{loc}, true
	}
	depth := 0
	for n := node; n >= 0; n = x.nodes[n].parent {
		depth++
		if depth > len(x.nodes) {
			return nil, false // a cycle cannot be built, but never loop
		}
	}
	locs := make([]debugfiles.Location, depth)
	file, line := "", 0
	if hasLine {
		file, line = x.files[row.file], int(row.line)
	}
	for i, n := depth-1, node; i >= 0; i, n = i-1, x.nodes[n].parent {
		nd := &x.nodes[n]
		locs[i] = debugfiles.Location{
			Function:   names.demangled(nd.name),
			Symbol:     names.raw(nd.symbol),
			SymbolAddr: nd.entry,
			File:       file,
			Line:       line,
			Inlined:    i > 0,
		}
		file, line = x.file(nd.callFile), int(nd.callLine)
	}
	return locs, true
}

// dwLangGo is DW_LANG_Go.
const dwLangGo = 0x16

// attrMIPSLinkageName is the pre-DWARF-4 vendor attribute older GCCs emit.
const attrMIPSLinkageName dwarf.Attr = 0x2007
