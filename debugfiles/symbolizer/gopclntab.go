package symbolizer

import (
	"debug/elf"
	"debug/gosym"
	"fmt"

	"github.com/stacklens/stacklens/debugfiles"
)

// goTable answers for Go binaries built without DWARF (-ldflags=-w or -s -w)
// from the runtime's own .gopclntab. Go 1.20+ tables are decoded by pclnTab,
// inline tree included; older ones through debug/gosym, which knows
// functions, files and lines but not inlining, so there an address inside
// inlined code reports the outer function at the inlined line.
type goTable struct {
	pcln   *pclnTab
	legacy *gosym.Table
}

func newGoTable(f *elf.File, pcln *elf.Section) (*goTable, error) {
	data, err := pcln.Data()
	if err != nil {
		return nil, err
	}
	var textStart uint64
	if t := f.Section(".text"); t != nil {
		textStart = t.Addr
	}
	if isPcln120(data) {
		img := elfGoImage{f: f, pclnAddr: pcln.Addr, textStart: textStart}
		tab, err := img.open(data)
		if err != nil {
			return nil, err
		}
		return &goTable{pcln: tab}, nil
	}
	var symtab []byte
	if s := f.Section(".gosymtab"); s != nil {
		if symtab, err = s.Data(); err != nil {
			return nil, err
		}
	}
	tab, err := gosym.NewTable(symtab, gosym.NewLineTable(data, textStart))
	if err != nil {
		return nil, err
	}
	if len(tab.Funcs) == 0 {
		return nil, fmt.Errorf("no functions")
	}
	return &goTable{legacy: tab}, nil
}

func (g *goTable) lookup(addr uint64) (locs []debugfiles.Location, err error) {
	if g.pcln != nil {
		return g.pcln.lookup(addr)
	}
	// debug/gosym indexes into the table with offsets read from it and
	// panics on corrupt ones; that is malformed input, reported as such.
	defer func() {
		if p := recover(); p != nil {
			locs, err = nil, fmt.Errorf("%w: gopclntab: %v", debugfiles.ErrMalformed, p)
		}
	}()
	fn := g.legacy.PCToFunc(addr)
	if fn == nil || addr >= fn.End {
		return nil, debugfiles.ErrNoSymbol
	}
	file, line, _ := g.legacy.PCToLine(addr)
	return []debugfiles.Location{{
		Function:   fn.Name,
		Symbol:     fn.Name,
		SymbolAddr: fn.Entry,
		File:       file,
		Line:       line,
	}}, nil
}
