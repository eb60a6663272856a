// Package symbolizer maps instruction addresses in ELF, Mach-O and PE objects
// to functions, source files, lines and inline chains.
//
// Open builds, once, flat sorted indexes over the DWARF line tables and the
// subprogram / inlined-subroutine trees (or, without DWARF, over Go's
// .gopclntab or the symbol tables); Lookup is then a couple of binary searches
// with no scan of the debug data. The semantics follow llvm-symbolizer
// --inlining: the innermost level's file/line comes from the line table, every
// outer level's from the DW_AT_call_file/DW_AT_call_line of the level inside it.
package symbolizer

import (
	"bytes"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"fmt"
	"io"

	"github.com/stacklens/stacklens/debugfiles"
)

// Open parses an ELF or Mach-O (thin; the caller picks the arch slice) or PE
// object and returns a ready-to-query module. Errors wrap
// debugfiles.ErrMalformed (corrupt/truncated) or debugfiles.ErrUnsupported.
// It never panics.
func Open(r io.ReaderAt, size int64, meta debugfiles.FileMeta) (mod debugfiles.Module, err error) {
	// debug/elf, debug/macho, debug/pe and debug/dwarf still panic on some
	// corrupt inputs (index out of range deep in their decoders; found by
	// FuzzOpen). A panic while parsing is a property of the input, not a bug
	// we can act on, so it becomes a wrapped ErrMalformed; the recover never
	// returns nil, nil.
	defer func() {
		if p := recover(); p != nil {
			mod = nil
			err = fmt.Errorf("%w: parser panic: %v", debugfiles.ErrMalformed, p)
		}
	}()
	if size < 4 {
		return nil, fmt.Errorf("%w: file too small (%d bytes)", debugfiles.ErrMalformed, size)
	}
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("%w: reading magic: %v", debugfiles.ErrMalformed, err)
	}
	sr := io.NewSectionReader(r, 0, size)
	switch {
	case bytes.Equal(magic[:], []byte(elf.ELFMAG)):
		return openELF(sr, meta)
	case isMachO(magic):
		return openMachO(sr, meta)
	case magic[0] == 'M' && magic[1] == 'Z':
		return openPE(sr, meta)
	case isFatMachO(magic):
		return nil, fmt.Errorf("%w: fat Mach-O: pick one architecture slice first", debugfiles.ErrUnsupported)
	}
	return nil, fmt.Errorf("%w: not an ELF, Mach-O or PE object", debugfiles.ErrUnsupported)
}

func isMachO(m [4]byte) bool {
	le := uint32(m[0]) | uint32(m[1])<<8 | uint32(m[2])<<16 | uint32(m[3])<<24
	be := uint32(m[3]) | uint32(m[2])<<8 | uint32(m[1])<<16 | uint32(m[0])<<24
	for _, v := range []uint32{le, be} {
		if v == macho.Magic32 || v == macho.Magic64 {
			return true
		}
	}
	return false
}

func isFatMachO(m [4]byte) bool {
	be := uint32(m[3]) | uint32(m[2])<<8 | uint32(m[1])<<16 | uint32(m[0])<<24
	return be == macho.MagicFat
}

func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", debugfiles.ErrMalformed, what, err)
}

func openELF(r io.ReaderAt, meta debugfiles.FileMeta) (debugfiles.Module, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, malformed("elf", err)
	}
	m := &module{meta: meta}
	var lowest uint64 = ^uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Vaddr < lowest {
			lowest = p.Vaddr
		}
	}
	if lowest != ^uint64(0) {
		// Loaders map whole pages: the image starts at the page holding the
		// first PT_LOAD, which is what dl_iterate_phdr-based SDKs report.
		m.loadAddr = lowest &^ (pageSize - 1)
	}
	var textSections [][2]uint64
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_EXECINSTR != 0 && s.Flags&elf.SHF_ALLOC != 0 && s.Type != elf.SHT_NOBITS || (s.Flags&elf.SHF_EXECINSTR != 0 && s.Type == elf.SHT_NOBITS) {
			textSections = append(textSections, [2]uint64{s.Addr, s.Addr + s.Size})
		}
	}
	m.text = textSections

	syms := elfSymbols(f)
	m.symbols = newSymbolIndex(syms, &m.names)

	if info := debugInfoSection(f); info != nil {
		d, err := f.DWARF()
		if err != nil {
			return nil, malformed("dwarf", err)
		}
		idx, err := buildDWARFIndex(d, info.Size, textSections, &m.names, &m.symbols, elfLineSections(f))
		if err != nil {
			return nil, malformed("dwarf index", err)
		}
		m.dwarf = idx
	}
	if m.dwarf == nil || m.dwarf.empty() {
		if s := f.Section(".gopclntab"); s != nil {
			tab, err := newGoTable(f, s)
			if err != nil {
				return nil, malformed("gopclntab", err)
			}
			m.gotab = tab
		}
	}
	m.names.freeze()
	return m, nil
}

func debugInfoSection(f *elf.File) *elf.Section {
	if s := f.Section(".debug_info"); s != nil && s.Type != elf.SHT_NOBITS {
		return s
	}
	// Old-style GNU compression renames sections to .zdebug_*; Size is
	// then the compressed size, so allow for zlib's best ratio.
	if s := f.Section(".zdebug_info"); s != nil && s.Type != elf.SHT_NOBITS {
		z := *s
		z.Size *= 1032
		return &z
	}
	return nil
}

func elfSymbols(f *elf.File) []rawSymbol {
	var out []rawSymbol
	add := func(syms []elf.Symbol) {
		for _, s := range syms {
			t := elf.ST_TYPE(s.Info)
			if t != elf.STT_FUNC && t != elf.STT_GNU_IFUNC {
				continue
			}
			if s.Section == elf.SHN_UNDEF || s.Value == 0 || s.Name == "" {
				continue
			}
			out = append(out, rawSymbol{name: stripVersion(s.Name), addr: s.Value, size: s.Size})
		}
	}
	if syms, err := f.Symbols(); err == nil {
		add(syms)
	}
	if len(out) == 0 {
		if syms, err := f.DynamicSymbols(); err == nil {
			add(syms)
		}
	}
	return out
}

const pageSize = 0x1000

func openMachO(r io.ReaderAt, meta debugfiles.FileMeta) (debugfiles.Module, error) {
	f, err := macho.NewFile(r)
	if err != nil {
		return nil, malformed("mach-o", err)
	}
	m := &module{meta: meta}
	if seg := f.Segment("__TEXT"); seg != nil {
		m.loadAddr = seg.Addr
	}
	var text [][2]uint64
	for _, s := range f.Sections {
		if s.Seg == "__TEXT" && (s.Flags&0x80000000 != 0 || s.Flags&0x400 != 0) {
			text = append(text, [2]uint64{s.Addr, s.Addr + s.Size})
		}
	}
	m.text = text
	m.symbols = newSymbolIndex(machoSymbols(f), &m.names)
	if info := f.Section("__debug_info"); info != nil {
		d, err := f.DWARF()
		if err != nil {
			return nil, malformed("dwarf", err)
		}
		idx, err := buildDWARFIndex(d, info.Size, text, &m.names, &m.symbols, machoLineSections(f))
		if err != nil {
			return nil, malformed("dwarf index", err)
		}
		m.dwarf = idx
	}
	m.names.freeze()
	return m, nil
}

func openPE(r io.ReaderAt, meta debugfiles.FileMeta) (debugfiles.Module, error) {
	f, err := pe.NewFile(r)
	if err != nil {
		return nil, malformed("pe", err)
	}
	m := &module{meta: meta}
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		m.loadAddr = uint64(oh.ImageBase)
	case *pe.OptionalHeader64:
		m.loadAddr = oh.ImageBase
	}
	var text [][2]uint64
	for _, s := range f.Sections {
		if s.Characteristics&pe.IMAGE_SCN_MEM_EXECUTE != 0 {
			lo := m.loadAddr + uint64(s.VirtualAddress)
			text = append(text, [2]uint64{lo, lo + uint64(s.VirtualSize)})
		}
	}
	m.text = text
	m.symbols = newSymbolIndex(peSymbols(f, m.loadAddr), &m.names)
	if info := f.Section(".debug_info"); info != nil {
		d, err := f.DWARF()
		if err != nil {
			return nil, malformed("dwarf", err)
		}
		idx, err := buildDWARFIndex(d, uint64(max(info.VirtualSize, info.Size)), text, &m.names, &m.symbols, peLineSections(f))
		if err != nil {
			return nil, malformed("dwarf index", err)
		}
		m.dwarf = idx
	}
	m.names.freeze()
	return m, nil
}

// module is the parsed object. All fields are immutable after Open except the
// demangling cache inside names, which is safe for concurrent use.
type module struct {
	meta     debugfiles.FileMeta
	loadAddr uint64
	text     [][2]uint64
	names    nameTable
	dwarf    *dwarfIndex
	symbols  symbolIndex
	gotab    *goTable
}

func (m *module) Meta() debugfiles.FileMeta { return m.meta }
func (m *module) LoadAddress() uint64       { return m.loadAddr }

// Lookup implements debugfiles.Module.
func (m *module) Lookup(addr uint64) ([]debugfiles.Location, error) {
	if m.dwarf != nil {
		if locs, ok := m.dwarf.lookup(addr, &m.names, &m.symbols); ok {
			return locs, nil
		}
	}
	if m.gotab != nil {
		locs, err := m.gotab.lookup(addr)
		if err == nil || !errors.Is(err, debugfiles.ErrNoSymbol) {
			return locs, err
		}
	}
	if s, ok := m.symbols.find(addr); ok {
		return []debugfiles.Location{{
			Function:   m.names.demangled(s.name),
			Symbol:     m.names.raw(s.name),
			SymbolAddr: s.addr,
		}}, nil
	}
	return nil, debugfiles.ErrNoSymbol
}

// Stats describes what an opened module indexed; for tests and `inspect`.
type Stats struct {
	LineRows     int
	Functions    int // subprogram and inlined-subroutine nodes
	Symbols      int
	HasGoPCLN    bool
	HasDWARF     bool
	DistinctName int
}

// ModuleStats returns index statistics for a module returned by Open.
func ModuleStats(mod debugfiles.Module) (Stats, bool) {
	m, ok := mod.(*module)
	if !ok {
		return Stats{}, false
	}
	s := Stats{Symbols: len(m.symbols.syms), HasGoPCLN: m.gotab != nil, DistinctName: m.names.len()}
	if m.dwarf != nil {
		s.HasDWARF = true
		s.LineRows = m.dwarf.rowTab.len()
		s.Functions = len(m.dwarf.nodes)
	}
	return s, true
}
