package symbolizer

import "debug/macho"

// machoSymbols returns the defined function-section symbols of f, each
// sized like llvm's computeSymbolSizes does for Mach-O (whose nlist records
// carry no size): up to the next symbol of the same section, the last one
// up to the end of its section, so an address past the end of __text is
// not credited to the last function.
func machoSymbols(f *macho.File) []rawSymbol {
	if f.Symtab == nil {
		return nil
	}
	var syms []sectionSymbol
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
		syms = append(syms, sectionSymbol{rawSymbol{name: name, addr: s.Value}, int(s.Sect)})
	}
	return sizeInSections(syms, func(sect int) uint64 {
		sec := f.Sections[sect-1]
		return sec.Addr + sec.Size
	})
}
