package symbolizer

import (
	"debug/macho"
	"sort"
)

// machoSymbols returns the defined function-section symbols of f, each
// sized like llvm's computeSymbolSizes does for Mach-O (whose nlist records
// carry no size): up to the next symbol of the same section, the last one
// up to the end of its section, so an address past the end of __text is
// not credited to the last function.
func machoSymbols(f *macho.File) []rawSymbol {
	if f.Symtab == nil {
		return nil
	}
	type sym struct {
		rawSymbol
		sect uint8
	}
	var syms []sym
	for _, s := range f.Symtab.Syms {
		// N_STAB entries are debugger records, N_SECT marks a defined
		// symbol in a section.
		if s.Type&0xe0 != 0 || s.Type&0x0e != 0x0e || s.Sect == 0 || s.Name == "" || int(s.Sect) > len(f.Sections) {
			continue
		}
		name := s.Name
		if len(name) > 1 && name[0] == '_' {
			name = name[1:]
		}
		syms = append(syms, sym{rawSymbol{name: name, addr: s.Value}, s.Sect})
	}
	sort.SliceStable(syms, func(i, j int) bool {
		if syms[i].sect != syms[j].sect {
			return syms[i].sect < syms[j].sect
		}
		return syms[i].addr < syms[j].addr
	})
	out := make([]rawSymbol, 0, len(syms))
	for i, s := range syms {
		sec := f.Sections[s.sect-1]
		end := sec.Addr + sec.Size
		for j := i + 1; j < len(syms) && syms[j].sect == s.sect; j++ {
			if syms[j].addr > s.addr {
				end = syms[j].addr
				break
			}
		}
		if end > s.addr {
			s.size = end - s.addr
		}
		out = append(out, s.rawSymbol)
	}
	return out
}
