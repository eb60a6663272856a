// Package breakpad reads Breakpad text symbol files (.sym, as written by
// dump_syms) into a sorted, ready-to-query index that implements
// debugfiles.Module: FUNC records with their line records and INLINE trees,
// and PUBLIC symbols as the fallback for addresses no FUNC covers. STACK
// (unwind) records are skipped.
//
// Record reference: https://chromium.googlesource.com/breakpad/breakpad/+/HEAD/docs/symbol_files.md
package breakpad

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/ianlancetaylor/demangle"

	"github.com/stacklens/stacklens/debugfiles"
)

// maxLine bounds one record; C++ names can be long, but not this long.
const maxLine = 1 << 20

// maxInlineDepth bounds INLINE nesting (a corrupt file could claim any).
const maxInlineDepth = 1024

type lineRecord struct {
	addr, size uint64
	line       int
	file       int
}

type inlineRecord struct {
	depth    int
	callLine int
	callFile int
	origin   int
	ranges   [][2]uint64 // [start, end)
}

type function struct {
	addr, size uint64
	name       string
	lines      []lineRecord // sorted by addr
	inlines    []inlineRecord
}

type public struct {
	addr uint64
	name string
}

// Module is a parsed Breakpad symbol file. Safe for concurrent Lookups.
type Module struct {
	meta    debugfiles.FileMeta
	files   map[int]string
	origins map[int]string
	funcs   []function // sorted by addr
	publics []public   // sorted by addr
	bytes   int64      // rough retained size, for cache accounting
}

var _ debugfiles.Module = (*Module)(nil)

// Meta returns the identity from the MODULE and INFO CODE_ID records.
func (m *Module) Meta() debugfiles.FileMeta { return m.meta }

// LoadAddress is 0: Breakpad addresses are already relative to the image base.
func (m *Module) LoadAddress() uint64 { return 0 }

// RetainedBytes estimates the memory the parsed module holds.
func (m *Module) RetainedBytes() int64 { return m.bytes }

// Parse reads a whole .sym file. Errors wrap debugfiles.ErrMalformed.
func Parse(r io.Reader) (*Module, error) {
	p := parser{m: &Module{files: map[int]string{}, origins: map[int]string{}}, cur: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		p.lineNo++
		if err := p.record(bytes.TrimRight(sc.Bytes(), "\r")); err != nil {
			return nil, fmt.Errorf("%w: breakpad line %d: %v", debugfiles.ErrMalformed, p.lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: breakpad line %d: %v", debugfiles.ErrMalformed, p.lineNo+1, err)
	}
	if p.lineNo == 0 || !p.sawModule {
		return nil, fmt.Errorf("%w: breakpad: no MODULE record", debugfiles.ErrMalformed)
	}
	p.finish()
	return p.m, nil
}

type parser struct {
	m         *Module
	lineNo    int
	sawModule bool
	cur       int // index of the FUNC whose line and INLINE records follow; -1 if none
}

func (p *parser) record(line []byte) error {
	if len(line) == 0 {
		return nil
	}
	p.m.bytes += int64(len(line))
	s := string(line)
	if p.lineNo == 1 {
		if !strings.HasPrefix(s, "MODULE ") {
			return errors.New("first record is not MODULE")
		}
		_, arch, id, name, err := debugfiles.ParseBreakpadModuleLine(s)
		if err != nil {
			return err
		}
		p.m.meta = debugfiles.FileMeta{Kind: debugfiles.KindBreakpad, Arch: arch, DebugID: id, ObjectName: name, Features: []string{}}
		p.sawModule = true
		return nil
	}
	kw, rest, _ := strings.Cut(s, " ")
	switch kw {
	case "FILE":
		num, name, err := numAndName(rest)
		if err != nil {
			return fmt.Errorf("FILE: %v", err)
		}
		p.m.files[num] = name
	case "INLINE_ORIGIN":
		num, name, err := numAndName(rest)
		if err != nil {
			return fmt.Errorf("INLINE_ORIGIN: %v", err)
		}
		p.m.origins[num] = name
	case "FUNC":
		return p.funcRecord(rest)
	case "PUBLIC":
		p.cur = -1
		f := fieldsAfterM(rest, 3)
		if f == nil {
			return errors.New("PUBLIC: too few fields")
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return fmt.Errorf("PUBLIC address: %v", err)
		}
		p.m.publics = append(p.m.publics, public{addr: addr, name: f[2]})
		p.feature(debugfiles.FeatureSymtab)
	case "INLINE":
		return p.inlineRecord(rest)
	case "INFO":
		p.cur = -1
		if code, ok := strings.CutPrefix(rest, "CODE_ID "); ok {
			if f := strings.Fields(code); len(f) > 0 {
				p.m.meta.CodeID = debugfiles.NormalizeCodeID(f[0])
			}
		}
	case "STACK":
		p.cur = -1
		p.feature(debugfiles.FeatureUnwind)
	case "MODULE":
		return errors.New("second MODULE record")
	default:
		if isHex(kw) {
			return p.lineRecord(s)
		}
		// Unknown record types are skipped: newer dump_syms versions add some.
		p.cur = -1
	}
	return nil
}

func (p *parser) feature(f string) {
	for _, x := range p.m.meta.Features {
		if x == f {
			return
		}
	}
	p.m.meta.Features = append(p.m.meta.Features, f)
}

func (p *parser) funcRecord(rest string) error {
	f := fieldsAfterM(rest, 4)
	if f == nil {
		return errors.New("FUNC: too few fields")
	}
	addr, err1 := strconv.ParseUint(f[0], 16, 64)
	size, err2 := strconv.ParseUint(f[1], 16, 64)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("FUNC: %v", err)
	}
	p.m.funcs = append(p.m.funcs, function{addr: addr, size: size, name: f[3]})
	p.cur = len(p.m.funcs) - 1
	p.feature(debugfiles.FeatureDebug)
	return nil
}

func (p *parser) lineRecord(s string) error {
	if p.cur < 0 {
		return errors.New("line record outside a FUNC")
	}
	f := strings.Fields(s)
	if len(f) != 4 {
		return errors.New("line record needs 4 fields")
	}
	addr, err1 := strconv.ParseUint(f[0], 16, 64)
	size, err2 := strconv.ParseUint(f[1], 16, 64)
	line, err3 := strconv.ParseInt(f[2], 10, 32)
	file, err4 := strconv.ParseInt(f[3], 10, 32)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("line record: %v", err)
	}
	fn := &p.m.funcs[p.cur]
	fn.lines = append(fn.lines, lineRecord{addr: addr, size: size, line: int(line), file: int(file)})
	return nil
}

// inlineRecord: INLINE <depth> <call line> <call file> <origin> (<addr> <size>)+
func (p *parser) inlineRecord(rest string) error {
	if p.cur < 0 {
		return errors.New("INLINE outside a FUNC")
	}
	f := strings.Fields(rest)
	if len(f) < 6 || (len(f)-4)%2 != 0 {
		return errors.New("INLINE: bad field count")
	}
	var n [4]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i], 10, 32)
		if err != nil {
			return fmt.Errorf("INLINE: %v", err)
		}
		n[i] = v
	}
	if n[0] < 0 || n[0] > maxInlineDepth {
		return fmt.Errorf("INLINE: nesting level %d", n[0])
	}
	in := inlineRecord{depth: int(n[0]), callLine: int(n[1]), callFile: int(n[2]), origin: int(n[3])}
	for i := 4; i < len(f); i += 2 {
		a, err1 := strconv.ParseUint(f[i], 16, 64)
		sz, err2 := strconv.ParseUint(f[i+1], 16, 64)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("INLINE range: %v", err)
		}
		in.ranges = append(in.ranges, [2]uint64{a, a + sz})
	}
	fn := &p.m.funcs[p.cur]
	fn.inlines = append(fn.inlines, in)
	return nil
}

func (p *parser) finish() {
	m := p.m
	sort.SliceStable(m.funcs, func(i, j int) bool { return m.funcs[i].addr < m.funcs[j].addr })
	for i := range m.funcs {
		ls := m.funcs[i].lines
		sort.SliceStable(ls, func(a, b int) bool { return ls[a].addr < ls[b].addr })
		in := m.funcs[i].inlines
		sort.SliceStable(in, func(a, b int) bool { return in[a].depth < in[b].depth })
	}
	sort.SliceStable(m.publics, func(i, j int) bool { return m.publics[i].addr < m.publics[j].addr })
	m.bytes += int64(len(m.funcs))*64 + int64(len(m.publics))*32
}

// Lookup returns the FUNC covering addr and its inline chain, outermost
// first; without a FUNC, the nearest PUBLIC at or below addr (no file/line).
func (m *Module) Lookup(addr uint64) ([]debugfiles.Location, error) {
	i := sort.Search(len(m.funcs), func(i int) bool { return m.funcs[i].addr > addr }) - 1
	if i >= 0 && addr-m.funcs[i].addr < m.funcs[i].size {
		return m.lookupFunc(&m.funcs[i], addr), nil
	}
	j := sort.Search(len(m.publics), func(j int) bool { return m.publics[j].addr > addr }) - 1
	if j < 0 {
		return nil, debugfiles.ErrNoSymbol
	}
	// A PUBLIC covers up to the next symbol; a FUNC between it and addr ends it.
	if i >= 0 && m.funcs[i].addr > m.publics[j].addr {
		return nil, debugfiles.ErrNoSymbol
	}
	pub := m.publics[j]
	return []debugfiles.Location{named(pub.name, pub.addr)}, nil
}

func (m *Module) lookupFunc(f *function, addr uint64) []debugfiles.Location {
	// The inline levels covering addr, one per depth, outermost first.
	var chain []*inlineRecord
	for k := range f.inlines {
		in := &f.inlines[k]
		if in.depth != len(chain) || !covers(in.ranges, addr) {
			continue
		}
		chain = append(chain, in)
	}
	locs := make([]debugfiles.Location, 0, 1+len(chain))
	locs = append(locs, named(f.name, f.addr))
	for _, in := range chain {
		l := named(m.origins[in.origin], f.addr)
		l.Inlined = true
		locs = append(locs, l)
	}
	// Each outer level's position is the call site of the level inside it;
	// the innermost level's comes from the line table.
	for k, in := range chain {
		locs[k].File = m.files[in.callFile]
		locs[k].Line = in.callLine
	}
	innermost := &locs[len(locs)-1]
	li := sort.Search(len(f.lines), func(k int) bool { return f.lines[k].addr > addr }) - 1
	if li >= 0 && addr-f.lines[li].addr < max(f.lines[li].size, 1) {
		innermost.File = m.files[f.lines[li].file]
		innermost.Line = f.lines[li].line
	}
	return locs
}

func covers(ranges [][2]uint64, addr uint64) bool {
	for _, r := range ranges {
		if addr >= r[0] && addr < r[1] {
			return true
		}
	}
	return false
}

// named builds a location from a symbol name as the file spells it:
// dump_syms usually writes demangled names, but may leave mangled ones.
func named(name string, addr uint64) debugfiles.Location {
	l := debugfiles.Location{Function: name, Symbol: name, SymbolAddr: addr}
	mangled := name
	if strings.HasPrefix(name, "__Z") { // Mach-O adds an underscore
		mangled = name[1:]
	}
	if strings.HasPrefix(mangled, "_Z") || strings.HasPrefix(mangled, "_R") {
		if d, err := demangle.ToString(mangled); err == nil {
			l.Function = d
		}
	}
	return l
}

// numAndName splits "<decimal> <name with spaces>".
func numAndName(rest string) (int, string, error) {
	numS, name, ok := strings.Cut(rest, " ")
	if !ok {
		return 0, "", errors.New("missing name")
	}
	n, err := strconv.ParseInt(numS, 10, 32)
	if err != nil {
		return 0, "", err
	}
	return int(n), name, nil
}

// fieldsAfterM splits a FUNC/PUBLIC body after its optional "m" flag into
// n fields, the last of which (the name) may contain spaces; nil if short.
func fieldsAfterM(rest string, n int) []string {
	rest = strings.TrimPrefix(rest, "m ")
	f := strings.SplitN(rest, " ", n)
	if len(f) < n {
		return nil
	}
	return f
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
